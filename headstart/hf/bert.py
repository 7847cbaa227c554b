"""headstart masked LM in BERT's layout <-> transformers ``BertForMaskedLM`` (and ``BertModel``).

BERT normalises after each residual sum, normalises the embeddings, and passes hidden states through
a dense + activation + norm transform before the vocabulary projection: headstart models with
``norm_position: post``, ``embedding_norm`` and ``mlm_transform`` (the ``bert-classic-*`` presets).
"""
from __future__ import annotations

import logging

import torch

from ..models import TransformerConfig
from .common import ACTIVATIONS, StateReader, renamed, separate_qkv, unsupported as differences

log = logging.getLogger(__name__)
TYPE_VOCAB = 2  # BERT's sentence A / B; headstart uses A only, so B's row is zeros on export


def unsupported(cfg: TransformerConfig) -> list[str]:
    """The settings of ``cfg`` BERT cannot represent, as ``model.key=value`` strings."""
    return differences(cfg, dict(causal=False, positions="learned", norm="layernorm", qk_norm=False,
                                 norm_position="post", embedding_norm=True, mlm_transform=True))


# The masked-LM head: headstart name -> BERT name (both directions use it).
HEAD = (("lm_transform.dense", "cls.predictions.transform.dense"),
        ("lm_transform.norm", "cls.predictions.transform.LayerNorm"))


def hf_config(cfg: TransformerConfig, special: dict[str, int]) -> dict:
    return {
        "architectures": ["BertForMaskedLM"], "model_type": "bert",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model, "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head, "intermediate_size": cfg.ff_width,
        "hidden_act": ACTIVATIONS[cfg.activation], "max_position_embeddings": cfg.context_length,
        "type_vocab_size": TYPE_VOCAB, "layer_norm_eps": cfg.norm_eps or 1e-5,
        "hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.dropout,
        "position_embedding_type": "absolute", "pad_token_id": special["pad"],
        "tie_word_embeddings": cfg.tie_embeddings,
    }


def to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    get, out = StateReader(state), encoder_to_hf(state, cfg)
    out.update(renamed(get, HEAD))
    out["cls.predictions.bias"] = get("lm_head.bias")
    if not cfg.tie_embeddings:
        out["cls.predictions.decoder.weight"] = get("lm_head.weight")
    return out


def encoder_to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    """The ``bert.*`` tensors: embeddings and layers, without the masked-LM head."""
    get, d = StateReader(state), cfg.d_model
    out = {"bert.embeddings.word_embeddings.weight": get("tok_emb.weight"),
           "bert.embeddings.position_embeddings.weight": get("pos_emb.weight"),
           "bert.embeddings.token_type_embeddings.weight": torch.zeros(TYPE_VOCAB, d),
           "bert.embeddings.LayerNorm.weight": get("emb_norm.weight"),
           "bert.embeddings.LayerNorm.bias": get.bias("emb_norm.bias", d)}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"bert.encoder.layer.{i}."
        out.update(separate_qkv(get, ours + "attn.qkv", d, theirs + "attention.self."))
        for a, b, width in (("attn.proj", "attention.output.dense", d), ("norm1", "attention.output.LayerNorm", d),
                            ("mlp.fc", "intermediate.dense", cfg.ff_width), ("mlp.proj", "output.dense", d),
                            ("norm2", "output.LayerNorm", d)):
            out[theirs + b + ".weight"] = get(ours + a + ".weight")
            out[theirs + b + ".bias"] = get.bias(ours + a + ".bias", width)
    return out


