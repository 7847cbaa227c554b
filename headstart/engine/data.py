"""What the engine needs from data: batches addressed by index.

A ``BatchSource`` returns batch ``i`` as a pure function of ``i`` (and its own seed).  That is what
makes resume exact and instant: the engine stores the next batch index in the checkpoint and asks for
it again, with no replay of the data seen so far and no loader state to pickle.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class BatchSource(Protocol):
    unit: str  # what throughput counts, e.g. "tokens" or "samples"

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        """Batch number ``index``; the same index always gives the same batch."""

    def units(self, batch: dict[str, torch.Tensor]) -> int:
        """How many units (tokens, samples) the batch trains on."""


class EpochSampler:
    """Which examples batch ``i`` holds, for data of ``count`` examples read in batches of ``batch_size``.

    Epoch ``e`` is a permutation seeded by ``(seed, e)``; global batch ``i`` takes positions
    ``[i * W * B, (i + 1) * W * B)`` of the epochs laid end to end and each of the ``W`` ranks its ``B`` of
    them, so that ranks never share an example within an epoch.  A pure function of ``(seed, i)``: a resumed
    run asks for the same batch again, with nothing replayed.
    """

    def __init__(self, count: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size {world_size})")
        self.count, self.batch_size, self.seed, self.rank, self.world_size = count, batch_size, seed, rank, world_size
        self._epoch: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))  # cache: one permutation

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._epoch[0] != epoch:
            self._epoch = (epoch, np.random.Generator(np.random.PCG64([self.seed, epoch])).permutation(self.count))
        return self._epoch[1]

    def indices(self, index: int) -> np.ndarray:
        """This rank's examples of batch ``index``, in increasing order: the global batch (``world_size x B``
        examples) is sorted, then cut into the ranks' slices, so the ranks' batches laid end to end are the one
        process batch of ``world_size x B`` row for row (per-example draws follow rows: ``engine.draws``), and
        a memory map is read forward."""
        width = self.batch_size * self.world_size
        positions = np.arange(index * width, (index + 1) * width, dtype=np.int64)
        out = np.empty(width, dtype=np.int64)
        for epoch in np.unique(positions // self.count):  # a batch may straddle the end of an epoch
            in_epoch = positions // self.count == epoch
            out[in_epoch] = self._permutation(int(epoch))[positions[in_epoch] % self.count]
        out.sort()
        return out[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
