"""Watch image pre-training as it runs: an online kNN probe and a collapse check.

A self-supervised loss falling says little about the features (a collapsed model can reach a low
loss); how well the nearest labeled neighbours classify held-out images says more, costs no
training, and is what solo-learn and lightly log during pre-training.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from ..transfer.probes import knn_probe
from .arrays import ImageArrays
from .batches import pixels_to_images

log = logging.getLogger("headstart.vision")

COLLAPSE_STD = 0.1  # embedding_std about 1 is healthy; near 0 every image maps to the same point


class OnlineKNN:
    """``knn_accuracy`` of the backbone's features: fitted on up to ``train_images`` labeled train
    images, scored on up to ``val_images`` val images; the same images at every evaluation.

    >>> knn = OnlineKNN(ImageArrays(path, "train"), ImageArrays(path, "val"), train_images=2000, val_images=1000)
    >>> knn(model)                       # {"knn_accuracy": 0.93}
    """

    def __init__(self, train: ImageArrays, val: ImageArrays, *, train_images: int, val_images: int,
                 seed: int = 0, batch_size: int = 256):
        # The subsets are read once and kept (a few MB at most): every evaluation re-encodes the same pixels.
        self.train_pixels, self.train_labels = _subset(train, train_images, seed)
        self.val_pixels, self.val_labels = _subset(val, val_images, seed + 1)
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, float]:
        train_features = self._features(model, self.train_pixels)
        val_features = self._features(model, self.val_pixels)
        return {"knn_accuracy": knn_probe(train_features, self.train_labels, val_features, self.val_labels)}

    def _features(self, model: nn.Module, pixels: np.ndarray) -> np.ndarray:
        device = next(model.parameters()).device
        chunks = []
        for start in range(0, len(pixels), self.batch_size):
            images = pixels_to_images(pixels[start:start + self.batch_size]).to(device)
            chunks.append(model.features(images).float().cpu().numpy())
        return np.concatenate(chunks)


def _subset(arrays: ImageArrays, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` images of ``arrays`` drawn at random (with ``seed``), and their labels."""
    chosen = np.random.default_rng(seed).permutation(len(arrays))[:limit]
    return arrays.read(np.sort(chosen))


def warn_if_collapsed(metrics: dict) -> None:
    """Log a warning when SimCLR's validation ``embedding_std`` says the embeddings have collapsed.

    Validation runs in eval mode, where the projection head's BatchNorm uses running statistics;
    those take a few dozen steps to settle, so an evaluation that early can read low on its own.
    """
    std = metrics.get("embedding_std")
    if std is not None and std < COLLAPSE_STD:
        log.warning("embedding_std %.3f is below %.1f: the embeddings are collapsing to one point "
                    "(try a lower train.lr, a larger train.batch_size or a higher objective.temperature)",
                    std, COLLAPSE_STD)
