"""Named model sizes.  A config names one with ``model.preset`` and may override any field."""
from __future__ import annotations

PRESETS: dict[str, dict] = {
    # nanoGPT's shakespeare_char CPU recipe: 0.8 M parameters, trains in minutes on 2 cores.
    "gpt-nano": dict(n_layer=4, n_head=4, d_model=128, context_length=64),
    "gpt-micro": dict(n_layer=4, n_head=4, d_model=256, context_length=256),
    "gpt-mini": dict(n_layer=6, n_head=6, d_model=384, context_length=256),
    # GPT-2 small (124 M with its 50257 vocabulary): for GPUs.
    "gpt2-small": dict(n_layer=12, n_head=12, d_model=768, context_length=1024),
    "bert-nano": dict(n_layer=4, n_head=4, d_model=128, context_length=128, causal=False),
    "bert-micro": dict(n_layer=4, n_head=4, d_model=256, context_length=128, causal=False),
    "bert-mini": dict(n_layer=6, n_head=6, d_model=384, context_length=256, causal=False),
    "bert-base": dict(n_layer=12, n_head=12, d_model=768, context_length=512, causal=False),
}

# The same sizes in BERT's original post-norm layout, which exports to transformers' BertForMaskedLM.
BERT_LAYOUT = dict(norm_position="post", embedding_norm=True, mlm_transform=True, bias=True, norm_eps=1e-12)
PRESETS.update({f"bert-classic-{size}": {**PRESETS[f"bert-{size}"], **BERT_LAYOUT}
                for size in ("nano", "micro", "mini", "base")})

# The layout of today's open decoders (Llama, Qwen): rotary positions, RMSNorm, a SwiGLU MLP 8/3 as wide
# as the model (so it costs what a 4x GELU MLP costs), no biases.  Exportable to LlamaForCausalLM by
# construction, and with `qk_norm: true` to Qwen3ForCausalLM.
MODERN_LAYOUT = dict(positions="rope", norm="rmsnorm", activation="swiglu", bias=False)


def swiglu_width(d_model: int) -> int:
    """8/3 d_model, rounded up to a multiple of 32: SwiGLU's three matrices cost what GELU's two 4x ones do."""
    return -(-8 * d_model // (3 * 32)) * 32


PRESETS.update({f"modern-{size}": {**PRESETS[gpt], **MODERN_LAYOUT, "d_ff": swiglu_width(PRESETS[gpt]["d_model"])}
                for size, gpt in (("nano", "gpt-nano"), ("micro", "gpt-micro"), ("mini", "gpt-mini"),
                                  ("small", "gpt2-small"))})

def preset_fields(name: str) -> dict:
    """The fields of preset ``name``; a ValueError lists the known names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return dict(PRESETS[name])


def check_preset_name(spec: dict | None, prefix: str = "model.") -> None:
    """A preset is named by a string; a list or mapping there would fail later as a TypeError (unhashable)."""
    if isinstance(spec, dict) and "preset" in spec and not isinstance(spec["preset"], str):
        raise ValueError(f"{prefix}preset: expected the name of a preset, got {spec['preset']!r}")
