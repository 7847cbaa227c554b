"""Training batches of prepared images, addressed by batch index (a ``BatchSource``)."""
from __future__ import annotations

import numpy as np
import torch

from headstart.engine.data import EpochSampler
from headstart.errors import HeadstartError
from headstart.vision.arrays import ImageArrays


def pixels_to_images(pixels: np.ndarray) -> torch.Tensor:
    """Stored uint8 pixels (N, H, W, C) -> the float images (N, C, H, W) in [0, 1] models take."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))).float().div_(255.0)


class ImageBatches:
    """Batch ``i``: ``batch_size`` images as float (B, C, H, W) in [0, 1], plus ``labels`` (B,) when the
    split has them and ``with_labels`` is on.

    Images are drawn epoch by epoch without replacement (``EpochSampler``), so batch ``i`` is a pure
    function of ``(seed, i)``: a resumed run asks for it again, with nothing replayed.
    """

    unit = "samples"

    def __init__(self, arrays: ImageArrays, *, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 with_labels: bool = True):
        if len(arrays) == 0:
            raise HeadstartError(f"the {arrays.split} split of {arrays.prepared_dir} holds no images")
        self.arrays, self.batch_size, self.seed = arrays, batch_size, seed
        self.sampler = EpochSampler(len(arrays), batch_size, seed, rank, world_size)
        self.with_labels = with_labels and arrays.labels is not None

    def indices(self, index: int) -> np.ndarray:
        """Which images batch ``index`` holds."""
        return self.sampler.indices(index)

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        # The sampler's indices come sorted: reading in file order lets the memory map page forward.
        pixels, labels = self.arrays.read(self.indices(index))
        batch = {"images": pixels_to_images(pixels)}
        if self.with_labels:
            batch["labels"] = torch.from_numpy(labels)
        return batch

    def units(self, batch: dict) -> int:
        return batch["images"].shape[0]
