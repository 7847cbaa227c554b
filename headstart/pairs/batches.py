"""Training batches of prepared image–caption pairs, addressed by batch index (a ``BatchSource``)."""
from __future__ import annotations

import numpy as np
import torch

from headstart.engine.data import EpochSampler
from headstart.errors import HeadstartError
from headstart.pairs.arrays import PairArrays
from headstart.vision.batches import pixels_to_images


def pair_batch(pixels: np.ndarray, tokens: np.ndarray, lengths: np.ndarray) -> dict[str, torch.Tensor]:
    """Stored pairs -> what ``ImageTextContrastive`` takes; tokens cut to the longest caption in the batch."""
    longest = int(lengths.max()) if len(lengths) else 1
    return {"images": pixels_to_images(pixels), "tokens": torch.from_numpy(tokens[:, :longest].astype(np.int64)),
            "lengths": torch.from_numpy(lengths.astype(np.int64))}


class PairBatches:
    """Batch ``i``: ``batch_size`` pairs drawn epoch by epoch without replacement (``EpochSampler``), so
    batch ``i`` is a pure function of ``(seed, i)`` and a resumed run replays nothing."""

    unit = "samples"

    def __init__(self, arrays: PairArrays, *, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if len(arrays) == 0:
            raise HeadstartError(f"the {arrays.split} split of {arrays.prepared_dir} holds no pairs")
        self.arrays, self.batch_size, self.seed = arrays, batch_size, seed
        # A batch larger than the split would repeat pairs, and a pair's copy is not its negative.
        self.sampler = EpochSampler(len(arrays), min(batch_size, len(arrays)), seed, rank, world_size)

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        return pair_batch(*self.arrays.read(self.sampler.indices(index)))

    def units(self, batch: dict) -> int:
        return batch["images"].shape[0]
