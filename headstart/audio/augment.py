"""SpecAugment for fine-tuning (``task.augment``), on whole batches of normalised log-mels.

Park et al. 2019, without time warping (the paper found it the least useful part): each clip gets
``freq_masks`` bands of up to ``freq_width`` mel bins and ``time_masks`` spans of up to ``time_width``
frames (and at most ``max_time_fraction`` of the clip) set to zero, the mean of normalised features.
Defaults are sized for one-second keywords at 40 mel bins, like Speech Commands recipes; the
paper's LibriSpeech values (F=27 of 80 bins, T=100 frames) would blank most of such a clip.
Draws come from the global torch RNG, which the engine saves and restores on resume.
"""
from __future__ import annotations

import torch


def _bands(lengths: torch.Tensor, count: int, width: torch.Tensor, size: int) -> torch.Tensor:
    """(B, size) bool: ``count`` random spans per row of up to ``width`` (B,) positions within ``lengths`` (B,)."""
    b = lengths.shape[0]
    widths = (torch.rand(b, count, device=lengths.device) * (width[:, None] + 1)).floor()
    starts = (torch.rand(b, count, device=lengths.device) * (lengths[:, None] - widths + 1).clamp(min=1)).floor()
    positions = torch.arange(size, device=lengths.device)[None, None, :]
    return ((positions >= starts[..., None]) & (positions < (starts + widths)[..., None])).any(1)


def spec_augment(features: torch.Tensor, padding_mask: torch.Tensor, *, freq_masks: int = 2, freq_width: int = 8,
                 time_masks: int = 2, time_width: int = 10, max_time_fraction: float = 0.2) -> torch.Tensor:
    """(B, T, n_mels) features with SpecAugment's frequency and time masks applied; padding untouched."""
    b, t, m = features.shape
    lengths = padding_mask.sum(1).float()
    freq = _bands(torch.full((b,), float(m), device=features.device), freq_masks,
                  torch.full((b,), float(freq_width), device=features.device), m)
    span_width = torch.minimum(torch.full_like(lengths, float(time_width)), (lengths * max_time_fraction).floor())
    time = _bands(lengths, time_masks, span_width, t)
    keep = ~(freq[:, None, :] | time[:, :, None])
    return features * keep.to(features.dtype)
