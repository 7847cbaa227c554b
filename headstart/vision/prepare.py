"""``prepare_images``: image files or arrays -> uint8 arrays on disk + manifest.json, decoded once.

Pre-training reads every image many times; decoding a JPEG and resizing it each time costs more CPU
than a small model's step.  So images are decoded once here, converted to one mode and one size,
and written as (N, H, W, C) uint8 ``.npy`` arrays that training memory-maps.  Images are written as
they are decoded, so a collection larger than memory works.

Unreadable images (truncated, or not images at all) and float images holding NaN or infinite values
(``non_finite``) are skipped, logged by name, counted by reason and listed in the manifest.  More
than ``max_bad_fraction`` of them (default 1%) fails the run: a curated collection has none, and a
larger share usually means something systematic (a cut-off download, a format this Pillow cannot
decode, the wrong folder) that should be fixed, not trained around.  Raise it to accept the loss,
e.g. for a web scrape.

Everything is written to ``OUT.tmp-<pid>`` and renamed to ``OUT`` when complete.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from tqdm import tqdm

from headstart.errors import HeadstartError
from headstart.modality.splits import with_one_val
from headstart.output_folder import staged_output, write_manifest, headstart_version
from headstart.vision.arrays import MANIFEST_FORMAT, MANIFEST_VERSION, SPLITS, ArrayWriter
from headstart.vision.decode import CHANNELS
from headstart.vision.readers import LAYOUTS, ImageArray, ImageFiles, array_source, open_sources

log = logging.getLogger("headstart.vision")

Source = ImageFiles | ImageArray


@dataclass(frozen=True)
class ImagePrepareOptions:
    """Every knob of ``prepare_images``; recorded verbatim in the manifest's "options"."""

    size: Optional[tuple[int, int]] = None  # (height, width); None keeps the size of array inputs
    mode: str = "RGB"
    layout: str = "auto"
    val_fraction: float = 0.1
    max_bad_fraction: float = 0.01
    overwrite: bool = False

    def validate(self) -> None:
        def need(condition: bool, message: str) -> None:
            if not condition:
                raise HeadstartError(message)

        need(self.mode in CHANNELS, f"mode {self.mode!r}: expected one of {', '.join(CHANNELS)}")
        need(self.layout in LAYOUTS, f"layout {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
        need(self.size is None or (len(self.size) == 2 and all(isinstance(n, int) and n > 0 for n in self.size)),
             f"size {self.size!r}: expected a positive pixel count or (height, width)")
        need(0 <= self.val_fraction < 1, f"val_fraction {self.val_fraction}: expected 0 <= value < 1")
        need(0 <= self.max_bad_fraction <= 1, f"max_bad_fraction {self.max_bad_fraction}: expected 0 <= value <= 1")


def prepare_images(inputs: Sequence[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike, *,
                   size: int | tuple[int, int] | None = None, mode: str = "RGB", layout: str = "auto",
                   val_fraction: float = 0.1, max_bad_fraction: float = 0.01, overwrite: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Prepare images for pre-training; returns the manifest (also written to OUT/manifest.json).

    ``inputs``: folders of images (unlabeled, or ImageFolder class folders), image files, idx files
    (MNIST, gzip or not), ``.npy`` arrays and ``.npz`` files with ``x`` (and ``y`` labels).
    ``size``: pixels of the square output, or (height, width); images are resized to cover it and
    centre-cropped.  Needed for image files; array inputs keep their own size when it is None.
    ``mode``: "RGB" or "L" (grayscale).  ``layout``: see ``open_sources``.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    options = ImagePrepareOptions(size=(size, size) if isinstance(size, int) else (tuple(size) if size else None),
                                  mode=mode, layout=layout, val_fraction=val_fraction,
                                  max_bad_fraction=max_bad_fraction, overwrite=overwrite)
    options.validate()
    sources = open_sources(inputs, layout)
    return write_prepared_images(sources, out, options, inputs=[str(path) for path in inputs], progress=progress)


def sklearn_digits_images(out: str | os.PathLike, *, val_fraction: float = 0.1,
                          overwrite: bool = False) -> dict[str, Any]:
    """scikit-learn's bundled digits (1,797 grayscale 8x8 images, 10 classes) as a prepared folder.

    Ships with scikit-learn, so it needs no download: the built-in data set for demos and tests.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)  # intensities are 0..16
    source = array_source("sklearn.datasets.load_digits", pixels, digits.target)
    options = ImagePrepareOptions(mode="L", val_fraction=val_fraction, overwrite=overwrite)
    return write_prepared_images([source], out, options, inputs=[source.name], progress=False)


def write_prepared_images(sources: list[Source], out: str | os.PathLike, options: ImagePrepareOptions, *,
                          inputs: list[str], progress: bool = True) -> dict[str, Any]:
    """Decode every source into the split arrays of a new prepared folder ``out``."""
    started = time.perf_counter()
    total = sum(source.count for source in sources)
    if total == 0:
        raise HeadstartError(f"no images found in {', '.join(inputs)}")
    class_names, remaps = _class_names(sources)
    height, width = _output_size(sources, options)
    shape = (height, width, CHANNELS[options.mode])
    masks = _val_masks(sources, options.val_fraction)
    capacity = {"val": int(sum(mask.sum() for mask in masks))}
    capacity["train"] = total - capacity["val"]

    with staged_output(Path(out), overwrite=options.overwrite) as staging:
        writers = {split: ArrayWriter(staging, split, capacity[split], shape, labeled=remaps is not None)
                   for split in SPLITS}
        skipped: list[dict[str, str]] = []
        reasons: list[str] = []  # each skip's reason, counted in the manifest
        bar = tqdm(total=total, desc="images", unit="img", disable=not (progress and sys.stderr.isatty()))
        with bar:
            for i, (source, mask) in enumerate(zip(sources, masks)):
                for decoded in source.read(height, width, options.mode):
                    if decoded.problem is not None:
                        reasons.append(decoded.reason)
                        _skip(decoded, skipped, reasons, total, options.max_bad_fraction)
                    else:
                        labels = decoded.labels
                        if labels is not None and remaps[i] is not None:
                            labels = remaps[i][labels]
                        _route(decoded.pixels, labels, mask[decoded.start: decoded.start + len(decoded.pixels)],
                               writers)
                    bar.update(1 if decoded.pixels is None else len(decoded.pixels))
        splits = {split: writer.close() for split, writer in writers.items()}
        if splits["train"]["images"] == 0:
            raise HeadstartError(f"no image left for the train split ({splits['val']['images']} went to val); "
                                 f"lower val_fraction (now {options.val_fraction}) or add images")
        if remaps is not None and class_names is None:  # integer labels: their names are the numbers
            class_names = [str(i) for i in range(_max_label(staging, splits) + 1)]
        seconds = time.perf_counter() - started
        kept = sum(entry["images"] for entry in splits.values())
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "shape": list(shape),
            "dtype": "uint8",
            "mode": options.mode,
            "class_names": class_names,
            "splits": splits,
            "stats": {"images_found": total, "kept": kept, "skipped": len(skipped),
                      "skipped_by_reason": dict(Counter(reasons)), "skipped_files": skipped,
                      "seconds": round(seconds, 3), "images_per_s": round(total / max(seconds, 1e-9), 1)},
            "options": asdict(options),
            "inputs": inputs,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "headstart_version": headstart_version(),
        }
        write_manifest(staging, manifest)
    log.info("prepared %d images (%d skipped) of %s in %s", kept, len(skipped), "x".join(map(str, shape)), out)
    return manifest


def _route(pixels: np.ndarray, labels: Optional[np.ndarray], is_val: np.ndarray, writers: dict) -> None:
    for split, rows in (("train", ~is_val), ("val", is_val)):
        if rows.any():
            writers[split].add(pixels[rows], None if labels is None else labels[rows])


def _skip(decoded, skipped: list[dict[str, str]], reasons: list[str], total: int, max_bad_fraction: float) -> None:
    log.warning("skipping %s: %s (%s)", decoded.name, decoded.reason, decoded.problem)
    skipped.append({"file": decoded.name, "reason": decoded.problem})
    if len(skipped) > max_bad_fraction * total:  # fail as soon as it is certain, not after decoding the rest
        examples = "; ".join(f"{Path(s['file']).name}: {s['reason']}" for s in skipped[:3])
        raise HeadstartError(
            f"more than {max_bad_fraction:.1%} of the {total} images are {skip_kinds(reasons)} ({len(skipped)} so "
            f"far: {examples}); fix or remove them, or raise max_bad_fraction to skip them")


def skip_kinds(reasons) -> str:
    """"unreadable", "non-finite" or "unreadable or non-finite": what the skipped images were."""
    return " or ".join(kind.replace("_", "-") for kind in ("unreadable", "non_finite") if kind in reasons)


def _class_names(sources: list[Source]) -> tuple[Optional[list[str]], Optional[list[Optional[np.ndarray]]]]:
    """(class names, per-source label remap) for labeled inputs; (None, None) for unlabeled ones.

    Class folders from several inputs share one sorted list of names, so ``cat`` is the same id in
    ``train/`` and ``val/`` even if one of them lacks a class.  Integer labels are kept as they are.
    """
    labeled = [source for source in sources if source.labels is not None]
    if not labeled:
        return None, None
    if len(labeled) < len(sources):
        unlabeled = next(source for source in sources if source.labels is None)
        raise HeadstartError(f"{unlabeled.name}: has no labels but {labeled[0].name} has; prepare labeled "
                             f"and unlabeled images into separate folders")
    named = [source for source in labeled if source.class_names is not None]
    if not named:
        return None, [None] * len(sources)
    if len(named) < len(sources):
        numbered = next(source for source in sources if source.class_names is None)
        raise HeadstartError(f"{numbered.name}: has integer labels but {named[0].name} has class folders; "
                             f"prepare them into separate folders")
    class_names = sorted(set().union(*(source.class_names for source in named)))
    index = {name: i for i, name in enumerate(class_names)}
    return class_names, [np.array([index[name] for name in source.class_names], dtype=np.int64) for source in named]


def _output_size(sources: list[Source], options: ImagePrepareOptions) -> tuple[int, int]:
    if options.size is not None:
        return options.size
    files = next((source for source in sources if source.native_shape is None), None)
    if files is not None:
        raise HeadstartError(f"{files.name}: image files differ in size; pass size (e.g. size=32) to "
                             f"resize them all to one")
    sizes = {source.native_shape[:2] for source in sources}
    if len(sizes) > 1:
        listed = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
        raise HeadstartError(f"the input arrays have different image sizes ({listed}); pass size to resize them to one")
    return sizes.pop()


def _val_masks(sources: list[Source], val_fraction: float) -> list[np.ndarray]:
    """Each source's validation rows (``Source.val_mask``, the shared rule of ``modality.splits``), with the
    tiny-collection case decided over all sources together."""
    masks = [source.val_mask(val_fraction) for source in sources]
    flags = with_one_val(np.concatenate(masks) if masks else np.zeros(0, dtype=bool), val_fraction, "image")
    return np.split(flags, np.cumsum([len(mask) for mask in masks])[:-1])


def _max_label(directory: Path, splits: dict[str, dict]) -> int:
    top = -1
    for entry in splits.values():
        if entry["images"]:
            top = max(top, int(np.load(directory / entry["labels_file"], mmap_mode="r", allow_pickle=False).max()))
    return top
