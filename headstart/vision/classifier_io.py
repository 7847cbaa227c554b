"""Image classifiers for ``headstart predict`` / ``evaluate`` / ``load_classifier``: images are decoded
exactly as ``prepare images`` decoded the training set (mode, cover-resize, centre crop), so a file
predicts the same as its prepared copy."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..classifier.io import ClassifierIO, InputItem, expand_files, inference_config
from ..errors import HeadstartError
from ..models.vision_presets import vision_model_from_record, vision_model_record
from .arrays import ImageArrays, load_image_manifest
from .decode import UnreadableImage, decode_image, fit_pixels
from .finetune_task import ImageBackbone
from .readers import IMAGE_SUFFIXES


class IO(ClassifierIO):
    def record(self, backbone: ImageBackbone, cfg) -> tuple[dict, dict[str, Path]]:
        height, width, channels = ImageArrays(cfg.task.train.path, cfg.task.train.split or "train").shape
        mode = load_image_manifest(cfg.task.train.path).get("mode", "RGB" if channels == 3 else "L")
        return ({"model": vision_model_record(backbone.model.cfg), "head": {},
                 "inputs": {"height": height, "width": width, "channels": channels, "mode": mode,
                            "resize": "cover, then centre crop (bicubic)", "scale": "pixels / 255"}}, {})

    def backbone(self, meta: dict, folder: Path) -> ImageBackbone:
        return ImageBackbone(vision_model_from_record(meta["model"]), str(folder), inference_config(folder))

    def from_python(self, meta: dict, inputs: Sequence) -> Iterator[InputItem]:
        inputs_ = meta["inputs"]
        for i, value in enumerate(inputs):
            name = str(value) if isinstance(value, (str, Path)) else f"input {i}"
            if isinstance(value, (str, Path)):
                yield _decoded(Path(value), inputs_)
            elif isinstance(value, np.ndarray) or hasattr(value, "getbands"):  # an array or a PIL image
                pixels = np.asarray(value)
                if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
                    yield InputItem(name, problem=f"expected (H, W) or (H, W, C) uint8 pixels, got {pixels.dtype} "
                                                  f"{pixels.shape}")
                    continue
                pixels = pixels[..., None] if pixels.ndim == 2 else pixels
                yield InputItem(name, fit_pixels(pixels[None], inputs_["height"], inputs_["width"], inputs_["mode"])[0])
            else:
                yield InputItem(name, problem=f"an image classifier takes image paths, arrays or PIL images, "
                                              f"not {type(value).__name__}")

    def from_sources(self, meta: dict, sources: Sequence[str], options: dict) -> Iterator[InputItem]:
        labels = set(meta["labels"])
        for path, root in expand_files(sources, IMAGE_SUFFIXES):
            item = _decoded(path, meta["inputs"])
            # ImageFolder layout (root/<class>/...): the class folder is the true label.
            if root is not None and len(path.relative_to(root).parts) > 1 and path.relative_to(root).parts[0] in labels:
                item.label = path.relative_to(root).parts[0]
            yield item

    def data(self, examples: list, labels: Sequence[int]):
        return _Pixels(np.stack(examples), np.asarray(labels, dtype=np.int64))

    def check(self, meta: dict, data) -> None:
        shape = tuple(data.shape)
        want = (meta["inputs"]["height"], meta["inputs"]["width"], meta["inputs"]["channels"])
        if shape != want:
            raise HeadstartError(f"{data.source}: images are {'x'.join(map(str, shape))} but the classifier takes "
                                 f"{'x'.join(map(str, want))}; prepare them with --size {want[0]} --mode "
                                 f"{meta['inputs']['mode']}")


def _decoded(path: Path, inputs: dict) -> InputItem:
    try:
        return InputItem(str(path), decode_image(path, inputs["height"], inputs["width"], inputs["mode"]))
    except UnreadableImage as e:
        return InputItem(str(path), problem=str(e))
    except OSError as e:
        return InputItem(str(path), problem=f"cannot read ({e.strerror or e})")


class _Pixels:
    """Decoded images as the image batches read them."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray):
        self._pixels, self.labels = pixels, labels

    def __len__(self) -> int:
        return len(self._pixels)

    def pixels(self, indices) -> np.ndarray:
        return self._pixels[np.asarray(indices)]
