"""A Vision Transformer (Dosovitskiy et al. 2021) on headstart's shared transformer blocks.

Images are cut into non-overlapping patches (one strided convolution), each patch gets a learned
position embedding, and a bidirectional ``TransformerStack`` runs over them, after an optional CLS
token.  The encoder can run on a subset of the patches, which is what MAE needs: pass ``visible``.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn

from .blocks import TransformerStack, init_weights
from .config import TransformerConfig


class ViTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: Union[int, tuple[int, int]] = Field(description="pixels of a square image, or (height, width)")
    patch_size: int = Field(gt=0)
    channels: int = Field(default=3, gt=0)
    n_layer: int = Field(gt=0)
    n_head: int = Field(gt=0)
    d_model: int = Field(gt=0)
    d_ff: Optional[int] = Field(default=None, gt=0, description="MLP width; default 4 x d_model")
    pool: Literal["cls", "mean"] = "cls"  # "cls" adds a CLS token; "mean" averages the patch tokens
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    activation: Literal["gelu", "relu2", "swiglu"] = "gelu"
    qk_norm: bool = False
    bias: bool = True
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("image_size")
    @classmethod
    def _as_height_width(cls, size):
        size = (size, size) if isinstance(size, int) else tuple(size)
        if min(size) <= 0:
            raise ValueError(f"image_size {size} must be positive")
        return size

    @model_validator(mode="after")
    def _patches_tile_the_image(self) -> "ViTConfig":
        if any(side % self.patch_size for side in self.image_size):
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        self.stack_config()  # heads must divide the width: report it now, with this config's names
        return self

    @property
    def grid(self) -> tuple[int, int]:
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def stack_config(self) -> TransformerConfig:
        return TransformerConfig(
            vocab_size=1,  # unused: a ViT embeds pixels, not token ids
            context_length=self.num_patches + (self.pool == "cls"),
            n_layer=self.n_layer, n_head=self.n_head, d_model=self.d_model, d_ff=self.d_ff,
            causal=False, positions="learned", norm=self.norm, activation=self.activation,
            qk_norm=self.qk_norm, bias=self.bias, dropout=self.dropout, tie_embeddings=False,
        )


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, num_patches, patch_size**2 * C), patches in row-major order (as MAE)."""
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


class PatchEmbedding(nn.Module):
    """Pixels -> one vector per patch, plus its learned position, and the CLS token if any."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        # A convolution with stride = kernel = patch is a linear map of each flattened patch.  (Not
        # named "proj": init_weights scales "*proj.weight" as a residual projection.)
        self.patch = nn.Conv2d(cfg.channels, cfg.d_model, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, cfg.num_patches, cfg.d_model))
        # The CLS token needs no position: it is the only token of its kind.
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model)) if cfg.pool == "cls" else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.patch(images).flatten(2).transpose(1, 2) + self.pos


class VisionTransformer(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = PatchEmbedding(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.stack = TransformerStack(cfg.stack_config())
        init_weights(self, cfg.n_layer)

    @property
    def feature_dim(self) -> int:
        return self.cfg.d_model

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patch tokens in ``hidden_states``: 1 with a CLS token, else 0."""
        return int(self.embedding.cls is not None)

    def hidden_states(self, images: torch.Tensor, padding_mask: Optional[torch.Tensor] = None, *,
                      visible: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, prefix + patches, d_model): the CLS token first (if any), then the patches.

        ``visible``: (B, K) indices of the patches to encode (MAE's unmasked patches); the others are
        left out of the sequence, not masked in attention.  ``padding_mask`` is accepted for the
        text interface (``Classification``) and must be None: images have no padding.
        """
        if padding_mask is not None:
            raise ValueError("images have no padding: padding_mask must be None")
        if tuple(images.shape[-2:]) != self.cfg.image_size:
            raise ValueError(f"images of {tuple(images.shape[-2:])} pixels, but the model was built for "
                             f"{self.cfg.image_size}")
        x = self.embedding(images)
        if visible is not None:
            x = x.gather(1, visible.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        if self.embedding.cls is not None:
            x = torch.cat((self.embedding.cls.expand(x.shape[0], -1, -1), x), dim=1)
        return self.stack(self.drop(x))

    def patch_tokens(self, images: torch.Tensor, *, visible: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, patches or K, d_model): the encoded patches alone."""
        return self.hidden_states(images, visible=visible)[:, self.num_prefix_tokens:]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, d_model): one vector per image, the CLS token or the mean of the patch tokens."""
        hidden = self.hidden_states(images)
        return hidden[:, 0] if self.cfg.pool == "cls" else hidden.mean(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)

    def layers(self) -> list[nn.Module]:
        """Bottom-to-top groups for layer-wise fine-tuning: embedding, each block, the final norm."""
        return [self.embedding, *self.stack.blocks, self.stack.norm]

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; position embeddings excluded by default (they cost no matmul FLOPs)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embedding.pos.numel() if non_embedding else n

    def train_flops_per_image(self, visible_patches: Optional[int] = None) -> float:
        """Forward + backward FLOPs per image (PaLM appendix B per token, times the tokens encoded)."""
        c = self.cfg
        tokens = (visible_patches or c.num_patches) + self.num_prefix_tokens
        return tokens * (6 * self.num_params() + 12 * c.n_layer * c.n_head * (c.d_model // c.n_head) * tokens)
