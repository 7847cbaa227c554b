"""BEST-RQ (Chiu et al. 2022): masked prediction of speech with a random-projection quantizer.

Targets come from a frozen random projection and a frozen random codebook: the log-mel frames under
each encoder position (4 stacked frames, the encoder's subsampling) are projected, L2-normalised and
matched to the nearest of ``codebook_size`` random unit vectors; that index is the label.  Nothing
in the quantizer trains, so unlike wav2vec 2.0 there is no codebook to collapse and no diversity loss
to tune.  Spans of input frames are replaced by noise, and the encoder must predict the labels of the
masked positions (cross-entropy, one softmax head per codebook).

Knobs and their defaults here: ``mask_prob`` 0.05 is the chance that a frame starts a masked span of
``mask_span`` = 10 frames (100 ms), which masks about 40% of frames; the paper uses 0.01 and 400 ms
spans on minutes-long LibriSpeech utterances, far too long for one-second keywords.  Codebook of
8192 x 16 and noise N(0, 0.1) on normalised features follow the paper.  The projection and codebook
are seeded buffers saved with the objective, so the targets stay the same across a resume.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..engine import draws
from ..kernels import Linear
from ..models.audio_encoder import SUBSAMPLING
from .base import ObjectiveOutput


class BestRQ(nn.Module):
    """Batch ``{"features": (B, T, n_mels) normalised log-mels, "padding_mask": (B, T) bool}``."""

    def __init__(self, model: nn.Module, *, codebook_size: int = 8192, codebook_dim: int = 16,
                 num_codebooks: int = 1, mask_prob: float = 0.05, mask_span: int = 10, noise_std: float = 0.1,
                 seed: int = 0):
        super().__init__()
        if not 0 < mask_prob < 1 or mask_span < 1:
            raise ValueError(f"mask_prob must be in (0, 1) and mask_span >= 1, got {mask_prob} and {mask_span}")
        self.model, self.mask_prob, self.mask_span, self.noise_std = model, mask_prob, mask_span, noise_std
        stacked = SUBSAMPLING * model.cfg.n_mels
        g = torch.Generator().manual_seed(seed)
        # Xavier-normal projection and a standard-normal codebook, as in the paper; persistent buffers.
        projection = torch.randn(num_codebooks, stacked, codebook_dim, generator=g) * (2 / (stacked + codebook_dim)) ** 0.5
        codebooks = F.normalize(torch.randn(num_codebooks, codebook_size, codebook_dim, generator=g), dim=-1)
        self.register_buffer("projection", projection)
        self.register_buffer("codebooks", codebooks)
        self.heads = nn.ModuleList(Linear(model.feature_dim, codebook_size) for _ in range(num_codebooks))

    @torch.no_grad()
    def targets(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, n_mels) -> (B, ceil(T / 4), num_codebooks) codebook indices of each stack of 4 frames."""
        b, t, f = frames.shape
        pad = -t % SUBSAMPLING
        stacked = F.pad(frames, (0, 0, 0, pad)).reshape(b, (t + pad) // SUBSAMPLING, SUBSAMPLING * f)
        projected = F.normalize(torch.einsum("btd,cde->btce", stacked.float(), self.projection), dim=-1)
        # Nearest unit vector = highest cosine similarity.
        return torch.einsum("btce,cke->btck", projected, self.codebooks).argmax(-1)

    def span_mask(self, padding_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: frames in spans of ``mask_span`` that start where a uniform draw < mask_prob
        (each clip's own draws, ``engine.draws.rand_rows``: the same whatever else is in the batch); padding is
        never masked."""
        lengths = padding_mask.sum(1)
        starts = (draws.rand_rows(lengths, padding_mask.shape[1], device=padding_mask.device) < self.mask_prob).float()
        # A frame is masked when a span started within the last mask_span frames: a causal box filter.
        covered = F.conv1d(F.pad(starts.unsqueeze(1), (self.mask_span - 1, 0)),
                           torch.ones(1, 1, self.mask_span, device=starts.device)).squeeze(1)
        return (covered > 0) & padding_mask

    def forward(self, batch: dict) -> ObjectiveOutput:
        frames = batch["features"]
        padding = batch.get("padding_mask")
        if padding is None:
            padding = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
        # Targets and masking see the frames as the encoder does (e.g. less each clip's mean frame), so that
        # a masked frame's noise is not shifted by a normalisation applied after it.
        frames = self.model.normalize(frames, padding)
        masked = self.span_mask(padding)
        noise = draws.randn_rows(padding.sum(1), frames.shape[1], frames.shape[2], device=frames.device, dtype=frames.dtype)
        noisy = torch.where(masked.unsqueeze(-1), noise * self.noise_std, frames)
        hidden, out_mask = self.model.encode(noisy, padding, normalized=True)
        targets = self.targets(frames)
        # An encoder position is scored when any of its frames was masked, and it is not padding.
        t = frames.shape[1]
        scored = F.pad(masked, (0, -t % SUBSAMPLING)).reshape(masked.shape[0], -1, SUBSAMPLING).any(-1) & out_mask
        fraction = (masked.sum() / padding.sum().clamp(min=1)).detach()
        # Only the scored positions go through the heads (8192-way): a boolean index, which costs one
        # device sync, instead of projecting every position to the codebook.
        chosen = hidden[scored]  # (N, d_model)
        # Each head's loss is summed here and divided by the processes' mean count, so that under torchrun their
        # average is the one-process loss (``draws.global_count``); computed before the branch below, by every process.
        n_scored = draws.global_count(scored.sum()).clamp(min=1)
        if chosen.shape[0] == 0:  # a batch with nothing masked (tiny clips): no signal, but a valid graph
            zero = hidden.sum() * 0.0
            return ObjectiveOutput(zero, {"loss": zero.detach(), "masked_accuracy": zero.detach(),
                                          "masked_fraction": fraction})
        losses, correct = [], []
        for c, head in enumerate(self.heads):
            logits = head(chosen).float()
            labels = targets[..., c][scored]
            losses.append(F.cross_entropy(logits, labels, reduction="sum") / n_scored)
            correct.append((logits.argmax(-1) == labels).float().sum() / n_scored)
        loss = torch.stack(losses).mean()
        return ObjectiveOutput(loss, {"loss": loss.detach(), "masked_accuracy": torch.stack(correct).mean().detach(),
                                      "masked_fraction": fraction})
