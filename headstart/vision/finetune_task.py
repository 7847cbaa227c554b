"""Image classification for ``headstart finetune`` and ``compare``: labeled splits of folders from
``headstart prepare images``, and logistic regression on raw pixels as the classical baseline."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..config import resolve_vision_model
from ..errors import HeadstartError
from ..finetune.config import FinetuneConfig
from ..finetune.prepared_task import LabeledRows, PreparedFolderTask
from ..modality import LabeledBatches, TaskBackbone, with_dropout
from ..models.vision_presets import vision_model
from ..models.vit import VisionTransformer
from ..objectives.image_classification import ImageClassification
from ..transfer.probes import raw_features_logreg
from .arrays import ImageArrays, load_image_manifest
from .augment import random_resized_crop, strong_augment
from .batches import pixels_to_images
from .pretrained import check_image_model_fits, load_image_model

# Fine-tuning crops (``task.augment``): mild, and no flip, since a mirrored digit or letter is another
# symbol.  Natural photos would take flips too; that is what pre-training's augmentations are for.
FINETUNE_CROP_SCALE = (0.7, 1.0)


class LabeledImages(LabeledRows):
    """Labeled images from prepared folders; ``pixels`` stacks them for a batch."""

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.parts[0].shape

    def pixels(self, indices: Sequence[int]) -> np.ndarray:
        """(n, H, W, C) uint8 of examples ``indices``."""
        items = self.items(indices)
        return np.stack(items) if items else np.empty((0, *self.shape), dtype=np.uint8)


class ImageClassificationBatches(LabeledBatches):
    """``{"images": float (B, C, H, W) in [0, 1], "labels": (B,)}``."""

    def __init__(self, data: LabeledImages, batch_size: int, seed: int = 0):
        self.data = data
        super().__init__(len(data), batch_size, seed)

    def collate(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        return {"images": pixels_to_images(self.data.pixels(indices)),
                "labels": torch.from_numpy(self.data.labels[indices])}


def _crop(images: torch.Tensor) -> torch.Tensor:
    return random_resized_crop(images, tuple(images.shape[-2:]), scale=FINETUNE_CROP_SCALE)


class ImageBackbone(TaskBackbone):
    def __init__(self, model: nn.Module, source: str, cfg: FinetuneConfig):
        if cfg.dropout is not None and not isinstance(model, VisionTransformer):
            raise HeadstartError(f"dropout: {type(model).__name__} has no dropout layers; leave dropout unset")
        model = with_dropout(model, cfg.dropout)
        if cfg.pooling != "auto":
            raise HeadstartError(f"pooling: {cfg.pooling!r} applies to text models; an image model pools as its "
                                 f"config says (a ViT's pool: cls or mean)")
        if cfg.task.max_length is not None:
            raise HeadstartError("task.max_length: a text setting; image tasks take the prepared image size")
        self.model, self.source, self.cfg = model, source, cfg

    def objective(self, num_classes: int) -> nn.Module:
        return ImageClassification(self.model, num_classes, augment=_crop if self.cfg.task.augment else None)

    def batches(self, data: LabeledImages, batch_size: int, seed: int = 0) -> ImageClassificationBatches:
        return ImageClassificationBatches(data, batch_size, seed)

    def with_fresh_weights(self) -> "ImageBackbone":
        return ImageBackbone(vision_model(self.model.cfg), f"random init (architecture of {self.source})", self.cfg)

    def consistency_views(self, method: str):
        """FixMatch's views: the weak one a mild crop (no flip: a mirrored digit is another symbol), the strong one
        a crop, colour jitter, blur and cutout (``strong_augment``)."""
        def weak(batch: dict) -> dict:
            return {**batch, "images": _crop(batch["images"])}

        def strong(batch: dict) -> dict:
            return {**batch, "images": strong_augment(batch["images"])}
        return weak, strong

    def describe(self) -> str:
        pooling = f"{self.model.cfg.pool} pooling" if isinstance(self.model, VisionTransformer) else "average pooling"
        return pooling + (", random crops" if self.cfg.task.augment else "")


class ImageTask(PreparedFolderTask):
    name = "images"
    unit = "images"
    arrays = ImageArrays
    load_manifest = staticmethod(load_image_manifest)
    data_class = LabeledImages
    baseline_name = "logistic regression on pixels"
    baseline_protocol = "raw_features_logreg"

    def compatible(self, train: LabeledImages, other: LabeledImages) -> None:
        if other.shape != train.shape:
            raise HeadstartError(f"{other.source}: images are {_size(other.shape)} but the training images are "
                                 f"{_size(train.shape)}; prepare both with the same --size and --mode")

    def backbone(self, cfg: FinetuneConfig) -> ImageBackbone:
        shape = ImageArrays(cfg.task.train.path, cfg.task.train.split or "train").shape
        if cfg.init is not None:
            backbone = self.load(cfg.init, cfg)
            return backbone.with_fresh_weights() if cfg.scratch else backbone
        height, width, channels = shape
        try:
            arch = resolve_vision_model(cfg.model, image_size=(height, width), channels=channels)
        except (ValueError, KeyError) as e:
            raise HeadstartError(f"{e}") from None
        return ImageBackbone(vision_model(arch), "random init", cfg)

    def load(self, checkpoint: Path, cfg: FinetuneConfig) -> ImageBackbone:
        model, found, _ = load_image_model(checkpoint)
        check_image_model_fits(model, ImageArrays(cfg.task.train.path, cfg.task.train.split or "train").shape, found)
        return ImageBackbone(model, str(found), cfg)

    def baseline(self, train: LabeledImages, test: LabeledImages, seed: int) -> float:
        scale = functools.partial(np.multiply, 1 / 255.0, dtype=np.float32)
        return raw_features_logreg(scale(train.pixels(np.arange(len(train)))), train.labels,
                                   scale(test.pixels(np.arange(len(test)))), test.labels, seed=seed)


def _size(shape: tuple[int, int, int]) -> str:
    return "{}x{}x{}".format(*shape)
