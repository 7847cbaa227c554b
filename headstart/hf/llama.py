"""headstart rotary decoders <-> transformers ``LlamaForCausalLM`` and ``Qwen3ForCausalLM``.

Both are pre-norm decoders with rotary positions, RMSNorm (weight ``w``, not Gemma's ``1 + w``) and a
SwiGLU MLP ``down(silu(gate(x)) * up(x))``; Qwen3 adds an RMSNorm over each head's query and key before
the rotation, which is where headstart's ``qk_norm`` sits (OLMo2 normalises the whole projection instead,
a different function).  Three layout details are translated, each exactly:

* headstart rotates interleaved pairs (dims 2i, 2i+1, RoFormer); transformers rotates halves (i, i+D/2,
  ``rotate_half``).  Attention only sees q·k, so permuting the query and key rows of each head (and the
  QK-norm weights) turns one into the other.
* headstart's fused ``mlp.fc`` holds [gate; up]: its first half is the one passed through silu.
* headstart's one ``bias`` switch covers every linear layer.  Llama has attention_bias and mlp_bias;
  Qwen3's MLP has no bias, so a Qwen3 export needs those biases to be zero.
"""
from __future__ import annotations

import logging

import torch

from ..models import TransformerConfig
from .common import StateReader

log = logging.getLogger(__name__)
LLAMA, QWEN3 = "LlamaForCausalLM", "Qwen3ForCausalLM"
MODEL_TYPES = {LLAMA: "llama", QWEN3: "qwen3"}
# headstart's RMSNorm eps when norm_eps is unset, and its QK-norm's always (blocks.py); Qwen3 uses
# rms_norm_eps for its QK-norm as well, so a Qwen3 export needs norm_eps at that value.
RMSNORM_EPS = QK_NORM_EPS = 1e-6
# What the nearest exportable setting of each field is, for the refusal message.
WANTED = dict(causal=True, positions="rope", norm="rmsnorm", activation="swiglu", norm_position="pre",
              embedding_norm=False, mlm_transform=False)


def architecture(cfg: TransformerConfig) -> str:
    return QWEN3 if cfg.qk_norm else LLAMA


def unsupported(cfg: TransformerConfig, state: dict | None = None) -> list[str]:
    """The settings of ``cfg`` the target class cannot represent, as ``model.key=value`` strings.
    ``state`` (the weights) lets a Qwen3 export take ``bias: true`` when the MLP biases are zero."""
    found = [f"model.{k}={getattr(cfg, k)}" for k, v in WANTED.items() if getattr(cfg, k) != v]
    if cfg.qk_norm and (cfg.norm_eps or QK_NORM_EPS) != QK_NORM_EPS:
        found.append(f"model.norm_eps={cfg.norm_eps} (Qwen3's QK-norm shares it; headstart's is {QK_NORM_EPS})")
    if cfg.qk_norm and cfg.bias and (state is None or _mlp_biases_nonzero(state, cfg)):
        found.append("model.bias=True (Qwen3's MLP has no bias)")
    return found


def nearest(problems: list[str]) -> str:
    """The settings that would make a rotary decoder exportable, for the refusal message."""
    fields = {p.split("=")[0].removeprefix("model.") for p in problems}
    wanted = {k: v for k, v in WANTED.items() if k in fields}
    if "norm_eps" in fields:
        wanted["norm_eps"] = QK_NORM_EPS
    if "bias" in fields:
        wanted["bias"] = False
    settings = ", ".join(f"{k}: {str(v).lower()}" for k, v in wanted.items())
    return f"; nearest exportable: {settings} (as the modern-* presets)"


def _mlp_biases_nonzero(state: dict, cfg: TransformerConfig) -> bool:
    return any(state[f"stack.blocks.{i}.mlp.{n}.bias"].abs().max() > 0
               for i in range(cfg.n_layer) for n in ("fc", "proj"))


def hf_config(cfg: TransformerConfig, special: dict[str, int]) -> dict:
    target = architecture(cfg)
    config = {
        "architectures": [target], "model_type": MODEL_TYPES[target],
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model, "intermediate_size": cfg.ff_width,
        "num_hidden_layers": cfg.n_layer, "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.head_dim, "hidden_act": "silu", "max_position_embeddings": cfg.context_length,
        "rms_norm_eps": cfg.norm_eps or RMSNORM_EPS,
        # transformers 5 reads rope_parameters; older readers (and llama.cpp, vLLM) read rope_theta.
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_base}, "rope_theta": cfg.rope_base,
        "attention_bias": cfg.bias, "attention_dropout": cfg.dropout, "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": special["eos"], "eos_token_id": special["eos"], "pad_token_id": special["pad"],
    }
    if target == LLAMA:
        config["mlp_bias"] = cfg.bias
    else:
        config["use_sliding_window"] = False
    return config


