"""A small ResNet (He et al. 2016) for small images, the CIFAR variant SimCLR and solo-learn use.

The stem is one 3x3 convolution at stride 1 with no max-pool: ImageNet's 7x7 stride-2 stem and
pool would shrink a 32-pixel image to 8 pixels before the first block.
"""
from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn


class ResNetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: int = Field(default=3, gt=0)
    widths: tuple[int, ...] = Field(description="channels of each stage; each stage after the first halves the size")
    blocks: tuple[int, ...] = Field(description="BasicBlocks per stage")

    @model_validator(mode="after")
    def _one_depth_per_stage(self) -> "ResNetConfig":
        if not self.widths or len(self.widths) != len(self.blocks):
            raise ValueError(f"widths {self.widths} and blocks {self.blocks} must name the same stages")
        if min(self.widths) <= 0 or min(self.blocks) <= 0:
            raise ValueError("widths and blocks must be positive")
        return self


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (a 1x1 projection where the shape changes)."""

    def __init__(self, in_width: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_width, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        # Zero-init the last BN's scale: each block starts as the identity, which trains deep
        # residual networks more stably (Goyal et al. 2017).
        nn.init.zeros_(self.bn2.weight)
        self.shortcut = nn.Identity()
        if stride != 1 or in_width != width:
            self.shortcut = nn.Sequential(nn.Conv2d(in_width, width, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """Images (B, C, H, W) -> pooled features (B, widths[-1]); any image size works.

    BatchNorm statistics are per device: for multi-GPU contrastive training convert the model with
    ``nn.SyncBatchNorm.convert_sync_batchnorm`` where the distributed setup lives, not here.
    """

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(nn.Conv2d(cfg.channels, cfg.widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(cfg.widths[0]), nn.ReLU(inplace=True))
        stages, in_width = [], cfg.widths[0]
        for i, (width, depth) in enumerate(zip(cfg.widths, cfg.blocks)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(in_width, width, stride)] + [BasicBlock(width, width, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*stage))
            in_width = width
        self.stages = nn.ModuleList(stages)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @property
    def feature_dim(self) -> int:
        return self.cfg.widths[-1]

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, widths[-1], H / 2**(stages - 1), W / 2**(stages - 1))."""
        # Channels-last activations: oneDNN's CPU convolutions (and cuDNN's tensor-core ones) run them
        # without layout conversions.  resnet-tiny forward + backward, 512 images of 32 px on 2 CPU
        # cores: 1.34 s vs 1.94 s (bench/resnet_layout.py).  Weights keep the default layout, which
        # safetensors needs to save them.
        x = self.stem(images.contiguous(memory_format=torch.channels_last))
        for stage in self.stages:
            x = stage(x)
        return x

    def hidden_states(self, images: torch.Tensor, padding_mask=None) -> torch.Tensor:
        """The final feature map as a sequence (B, positions, widths[-1]), for token-level heads and
        the text ``Classification`` interface (mean pooling there equals ``features``)."""
        if padding_mask is not None:
            raise ValueError("images have no padding: padding_mask must be None")
        return self.feature_map(images).flatten(2).transpose(1, 2)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, widths[-1]): global average pool of the last stage."""
        return self.feature_map(images).mean((2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)

    def train_flops_per_image(self, image_size: tuple[int, int]) -> float:
        """Training FLOPs of one image: the forward pass as torch's FlopCounterMode counts it
        (convolutions; BatchNorm and ReLU are not counted, as in MFU's convention), times 3 for the
        backward.  Counted rather than derived: the count follows any widths, blocks and image size."""
        from torch.utils.flop_counter import FlopCounterMode

        was_training = self.training
        self.eval()  # a forward in training mode would move BatchNorm's running statistics
        probe = torch.zeros(1, self.cfg.channels, *image_size, device=next(self.parameters()).device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            self.features(probe)
        self.train(was_training)
        return 3.0 * counter.get_total_flops()

    def layers(self) -> list[nn.Module]:
        """Bottom-to-top groups for layer-wise fine-tuning: the stem, then each stage."""
        return [self.stem, *self.stages]
