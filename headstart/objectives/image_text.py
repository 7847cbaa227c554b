"""Image–text contrastive pre-training: CLIP's symmetric InfoNCE (Radford et al. 2021) and SigLIP's
pairwise sigmoid loss (Zhai et al. 2023), on a ``DualEncoder``.

Under torch.distributed, both losses score each rank's images against every rank's captions (and
CLIP's each rank's captions against every rank's images): the negatives are the global batch, as in
OpenCLIP's ``gather_with_grad``, not a per-rank batch that would make the loss easier and different.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.dual_encoder import DualEncoder
from .base import ObjectiveOutput
from .gather import gather_across_ranks

MAX_LOGIT_SCALE = 100.0  # CLIP clips 1/temperature at 100 to keep training stable


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric cross-entropy over cosine similarities: each image must pick its caption among all
    captions and each caption its image among all images.  Returns (loss, image->text accuracy)."""
    all_text, offset = gather_across_ranks(text_emb)
    all_images, _ = gather_across_ranks(image_emb)
    targets = offset + torch.arange(image_emb.shape[0], device=image_emb.device)
    image_logits = scale * image_emb @ all_text.T
    text_logits = scale * text_emb @ all_images.T
    loss = (F.cross_entropy(image_logits, targets) + F.cross_entropy(text_logits, targets)) / 2
    return loss, (image_logits.argmax(1) == targets).float().mean()


def siglip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor,
                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (image, caption) pair is its own binary problem, matched or not: -log sigmoid(±(s x·y + b)),
    summed over pairs and divided by the batch size as in the paper.  Returns (loss, accuracy)."""
    all_text, offset = gather_across_ranks(text_emb)
    logits = scale * image_emb @ all_text.T + bias
    rows = torch.arange(image_emb.shape[0], device=image_emb.device)
    signs = -torch.ones_like(logits)
    signs[rows, offset + rows] = 1.0
    loss = -F.logsigmoid(signs * logits).sum() / image_emb.shape[0]
    return loss, (logits.argmax(1) == offset + rows).float().mean()


class ImageTextContrastive(nn.Module):
    """Batch ``{"images": (B, C, H, W), "tokens": (B, T), "lengths": (B,)}``; ``loss`` "clip" or "siglip"."""

    def __init__(self, model: DualEncoder, loss: str = "clip"):
        super().__init__()
        if loss not in ("clip", "siglip"):
            raise ValueError(f"loss must be clip or siglip, got {loss!r}")
        if (loss == "siglip") != (model.logit_bias is not None):
            raise ValueError("siglip needs a DualEncoder with a logit bias (init_bias), clip one without")
        self.model, self.loss = model, loss

    def forward(self, batch: dict) -> ObjectiveOutput:
        image_emb = self.model.encode_image(batch["images"])
        text_emb = self.model.encode_text(batch["tokens"], batch["lengths"])
        scale = self.model.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        if self.loss == "clip":
            loss, accuracy = clip_loss(image_emb.float(), text_emb.float(), scale)
        else:
            loss, accuracy = siglip_loss(image_emb.float(), text_emb.float(), scale, self.model.logit_bias)
        return ObjectiveOutput(loss, {"loss": loss.detach(), "contrastive_accuracy": accuracy.detach(),
                                      "logit_scale": scale.detach().squeeze()})