def halves_order(head_dim: int) -> torch.Tensor:
    """Row order that takes a head's interleaved rotary pairs (2i, 2i+1) to transformers' halves (i, i+D/2)."""
    return torch.cat([torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)])


def _per_head(rows: torch.Tensor, order: torch.Tensor, head_dim: int) -> torch.Tensor:
    """``rows`` (H·D, ...) with each head's D rows put in ``order``."""
    shaped = rows.reshape(-1, head_dim, *rows.shape[1:])
    return shaped[:, order].reshape(rows.shape).contiguous()


def to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    get, hd, width = StateReader(state), cfg.head_dim, cfg.ff_width
    order = halves_order(hd)
    out = {"model.embed_tokens.weight": get("tok_emb.weight"), "model.norm.weight": get("stack.norm.weight")}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"model.layers.{i}."
        out[theirs + "input_layernorm.weight"] = get(ours + "norm1.weight")
        out[theirs + "post_attention_layernorm.weight"] = get(ours + "norm2.weight")
        parts = {"weight": get(ours + "attn.qkv.weight").chunk(3)}
        if cfg.bias:
            parts["bias"] = get(ours + "attn.qkv.bias").chunk(3)
        for part, (q, k, v) in parts.items():
            out[f"{theirs}self_attn.q_proj.{part}"] = _per_head(q, order, hd)
            out[f"{theirs}self_attn.k_proj.{part}"] = _per_head(k, order, hd)
            out[f"{theirs}self_attn.v_proj.{part}"] = v.contiguous()
        if cfg.qk_norm:
            out[theirs + "self_attn.q_norm.weight"] = get(ours + "attn.q_norm.weight")[order].contiguous()
            out[theirs + "self_attn.k_norm.weight"] = get(ours + "attn.k_norm.weight")[order].contiguous()
        gate, up = get(ours + "mlp.fc.weight").split(width)
        out.update({theirs + "mlp.gate_proj.weight": gate.contiguous(), theirs + "mlp.up_proj.weight": up.contiguous(),
                    theirs + "mlp.down_proj.weight": get(ours + "mlp.proj.weight"),
                    theirs + "self_attn.o_proj.weight": get(ours + "attn.proj.weight")})
        if cfg.bias:
            out[theirs + "self_attn.o_proj.bias"] = get(ours + "attn.proj.bias")
            if architecture(cfg) == LLAMA:  # a Qwen3 export got here only with these biases zero
                gate_bias, up_bias = get(ours + "mlp.fc.bias").split(width)
                out.update({theirs + "mlp.gate_proj.bias": gate_bias.contiguous(),
                            theirs + "mlp.up_proj.bias": up_bias.contiguous(),
                            theirs + "mlp.down_proj.bias": get(ours + "mlp.proj.bias")})
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = get("lm_head.weight")
    return out


