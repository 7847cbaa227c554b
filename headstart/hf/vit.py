"""headstart ViT -> transformers ``ViTModel`` (export only).

Hugging Face's ViT is pre-norm with a CLS token, like headstart's ``pool: cls`` ViT; it gives the CLS
token a position embedding too, which headstart does not (the CLS token is the only one of its
kind), so that row is exported as zeros.
"""
from __future__ import annotations

import torch

from ..models.vit import ViTConfig
from .common import ACTIVATIONS, StateReader, separate_qkv, unsupported as differences


def unsupported(cfg: ViTConfig) -> list[str]:
    return differences(cfg, dict(pool="cls", norm="layernorm", qk_norm=False))


def hf_config(cfg: ViTConfig) -> dict:
    stack = cfg.stack_config()
    return {
        "architectures": ["ViTModel"], "model_type": "vit",
        "image_size": list(cfg.image_size), "patch_size": cfg.patch_size, "num_channels": cfg.channels,
        "hidden_size": cfg.d_model, "num_hidden_layers": cfg.n_layer, "num_attention_heads": cfg.n_head,
        "intermediate_size": stack.ff_width, "hidden_act": ACTIVATIONS[cfg.activation],
        "layer_norm_eps": stack.norm_eps or 1e-5, "qkv_bias": True,
        "hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.dropout,
    }


def image_processor_config(cfg: ViTConfig) -> dict:
    """headstart feeds images as floats in [0, 1], resized to the model's size, not normalised."""
    height, width = cfg.image_size
    return {"image_processor_type": "ViTImageProcessor", "do_resize": True,
            "size": {"height": height, "width": width}, "do_rescale": True, "rescale_factor": 1 / 255,
            "do_normalize": False, "image_mean": [0.0] * cfg.channels, "image_std": [1.0] * cfg.channels}


def to_hf(state: dict[str, torch.Tensor], cfg: ViTConfig) -> dict[str, torch.Tensor]:
    get, d = StateReader(state), cfg.d_model
    ff = cfg.stack_config().ff_width
    out = {"embeddings.cls_token": get("embedding.cls"),
           "embeddings.position_embeddings": torch.cat([torch.zeros(1, 1, d), get("embedding.pos")], dim=1),
           "embeddings.patch_embeddings.projection.weight": get("embedding.patch.weight"),
           "embeddings.patch_embeddings.projection.bias": get("embedding.patch.bias")}
    for i in range(cfg.n_layer):
        ours, theirs = f"stack.blocks.{i}.", f"encoder.layer.{i}."
        out.update(separate_qkv(get, ours + "attn.qkv", d, theirs + "attention.attention."))
        for a, b, width in (("attn.proj", "attention.output.dense", d), ("norm1", "layernorm_before", d),
                            ("mlp.fc", "intermediate.dense", ff), ("mlp.proj", "output.dense", d),
                            ("norm2", "layernorm_after", d)):
            out[theirs + b + ".weight"] = get(ours + a + ".weight")
            out[theirs + b + ".bias"] = get.bias(ours + a + ".bias", width)
    out["layernorm.weight"], out["layernorm.bias"] = get("stack.norm.weight"), get.bias("stack.norm.bias", d)
    return out


def classifier_to_hf(state: dict[str, torch.Tensor], cfg: ViTConfig, weight: torch.Tensor,
                     bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """``ViTForImageClassification`` tensors: the backbone under ``vit.``, the head as ``classifier`` (it
    reads the CLS token after the final norm, as headstart's ``pool: cls`` does)."""
    out = {f"vit.{k}": v for k, v in to_hf(state, cfg).items()}
    out["classifier.weight"], out["classifier.bias"] = weight.detach().contiguous(), bias.detach().contiguous()
    return out
