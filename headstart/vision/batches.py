"""Training batches of prepared images, addressed by batch index (a ``BatchSource``)."""
from __future__ import annotations

import numpy as np
import torch

from headstart.errors import HeadstartError
from headstart.vision.arrays import ImageArrays


def pixels_to_images(pixels: np.ndarray) -> torch.Tensor:
    """Stored uint8 pixels (N, H, W, C) -> the float images (N, C, H, W) in [0, 1] models take."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))).float().div_(255.0)


class ImageBatches:
    """Batch ``i``: ``batch_size`` images as float (B, C, H, W) in [0, 1], plus ``labels`` (B,) when the
    split has them and ``with_labels`` is on.

    Images are drawn epoch by epoch without replacement: epoch ``e`` is a permutation seeded by
    ``(seed, e)``, and batch ``i`` takes positions ``[i * B, (i + 1) * B)`` of the epochs laid end to
    end, interleaved across ``world_size`` ranks so that ranks never share an image within an epoch.
    Batch ``i`` is therefore a pure function of ``(seed, i)``: a resumed run asks for it again, with
    nothing replayed.
    """

    unit = "samples"

    def __init__(self, arrays: ImageArrays, *, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 with_labels: bool = True):
        if len(arrays) == 0:
            raise HeadstartError(f"the {arrays.split} split of {arrays.prepared_dir} holds no images")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size {world_size})")
        self.arrays, self.batch_size, self.seed = arrays, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.with_labels = with_labels and arrays.labels is not None
        self._epoch: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))  # cache: one permutation

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._epoch[0] != epoch:
            rng = np.random.Generator(np.random.PCG64([self.seed, epoch]))
            self._epoch = (epoch, rng.permutation(len(self.arrays)))
        return self._epoch[1]

    def indices(self, index: int) -> np.ndarray:
        """Which images batch ``index`` holds."""
        n = len(self.arrays)
        first = (index * self.world_size + self.rank) * self.batch_size
        positions = np.arange(first, first + self.batch_size, dtype=np.int64)
        out = np.empty(self.batch_size, dtype=np.int64)
        for epoch in np.unique(positions // n):  # a batch may straddle the end of an epoch
            in_epoch = positions // n == epoch
            out[in_epoch] = self._permutation(int(epoch))[positions[in_epoch] % n]
        return out

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        # Sorted: the order within a batch means nothing to training, and reading in file order lets
        # the memory map page forward.
        pixels, labels = self.arrays.read(np.sort(self.indices(index)))
        batch = {"images": pixels_to_images(pixels)}
        if self.with_labels:
            batch["labels"] = torch.from_numpy(labels)
        return batch

    def units(self, batch: dict) -> int:
        return batch["images"].shape[0]
