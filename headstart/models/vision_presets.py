"""Named image-model sizes.  A config names one and may override any field; the image size and
channels come from the prepared data."""
from __future__ import annotations

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


def build_vision_model(preset: str, *, image_size: int | tuple[int, int], channels: int, **overrides) -> nn.Module:
    """A ViT or ResNet from a preset name, for images of ``image_size`` with ``channels`` channels.

    >>> build_vision_model("vit-nano", image_size=32, channels=3, pool="mean")
    """
    if preset in VIT_PRESETS:
        return VisionTransformer(ViTConfig(**{**VIT_PRESETS[preset], "image_size": image_size,
                                              "channels": channels, **overrides}))
    if preset in RESNET_PRESETS:  # global pooling: a ResNet takes any image size
        return ResNet(ResNetConfig(**{**RESNET_PRESETS[preset], "channels": channels, **overrides}))
    raise ValueError(f"unknown vision preset {preset!r}; known presets: {', '.join(sorted(VISION_PRESETS))}")