def config_from_hf(config: dict) -> TransformerConfig:
    """headstart's config for a Llama, Qwen2 or Qwen3 config.json; a ValueError names a field headstart
    cannot honour."""
    model_type = config.get("model_type")
    heads, width = config["num_attention_heads"], config["hidden_size"]
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"rope_type={rope_type!r}: headstart's rotary positions are unscaled (rope_type 'default')")
    partial = rope.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0))
    if partial != 1.0:
        raise ValueError(f"partial_rotary_factor={partial}: headstart rotates every dimension of a head")
    sliding = [t for t in config.get("layer_types") or [] if t != "full_attention"]
    if config.get("use_sliding_window") or sliding:
        raise ValueError(f"{'layer_types has ' + repr(sliding[0]) if sliding else 'use_sliding_window=true'}: "
                         f"headstart has no sliding-window attention (every layer attends to the whole context)")
    head_dim = config.get("head_dim") or width // heads
    if head_dim * heads != width:
        raise ValueError(f"head_dim={head_dim} with {heads} heads is not hidden_size={width}: headstart's heads "
                         f"split the model width")
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act={config['hidden_act']!r}: headstart's gated MLP is SwiGLU (silu)")
    kv_heads = config.get("num_key_value_heads") or heads
    if heads % kv_heads:
        raise ValueError(f"num_key_value_heads={kv_heads} does not divide num_attention_heads={heads}")
    if kv_heads < heads:
        log.info("grouped-query attention (%d key/value heads for %d query heads) becomes one key/value head per "
                 "query head: the same function, %d copies of each key/value head", kv_heads, heads, heads // kv_heads)
    eps = config.get("rms_norm_eps", RMSNORM_EPS)
    qk_norm = model_type == "qwen3"
    if qk_norm and eps != QK_NORM_EPS:
        raise ValueError(f"rms_norm_eps={eps}: Qwen3 uses it for its QK-norm too, and headstart's QK-norm eps "
                         f"is {QK_NORM_EPS}")
    bias = model_type == "qwen2" or bool(config.get("attention_bias") or config.get("mlp_bias"))
    rope_base = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    return TransformerConfig(
        vocab_size=config["vocab_size"], context_length=config["max_position_embeddings"],
        n_layer=config["num_hidden_layers"], n_head=heads, d_model=width, d_ff=config["intermediate_size"],
        causal=True, positions="rope", norm="rmsnorm", activation="swiglu", qk_norm=qk_norm, bias=bias,
        norm_eps=eps, tie_embeddings=config.get("tie_word_embeddings", False), rope_base=rope_base)


def from_hf(tensors: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    """headstart tensors from a Llama/Qwen2/Qwen3 state.  Grouped-query attention (fewer key/value
    heads than query heads) is expanded to one key/value head per query head: the same function, as
    transformers' ``repeat_kv`` computes it, with more parameters."""
    get = StateReader({k.removeprefix("model."): v for k, v in tensors.items()})
    hd, back = cfg.head_dim, torch.argsort(halves_order(cfg.head_dim))
    out = {"tok_emb.weight": get("embed_tokens.weight"), "stack.norm.weight": get("norm.weight")}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"layers.{i}."
        out[ours + "norm1.weight"] = get(theirs + "input_layernorm.weight")
        out[ours + "norm2.weight"] = get(theirs + "post_attention_layernorm.weight")
        attn = theirs + "self_attn."
        for part in ("weight", "bias") if cfg.bias else ("weight",):
            q, k, v = (_projection(get, f"{attn}{name}", part) for name in ("q_proj", "k_proj", "v_proj"))
            k, v = _expand(k, cfg), _expand(v, cfg)
            out[f"{ours}attn.qkv.{part}"] = torch.cat([_per_head(q, back, hd), _per_head(k, back, hd), v])
        out[ours + "attn.proj.weight"] = get(attn + "o_proj.weight")
        if cfg.qk_norm:
            out[ours + "attn.q_norm.weight"] = get(attn + "q_norm.weight")[back].contiguous()
            out[ours + "attn.k_norm.weight"] = get(attn + "k_norm.weight")[back].contiguous()
        mlp = theirs + "mlp."
        out[ours + "mlp.fc.weight"] = torch.cat([get(mlp + "gate_proj.weight"), get(mlp + "up_proj.weight")])
        out[ours + "mlp.proj.weight"] = get(mlp + "down_proj.weight")
        if cfg.bias:  # headstart's one switch: a bias the source lacks is zero, the same function
            out[ours + "attn.proj.bias"] = get.bias(attn + "o_proj.bias", cfg.d_model)
            out[ours + "mlp.fc.bias"] = torch.cat([get.bias(mlp + "gate_proj.bias", cfg.ff_width),
                                                   get.bias(mlp + "up_proj.bias", cfg.ff_width)])
            out[ours + "mlp.proj.bias"] = get.bias(mlp + "down_proj.bias", cfg.d_model)
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = get("lm_head.weight")
    return out


def _projection(get: StateReader, name: str, part: str) -> torch.Tensor:
    """A projection's weight or bias; a missing bias (Llama's attention_bias: false) is zeros."""
    weight = get(f"{name}.weight")
    return weight if part == "weight" else get.bias(f"{name}.bias", weight.shape[0])


def _expand(rows: torch.Tensor, cfg: TransformerConfig) -> torch.Tensor:
    """Key/value rows of G heads -> cfg.n_head heads, query head h reading key/value head h // (n_head / G)."""
    groups = rows.shape[0] // cfg.head_dim
    if groups == cfg.n_head:
        return rows
    shaped = rows.reshape(groups, cfg.head_dim, *rows.shape[1:])
    return shaped.repeat_interleave(cfg.n_head // groups, dim=0).reshape(cfg.n_head * cfg.head_dim, *rows.shape[1:])


def classifier_to_hf(state: dict[str, torch.Tensor], cfg: TransformerConfig,
                     weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """``LlamaForSequenceClassification`` / ``Qwen3ForSequenceClassification`` tensors: the backbone and
    the head's weight as ``score``.  ``score`` has no bias and RMSNorm none to fold one into (GPT-2's
    export moves it into ``ln_f``), so the caller exports only heads whose bias is zero."""
    out = to_hf(state, cfg)
    out.pop("lm_head.weight", None)
    out["score.weight"] = weight.detach().contiguous()
    return out
