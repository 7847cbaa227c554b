"""Training batches of random token windows, as nanoGPT samples them, addressed by batch index."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import HeadstartError


class TokenWindows:
    """Batch ``i`` = ``batch_size`` windows of ``length`` tokens at offsets drawn from a generator seeded
    by ``(seed, i)``: any batch can be produced again without replaying the ones before it.

    Under torchrun, the generator draws the global batch (``batch_size x world_size`` offsets) and each
    rank takes its own slice, so N processes train on exactly the windows one process with an N times
    larger batch would, and no two ranks share a draw."""

    unit = "tokens"

    def __init__(self, shards, *, batch_size: int, length: int, seed: int, tokens_per_window: int,
                 rank: int = 0, world_size: int = 1, split: str = "train"):
        if shards.n_tokens < length:
            raise HeadstartError(f"the {split} split of {shards.prepared_dir} has {shards.n_tokens} tokens, "
                                 f"fewer than one window of {length}; prepare more text or lower data.seq_len")
        self.shards, self.batch_size, self.length = shards, batch_size, length
        self.seed, self.rank, self.world_size, self.tokens_per_window = seed, rank, world_size, tokens_per_window

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        # (seed, index, 0): the seeding of single-process runs before ranks shared one draw.
        rng = np.random.Generator(np.random.PCG64([self.seed, index, 0]))
        starts = rng.integers(0, self.shards.n_tokens - self.length + 1, size=self.batch_size * self.world_size)
        starts = starts[self.rank * self.batch_size: (self.rank + 1) * self.batch_size]
        windows = np.stack([self.shards.read(int(s), self.length) for s in starts])
        return {"tokens": torch.from_numpy(windows.astype(np.int64))}

    def units(self, batch: dict) -> int:
        return batch["tokens"].shape[0] * self.tokens_per_window