def config_from_hf(config: dict) -> TransformerConfig:
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"position_embedding_type={config['position_embedding_type']!r}: "
                         f"only absolute positions have a headstart equivalent")
    activation = {v: k for k, v in ACTIVATIONS.items()}.get(config.get("hidden_act", "gelu"))
    if activation is None:
        raise ValueError(f"hidden_act={config['hidden_act']!r} has no headstart equivalent")
    return TransformerConfig(
        vocab_size=config["vocab_size"], context_length=config["max_position_embeddings"],
        n_layer=config["num_hidden_layers"], n_head=config["num_attention_heads"], d_model=config["hidden_size"],
        d_ff=config["intermediate_size"], causal=False, activation=activation, bias=True,
        norm_position="post", embedding_norm=True, mlm_transform=True,
        norm_eps=config.get("layer_norm_eps", 1e-12), tie_embeddings=config.get("tie_word_embeddings", True))


def from_hf(tensors: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    """headstart tensors from a BertForMaskedLM or BertModel state.  Token type 0 (the only one
    headstart feeds) is a constant added at every position, so it folds into the position table."""
    get = StateReader({k.removeprefix("bert."): v for k, v in tensors.items()})
    out = {"tok_emb.weight": get("embeddings.word_embeddings.weight"),
           "pos_emb.weight": get("embeddings.position_embeddings.weight")
           + get("embeddings.token_type_embeddings.weight")[0],
           "emb_norm.weight": get("embeddings.LayerNorm.weight"), "emb_norm.bias": get("embeddings.LayerNorm.bias")}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"encoder.layer.{i}."
        for part in ("weight", "bias"):
            out[f"{ours}attn.qkv.{part}"] = torch.cat([get(f"{theirs}attention.self.{name}.{part}")
                                                       for name in ("query", "key", "value")])
            for a, b in (("attn.proj", "attention.output.dense"), ("norm1", "attention.output.LayerNorm"),
                         ("mlp.fc", "intermediate.dense"), ("mlp.proj", "output.dense"), ("norm2", "output.LayerNorm")):
                out[f"{ours}{a}.{part}"] = get(f"{theirs}{b}.{part}")
    if "cls.predictions.bias" in tensors:
        out.update(renamed(get, [(theirs, ours) for ours, theirs in HEAD]))
        out["lm_head.bias"] = get("cls.predictions.bias")
        if not cfg.tie_embeddings:
            out["lm_head.weight"] = get("cls.predictions.decoder.weight")
    return out


def classifier_to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig, weight: torch.Tensor,
                     bias: torch.Tensor, scale: float) -> dict[str, torch.Tensor]:
    """``BertForSequenceClassification`` tensors of a classifier on the first token.

    BERT sends the first token through its pooler (dense, tanh) before the classifier; headstart's
    ``pooling: first`` goes straight to the head.  The pooler becomes a scaled identity, ``scale``·I, and
    the classifier's weight W/scale: W/s·tanh(s·x) = W·x − W·s²x³/3 + ..., so a small enough ``scale``
    (``pooler_scale``) leaves the logits within float32 rounding of headstart's.  (A trained BERT pooler
    would be exact, but headstart's heads have none, and adding one would change what fine-tuning trains.)
    Half precision cannot hold s·x and W/s this far apart: load the exported model in float32.
    """
    out, d = encoder_to_hf(state, cfg), cfg.d_model
    out["bert.pooler.dense.weight"] = scale * torch.eye(d)
    out["bert.pooler.dense.bias"] = torch.zeros(d)
    out["classifier.weight"] = (weight.detach().double() / scale).float()
    out["classifier.bias"] = bias.detach().contiguous()
    return out


def pooler_scale(weight: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, target: float) -> float:
    """The scale s for which the pooler's error W/s·(tanh(s·x) − s·x) is at most ``target`` for every x the
    last post-norm layer can output: x = γ⊙n + β with |n_i| ≤ √(D−1) (a normalised vector's largest
    coordinate), and |tanh(u) − u| ≤ |u|³/3, so the error of logit c is at most s²/3 · Σ_i |W_ci| |x_i|³."""
    bound = gamma.double().abs() * (len(gamma) - 1) ** 0.5 + beta.double().abs()
    worst = float((weight.double().abs() @ bound ** 3).max())
    return min(1.0, (3 * target / worst) ** 0.5) if worst > 0 else 1.0
