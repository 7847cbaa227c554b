"""headstart causal LM <-> transformers ``GPT2LMHeadModel``.

GPT-2 is a pre-norm transformer with learned positions, LayerNorm, a GELU MLP and fused
query/key/value ``Conv1D`` layers (weights stored (in, out): the transpose of ``nn.Linear``'s).
"""
from __future__ import annotations

import torch

from ..models import TransformerConfig
from .common import ACTIVATIONS, StateReader, unsupported as differences


def unsupported(cfg: TransformerConfig) -> list[str]:
    """The settings of ``cfg`` GPT-2 cannot represent, as ``model.key=value`` strings."""
    return differences(cfg, dict(causal=True, positions="learned", norm="layernorm", qk_norm=False,
                                 norm_position="pre", embedding_norm=False, mlm_transform=False))


def hf_config(cfg: TransformerConfig, special: dict[str, int]) -> dict:
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": cfg.vocab_size, "n_positions": cfg.context_length, "n_embd": cfg.d_model,
        "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_inner": cfg.ff_width,
        "activation_function": ACTIVATIONS[cfg.activation], "layer_norm_epsilon": cfg.norm_eps or 1e-5,
        "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout, "attn_pdrop": cfg.dropout,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": special["eos"], "eos_token_id": special["eos"], "pad_token_id": special["pad"],
    }


def to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    get, d = StateReader(state), cfg.d_model
    out = {"transformer.wte.weight": get("tok_emb.weight"), "transformer.wpe.weight": get("pos_emb.weight")}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"transformer.h.{i}."
        for a, b, width in (("norm1", "ln_1", d), ("norm2", "ln_2", d)):
            out[theirs + b + ".weight"] = get(ours + a + ".weight")
            out[theirs + b + ".bias"] = get.bias(ours + a + ".bias", width)
        for a, b, width in (("attn.qkv", "attn.c_attn", 3 * d), ("attn.proj", "attn.c_proj", d),
                            ("mlp.fc", "mlp.c_fc", cfg.ff_width), ("mlp.proj", "mlp.c_proj", d)):
            out[theirs + b + ".weight"] = get(ours + a + ".weight").t().contiguous()
            out[theirs + b + ".bias"] = get.bias(ours + a + ".bias", width)
    out["transformer.ln_f.weight"] = get("stack.norm.weight")
    out["transformer.ln_f.bias"] = get.bias("stack.norm.bias", d)
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = get("lm_head.weight")
    return out


def config_from_hf(config: dict) -> TransformerConfig:
    activation = {v: k for k, v in ACTIVATIONS.items()}.get(config.get("activation_function", "gelu_new"))
    if activation is None:
        raise ValueError(f"activation_function={config['activation_function']!r} has no headstart equivalent")
    return TransformerConfig(
        vocab_size=config["vocab_size"], context_length=config["n_positions"], n_layer=config["n_layer"],
        n_head=config["n_head"], d_model=config["n_embd"], d_ff=config.get("n_inner") or None, causal=True,
        activation=activation, bias=True, norm_eps=config.get("layer_norm_epsilon", 1e-5),
        tie_embeddings=config.get("tie_word_embeddings", True))


def from_hf(tensors: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    get = StateReader({k.removeprefix("transformer."): v for k, v in tensors.items()})
    out = {"tok_emb.weight": get("wte.weight"), "pos_emb.weight": get("wpe.weight")}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"h.{i}."
        for a, b in (("norm1", "ln_1"), ("norm2", "ln_2")):
            out[ours + a + ".weight"], out[ours + a + ".bias"] = get(theirs + b + ".weight"), get(theirs + b + ".bias")
        for a, b in (("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"), ("mlp.fc", "mlp.c_fc"),
                     ("mlp.proj", "mlp.c_proj")):
            out[ours + a + ".weight"] = get(theirs + b + ".weight").t().contiguous()
            out[ours + a + ".bias"] = get(theirs + b + ".bias")
    out["stack.norm.weight"], out["stack.norm.bias"] = get("ln_f.weight"), get("ln_f.bias")
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = get("lm_head.weight")
    return out


def classifier_to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig, weight: torch.Tensor,
                     bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """``GPT2ForSequenceClassification`` tensors of a classifier pooling the last token: the backbone, the
    head's weight as ``score``, and the head's bias moved into ``ln_f`` (``score`` has no bias).

    Exact because ``ln_f`` feeds nothing but ``score`` there: with W δ = b,
    W (γ⊙n + β + δ) = W (γ⊙n + β) + b.  δ is the least-squares solution, exact when W has full row rank
    (a trained head does); ``classifier_export`` checks the result and refuses where it is not.
    """
    out = to_hf(state, cfg)
    out.pop("lm_head.weight", None)
    out["transformer.ln_f.bias"] = out["transformer.ln_f.bias"] + bias_shift(weight, bias)
    out["score.weight"] = weight.detach().contiguous()
    return out


def bias_shift(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """δ with ``weight @ δ ≈ bias`` (least squares, in float64)."""
    solution = torch.linalg.lstsq(weight.double(), bias.double().unsqueeze(1)).solution
    return solution.squeeze(1).float()
