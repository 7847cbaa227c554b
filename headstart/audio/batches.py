"""Batches of prepared log-mel clips: normalised, padded to the longest clip, with a padding mask."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ..engine.data import EpochSampler
from ..errors import HeadstartError
from ..modality import LabeledBatches
from .arrays import AudioArrays


def collate_clips(clips: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray,
                  max_frames: Optional[int] = None) -> dict[str, torch.Tensor]:
    """Clips (T_i, n_mels) -> ``features`` (B, T, n_mels) normalised per mel bin with the training
    split's statistics (zeros where padded) and ``padding_mask`` (B, T), True on real frames.
    Clips longer than ``max_frames`` keep their first ``max_frames``."""
    lengths = [min(len(c), max_frames or len(c)) for c in clips]
    longest = max(max(lengths), 1)
    features = np.zeros((len(clips), longest, len(mean)), dtype=np.float32)
    mask = np.zeros((len(clips), longest), dtype=bool)
    for row, (clip, n) in enumerate(zip(clips, lengths)):
        features[row, :n] = (clip[:n] - mean) / std
        mask[row, :n] = True
    return {"features": torch.from_numpy(features), "padding_mask": torch.from_numpy(mask)}


class AudioBatches:
    """Pre-training batches: batch ``i`` is a pure function of ``(seed, i)`` (``EpochSampler``);
    ``labels`` when asked for and the split has them."""

    unit = "samples"

    def __init__(self, arrays: AudioArrays, *, batch_size: int, seed: int, max_frames: int, rank: int = 0,
                 world_size: int = 1, with_labels: bool = False):
        if len(arrays) == 0:
            raise HeadstartError(f"the {arrays.split} split of {arrays.prepared_dir} holds no clips")
        self.arrays, self.batch_size, self.seed, self.max_frames = arrays, batch_size, seed, max_frames
        self.sampler = EpochSampler(len(arrays), batch_size, seed, rank, world_size)
        self.with_labels = with_labels and arrays.labels is not None

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        clips, labels = self.arrays.read(self.sampler.indices(index))  # in file order
        batch = collate_clips(clips, self.arrays.feature_mean, self.arrays.feature_std, self.max_frames)
        if self.with_labels:
            batch["labels"] = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        return batch

    def units(self, batch: dict) -> int:
        return batch["features"].shape[0]


class AudioClassificationBatches(LabeledBatches):
    """Fine-tuning batches of labeled clips (``LabeledClips``), normalised with ``mean`` and ``std``."""

    def __init__(self, data, batch_size: int, seed: int, mean: np.ndarray, std: np.ndarray, max_frames: int):
        self.data, self.mean, self.std, self.max_frames = data, mean, std, max_frames
        super().__init__(len(data), batch_size, seed)

    def collate(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        batch = collate_clips(self.data.items(indices), self.mean, self.std, self.max_frames)
        batch["labels"] = torch.from_numpy(self.data.labels[indices])
        return batch
