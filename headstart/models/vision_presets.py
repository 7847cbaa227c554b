"""Named image-model sizes.  A config names one and may override any field; the image size and
channels come from the prepared data."""
from __future__ import annotations

from typing import Union

from torch import nn

from .resnet import ResNet, ResNetConfig
from .vit import ViTConfig, VisionTransformer

# Patch 4 suits the small images these run on (32 px -> 8x8 = 64 patches; use 2 for 8-px digits,
# 16 for 224-px photos).  Widths and depths are DeiT's (Touvron et al. 2021).
VIT_PRESETS: dict[str, dict] = {
    "vit-nano": dict(n_layer=4, n_head=4, d_model=128, patch_size=4),  # CPU-sized, like gpt-nano
    "vit-tiny": dict(n_layer=12, n_head=3, d_model=192, patch_size=4),  # DeiT-Ti widths, 5.4 M parameters at 32 px
    "vit-small": dict(n_layer=12, n_head=6, d_model=384, patch_size=4),  # DeiT-S widths, 21 M
}

RESNET_PRESETS: dict[str, dict] = {
    "resnet-tiny": dict(widths=(32, 64, 128), blocks=(1, 1, 1)),  # 0.3 M parameters: CPU-sized
    "resnet18-cifar": dict(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)),  # 11 M, SimCLR's CIFAR backbone
}

VISION_PRESETS: dict[str, dict] = {**VIT_PRESETS, **RESNET_PRESETS}

VisionConfig = Union[ViTConfig, ResNetConfig]
# A checkpoint records its backbone as {"kind": ..., **config}: the kind names the classes to rebuild it.
VISION_KINDS: dict[str, tuple[type, type[nn.Module]]] = {"vit": (ViTConfig, VisionTransformer),
                                                         "resnet": (ResNetConfig, ResNet)}


def vision_config(preset: str, *, image_size: int | tuple[int, int], channels: int, **overrides) -> VisionConfig:
    """The config of preset ``preset`` with ``overrides``, for images of ``image_size`` and ``channels``.

    Raises ValueError for an unknown preset and pydantic's ValidationError for a bad override.
    """
    if preset in VIT_PRESETS:
        return ViTConfig(**{**VIT_PRESETS[preset], "image_size": image_size, "channels": channels, **overrides})
    if preset in RESNET_PRESETS:  # global pooling: a ResNet takes any image size
        return ResNetConfig(**{**RESNET_PRESETS[preset], "channels": channels, **overrides})
    raise ValueError(f"unknown vision preset {preset!r}; known presets: {', '.join(sorted(VISION_PRESETS))}")


def vision_model(cfg: VisionConfig) -> nn.Module:
    """A new (randomly initialised) backbone for ``cfg``."""
    return VisionTransformer(cfg) if isinstance(cfg, ViTConfig) else ResNet(cfg)


def build_vision_model(preset: str, *, image_size: int | tuple[int, int], channels: int, **overrides) -> nn.Module:
    """A ViT or ResNet from a preset name, for images of ``image_size`` with ``channels`` channels.

    >>> build_vision_model("vit-nano", image_size=32, channels=3, pool="mean")
    """
    return vision_model(vision_config(preset, image_size=image_size, channels=channels, **overrides))


def vision_model_record(cfg: VisionConfig) -> dict:
    """What a checkpoint stores to rebuild the backbone: ``{"kind": "vit", **config}``, JSON-ready."""
    kind = next(name for name, (config_class, _) in VISION_KINDS.items() if isinstance(cfg, config_class))
    return {"kind": kind, **cfg.model_dump(mode="json")}


def vision_model_from_record(record: dict) -> nn.Module:
    """The backbone ``vision_model_record`` describes, with fresh weights.  Raises KeyError for a
    missing or unknown kind and ValidationError for a bad config."""
    fields = dict(record)
    config_class, model_class = VISION_KINDS[fields.pop("kind")]
    return model_class(config_class(**fields))
