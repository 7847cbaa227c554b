"""SpecAugment for fine-tuning (``task.augment``), on whole batches of normalised log-mels.

Park et al. 2019, without time warping (the paper found it the least useful part): each clip gets
``freq_masks`` bands of up to ``freq_width`` mel bins and ``time_masks`` spans of up to ``time_width``
frames (and at most ``max_time_fraction`` of the clip) set to zero, the mean of normalised features.
Defaults are sized for one-second keywords at 40 mel bins, like Speech Commands recipes; the
paper's LibriSpeech values (F=27 of 80 bins, T=100 frames) would blank most of such a clip.
Draws are the engine's per-example draws (``engine.draws``), the global torch RNG outside training.
"""
from __future__ import annotations

import torch

from ..engine import draws


def _bands(lengths: torch.Tensor, count: int, width: torch.Tensor, size: int) -> torch.Tensor:
    """(B, size) bool: ``count`` random spans per row of up to ``width`` (B,) positions within ``lengths`` (B,)."""
    b = lengths.shape[0]
    widths = (draws.rand(b, count, device=lengths.device) * (width[:, None] + 1)).floor()
    starts = (draws.rand(b, count, device=lengths.device) * (lengths[:, None] - widths + 1).clamp(min=1)).floor()
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


def warp_and_stretch(features: torch.Tensor, padding_mask: torch.Tensor, pitch: torch.Tensor,
                     speed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip ``i`` with its mel axis scaled by ``pitch[i]`` (output bin m reads input bin m * pitch: above 1 the
    voice sounds lower, as vocal-tract-length perturbation does) and played ``speed[i]`` times as fast (output
    frame t reads input frame t * speed; the clip gets shorter above 1).  Bins and frames read from beyond the
    clip are zero, the mean of normalised features.  Returns (features, padding_mask) of the same shape."""
    b, t, m = features.shape
    frames = torch.arange(t, device=features.device, dtype=features.dtype)
    bins = torch.arange(m, device=features.device, dtype=features.dtype)
    # grid_sample's coordinates: -1 and 1 are the outer edges of the first and last cell (align_corners=False).
    y = ((frames[None, :] + 0.5) * speed[:, None]) / t * 2 - 1  # (B, T)
    x = ((bins[None, :] + 0.5) * pitch[:, None]) / m * 2 - 1  # (B, M)
    grid = torch.stack(torch.broadcast_tensors(x[:, None, :], y[:, :, None]), dim=-1)  # (B, T, M, 2): (x, y)
    lengths = padding_mask.sum(1).to(features.dtype)
    kept = frames[None, :] < torch.floor(lengths / speed)[:, None].clamp(min=1)
    inside = features * padding_mask[..., None].to(features.dtype)  # padding must not leak into the clip's end
    out = torch.nn.functional.grid_sample(inside[:, None], grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)[:, 0]
    return out * kept[..., None].to(features.dtype), kept


def random_warp_and_stretch(features: torch.Tensor, padding_mask: torch.Tensor, *, pitch=(0.9, 1.1),
                            speed=(0.9, 1.1)) -> tuple[torch.Tensor, torch.Tensor]:
    """``warp_and_stretch`` with a pitch and a speed factor drawn uniformly per clip (UDA's and Kaldi's speed
    perturbation use 0.9-1.1)."""
    b = features.shape[0]
    draw = lambda low, high: draws.rand(b, device=features.device).to(features.dtype) * (high - low) + low  # noqa: E731
    return warp_and_stretch(features, padding_mask, draw(*pitch), draw(*speed))
