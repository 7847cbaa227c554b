"""Log-mel features: the short-time power spectrum, pooled by a mel filterbank, in log scale.

The filterbank is ours (about twenty lines, the Slaney mel scale with Slaney area normalisation:
librosa's default) rather than torchaudio's or librosa's: torchaudio is built against one exact torch
version and would pin the user's torch, and librosa brings numba.  The STFT is torch's.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

LOG_FLOOR = 1e-6  # added to mel power before the log: digital silence maps to ln(1e-6) = -13.8, not -inf

_F_SP = 200.0 / 3  # Slaney: linear at 66.7 Hz a mel below 1 kHz ...
_MIN_LOG_HZ = 1000.0
_LOGSTEP = np.log(6.4) / 27.0  # ... and logarithmic above it


def hz_to_mel(hz) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    log_part = _MIN_LOG_HZ / _F_SP + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log_part, hz / _F_SP)


def mel_to_hz(mel) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    min_log_mel = _MIN_LOG_HZ / _F_SP
    return np.where(mel >= min_log_mel, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - min_log_mel)), mel * _F_SP)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, equally spaced in mel, each of unit area in Hz."""
    fmax = sample_rate / 2 if fmax is None else fmax
    bins_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins_hz[None, :]
    rising, falling = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


@dataclass(frozen=True)
class LogMel:
    """Waveform (samples,) float at ``sample_rate`` -> (frames, n_mels) float32 log-mel power, one frame
    every ``hop_ms`` over a Hann window of ``win_ms``; frames are centred (frame ``t`` at ``t * hop``)."""

    sample_rate: int
    n_mels: int
    win_ms: float = 25.0
    hop_ms: float = 10.0

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << max(self.win_length - 1, 1).bit_length()  # the next power of two

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @cached_property
    def _filters(self) -> torch.Tensor:
        return torch.from_numpy(mel_filterbank(self.sample_rate, self.n_fft, self.n_mels))

    @cached_property
    def _window(self) -> torch.Tensor:
        return torch.hann_window(self.win_length)

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
        # Constant (zero) padding at the edges: reflection needs a clip longer than half a window.
        spectrum = torch.stft(x, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                              window=self._window, center=True, pad_mode="constant", return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()  # (n_fft // 2 + 1, frames)
        return torch.log(self._filters @ power + LOG_FLOOR).T.contiguous().numpy()
