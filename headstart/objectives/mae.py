"""Masked autoencoding of images (MAE, He et al. 2022): hide most patches, rebuild their pixels.

The encoder (a ``VisionTransformer``) sees only the visible patches, which is what makes MAE cheap:
at the default 75% mask it encodes a quarter of the sequence.  A light decoder sees every position,
mask tokens where patches were hidden, and predicts their pixels.
"""
from __future__ import annotations

import torch
from torch import nn

from ..engine import draws
from ..kernels import Linear
from ..models.blocks import TransformerStack, init_weights
from ..models.config import TransformerConfig
from ..models.vit import VisionTransformer, patchify
from .base import ObjectiveOutput


def random_patch_mask(batch: int, num_patches: int, mask_ratio: float,
                      device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, keep a random ``1 - mask_ratio`` of the patches.  Returns (visible, masked):
    ``visible`` (B, K) patch indices, ``masked`` (B, num_patches) bool, True where hidden.

    Sorting uniform noise gives each image its own random subset of exactly K patches in one op.
    The noise is the engine's per-example draw (``engine.draws``).
    """
    keep = int(num_patches * (1 - mask_ratio))
    noise = draws.rand(batch, num_patches, device=device)
    visible = noise.argsort(dim=1)[:, :keep]
    masked = torch.ones(batch, num_patches, dtype=torch.bool, device=device)
    masked.scatter_(1, visible, False)
    return visible, masked


def masked_patch_loss(predicted: torch.Tensor, target: torch.Tensor, masked: torch.Tensor,
                      norm_pix: bool = True) -> torch.Tensor:
    """Mean squared error over the hidden patches only; visible patches do not count.

    ``norm_pix``: compare with each patch's pixels normalised to zero mean and unit variance, which
    MAE found gives better representations (sharper detail, not average brightness).
    """
    if norm_pix:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = (predicted - target).square().mean(-1)
    weights = masked.to(per_patch.dtype)
    return (per_patch * weights).sum() / weights.sum()


class MAEDecoder(nn.Module):
    """Encoded visible patches -> predicted pixels of every patch."""

    def __init__(self, encoder_dim: int, num_patches: int, patch_pixels: int, prefix_tokens: int, *,
                 dim: int, n_layer: int, n_head: int):
        super().__init__()
        self.prefix_tokens = prefix_tokens
        self.embed = Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, num_patches, dim))  # its own positions, not the encoder's
        self.stack = TransformerStack(TransformerConfig(
            vocab_size=1, context_length=num_patches + prefix_tokens, n_layer=n_layer, n_head=n_head,
            d_model=dim, causal=False, bias=True))
        self.predict = Linear(dim, patch_pixels)
        init_weights(self, n_layer)

    def forward(self, encoded: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        x = self.embed(encoded)
        prefix, patches = x[:, :self.prefix_tokens], x[:, self.prefix_tokens:]
        b, n, d = x.shape[0], self.pos.shape[1], x.shape[2]
        # Every position starts as the mask token; the visible ones are put back where they came from.
        full = self.mask_token.expand(b, n, d).scatter(1, visible.unsqueeze(-1).expand(-1, -1, d), patches)
        out = self.stack(torch.cat((prefix, full + self.pos), dim=1))
        return self.predict(out[:, self.prefix_tokens:])


class MAE(nn.Module):
    """Batch ``{"images": (B, C, H, W) float in [0, 1]}`` -> pixel loss on the hidden patches.

    The decoder defaults are light (2 layers, 128 wide) for small images; MAE's own for ImageNet is
    8 layers, 512 wide.
    """

    def __init__(self, model: VisionTransformer, *, mask_ratio: float = 0.75, decoder_dim: int = 128,
                 decoder_layers: int = 2, decoder_heads: int = 4, norm_pix_loss: bool = True):
        super().__init__()
        cfg = model.cfg
        if not 0 < mask_ratio < 1 or int(cfg.num_patches * (1 - mask_ratio)) < 1:
            raise ValueError(f"mask_ratio {mask_ratio} must hide some and leave at least one of "
                             f"{cfg.num_patches} patches visible")
        self.model, self.mask_ratio, self.norm_pix_loss = model, mask_ratio, norm_pix_loss
        self.decoder = MAEDecoder(cfg.d_model, cfg.num_patches, cfg.patch_size ** 2 * cfg.channels,
                                  model.num_prefix_tokens, dim=decoder_dim, n_layer=decoder_layers,
                                  n_head=decoder_heads)

    def forward(self, batch: dict) -> ObjectiveOutput:
        images = batch["images"]
        visible, masked = random_patch_mask(images.shape[0], self.model.cfg.num_patches, self.mask_ratio,
                                            images.device)
        predicted = self.decoder(self.model.hidden_states(images, visible=visible), visible)
        target = patchify(images, self.model.cfg.patch_size)
        loss = masked_patch_loss(predicted.float(), target.float(), masked, self.norm_pix_loss)
        return ObjectiveOutput(loss, {"loss": loss.detach()})
