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
from ..finetune.config import DataRef, FinetuneConfig, TaskConfig
from ..finetune.task import LabeledBatches, TaskBackbone, TaskModality
from ..models.vision_presets import vision_model
from ..models.vit import VisionTransformer
from ..objectives.image_classification import ImageClassification
from ..transfer.probes import raw_features_logreg
from .arrays import SPLITS, ImageArrays, load_image_manifest
from .augment import random_resized_crop
from .batches import pixels_to_images
from .pretrained import check_image_model_fits, load_image_model

# Fine-tuning crops (``task.augment``): mild, and no flip, since a mirrored digit or letter is another
# symbol.  Natural photos would take flips too; that is what pre-training's augmentations are for.
FINETUNE_CROP_SCALE = (0.7, 1.0)


class LabeledImages:
    """Labeled images drawn from one or more splits of prepared folders, read lazily from their maps."""

    def __init__(self, parts: list[ImageArrays], rows: np.ndarray, labels: np.ndarray, label_names: list[str],
                 source: str):
        self.parts, self.rows, self.labels = parts, rows, labels  # rows: (N, 2) of (part, row in that part)
        self.label_names, self.source = label_names, source

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.parts[0].shape

    def subset(self, indices: Sequence[int]) -> "LabeledImages":
        indices = np.asarray(indices, dtype=np.int64)
        return LabeledImages(self.parts, self.rows[indices], self.labels[indices], self.label_names, self.source)

    def pixels(self, indices: Sequence[int]) -> np.ndarray:
        """(n, H, W, C) uint8 of examples ``indices``."""
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        out = np.empty((len(rows), *self.shape), dtype=np.uint8)
        for part in np.unique(rows[:, 0]):
            here = rows[:, 0] == part
            out[here] = self.parts[part].read(rows[here, 1])[0]
        return out


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
        if cfg.dropout is not None:
            if not isinstance(model, VisionTransformer):
                raise HeadstartError(f"dropout: {type(model).__name__} has no dropout layers; leave dropout unset")
            if cfg.dropout != model.cfg.dropout:  # dropout is architecture config: rebuild, keep the weights
                rebuilt = VisionTransformer(model.cfg.model_copy(update={"dropout": cfg.dropout}))
                rebuilt.load_state_dict(model.state_dict())
                model = rebuilt
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

    def describe(self) -> str:
        pooling = f"{self.model.cfg.pool} pooling" if isinstance(self.model, VisionTransformer) else "average pooling"
        return pooling + (", random crops" if self.cfg.task.augment else "")


class ImageTask(TaskModality):
    name = "images"
    baseline_name = "logistic regression on pixels"
    baseline_protocol = "raw_features_logreg"

    def read(self, ref: DataRef, task: TaskConfig, key: str) -> LabeledImages:
        splits = self._splits(ref, key)
        parts = [ImageArrays(ref.path, split) for split in splits]
        names = parts[0].class_names
        if names is None:
            raise HeadstartError(f"{key}: {ref.path} was prepared without labels; fine-tuning needs labeled "
                                 f"images (prepare class folders, idx labels or .npz with y)")
        rows = np.concatenate([np.stack((np.full(len(p), i), np.arange(len(p))), 1) for i, p in enumerate(parts)])
        labels = np.concatenate([p.labels for p in parts]).astype(np.int64)
        where = f"{ref.path} ({'+'.join(splits)})"
        if len(rows) == 0:
            raise HeadstartError(f"{key}: {where} holds no images")
        return LabeledImages(parts, rows.astype(np.int64), labels, list(names), where)

    @staticmethod
    def _splits(ref: DataRef, key: str) -> list[str]:
        if ref.split is not None:
            if ref.split not in SPLITS:
                raise HeadstartError(f"{key}.split: {ref.split!r} is not a split of a prepared folder "
                                     f"({', '.join(SPLITS)})")
            return [ref.split]
        if key == "task.train":
            return ["train"]
        manifest = load_image_manifest(ref.path)
        return [s for s in SPLITS if manifest.get("splits", {}).get(s, {}).get("images")] or ["train"]

    def check_overlap(self, task: TaskConfig) -> None:
        train = set(self._splits(task.train, "task.train"))
        for key, ref in (("task.val", task.val), ("task.test", task.test)):
            if ref is not None and _same_folder(ref.path, task.train.path):
                shared = train & set(self._splits(ref, key))
                if shared:
                    raise HeadstartError(f"{key}: the {'+'.join(sorted(shared))} split of {ref.path} is also "
                                         f"task.train's; name another split, e.g. {{path: {ref.path}, split: val}}")

    def align(self, train: LabeledImages, other: LabeledImages) -> LabeledImages:
        ids = {name: i for i, name in enumerate(train.label_names)}
        mapping = np.full(len(other.label_names), -1, dtype=np.int64)
        for i, name in enumerate(other.label_names):
            mapping[i] = ids.get(name, -1)
        unseen = sorted({other.label_names[c] for c in np.unique(other.labels) if mapping[c] < 0})
        if unseen:
            raise HeadstartError(f"{other.source}: class {unseen[0]!r} never appears in the training set "
                                 f"{train.source} (training classes: {', '.join(train.label_names[:20])})")
        if other.shape != train.shape:
            raise HeadstartError(f"{other.source}: images are {_size(other.shape)} but the training images are "
                                 f"{_size(train.shape)}; prepare both with the same --size and --mode")
        return LabeledImages(other.parts, other.rows, mapping[other.labels], train.label_names, other.source)

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


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False

