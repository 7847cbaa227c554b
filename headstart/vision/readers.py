"""The inputs ``prepare_images`` reads, each opened as a source of images.

* ``ImageFiles``: image files, from a folder (unlabeled) or ImageFolder class folders
  (``root/<class>/**/*.png``, the label is the class folder, as torchvision's ImageFolder);
* ``ImageArray``: images already in an array: ``.npy`` (memory-mapped), ``.npz`` (``x`` and optional
  ``y``) or idx (MNIST; the labels file beside it, ``*-labels-idx1-ubyte.gz``, is found by name).

A source knows how many images it holds before decoding any (so output arrays can be sized up front),
which of them go to validation (``val_mask``), and yields them in a fixed order (``read``).
"""
from __future__ import annotations

import logging
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from headstart.errors import HeadstartError
from headstart.modality.splits import is_val
from headstart.path_kind import not_an_input
from headstart.vision.decode import UnreadableImage, decode_image, fit_pixels
from headstart.vision.idx import idx_shape, iter_idx_rows, looks_like_idx, read_idx

log = logging.getLogger("headstart.vision")

LAYOUTS = ("auto", "folder", "imagefolder", "idx", "npy")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
ARRAY_SUFFIXES = frozenset({".npy", ".npz"})
ARRAY_ROWS_PER_CHUNK = 1024  # images fitted and written at a time from an array input


@dataclass
class Decoded:
    """Consecutive images of a source, or one image that was skipped (``problem`` says why)."""

    start: int  # index within the source of the first image here
    pixels: Optional[np.ndarray]  # (n, H, W, C) uint8; None when skipped
    labels: Optional[np.ndarray] = None  # (n,) int64; None for an unlabeled source
    name: str = ""
    problem: Optional[str] = None
    reason: str = "unreadable"  # what a skipped image is counted as: unreadable or non_finite


class ImageFiles:
    """Image files decoded one by one.  ``class_names`` is None for an unlabeled folder."""

    native_shape = None  # files differ in size: the prepared size must be given

    def __init__(self, root: Path, files: list[Path], class_names: Optional[list[str]] = None,
                 labels: Optional[list[int]] = None):
        self.name, self.root, self.files = str(root), root, files
        self.count = len(files)
        self.class_names, self.labels = class_names, labels

    def val_mask(self, fraction: float) -> np.ndarray:
        # A hash of the path under the input folder picks the split: a file keeps its split when
        # the folder grows or moves, and the split ignores the order files are listed in.
        keys = (file.relative_to(self.root).as_posix() if file != self.root else file.name for file in self.files)
        return np.fromiter((is_val(key, fraction) for key in keys), dtype=bool, count=self.count)

    def read(self, height: int, width: int, mode: str) -> Iterator[Decoded]:
        for index, file in enumerate(self.files):
            try:
                pixels = decode_image(file, height, width, mode)
            except UnreadableImage as problem:
                yield Decoded(index, None, name=str(file), problem=str(problem), reason=problem.reason)
                continue
            labels = None if self.labels is None else np.array(self.labels[index: index + 1], dtype=np.int64)
            yield Decoded(index, pixels[None], labels)


class ImageArray:
    """Images held in an array; ``chunks()`` yields them as (n, H, W, C) uint8, channels last."""

    class_names = None  # integer labels, if any: their names are the numbers

    def __init__(self, name: str, count: int, native_shape: tuple[int, int, int],
                 chunks: Callable[[], Iterable[np.ndarray]], labels: Optional[np.ndarray]):
        self.name, self.count, self.native_shape, self.chunks = name, count, native_shape, chunks
        self.labels = None if labels is None else _check_labels(labels, count, name)

    def val_mask(self, fraction: float) -> np.ndarray:
        # The key is the row's index: appending images to an array leaves the earlier ones in their split.
        return np.fromiter((is_val(str(i), fraction) for i in range(self.count)), dtype=bool, count=self.count)

    def read(self, height: int, width: int, mode: str) -> Iterator[Decoded]:
        start = 0
        for chunk in self.chunks():
            labels = None if self.labels is None else self.labels[start: start + len(chunk)]
            yield Decoded(start, fit_pixels(chunk, height, width, mode), labels)
            start += len(chunk)


def _check_labels(labels: np.ndarray, count: int, name: str) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count:
        raise HeadstartError(f"{name}: {labels.shape} labels for {count} images; expected one label per image")
    if not np.issubdtype(labels.dtype, np.integer):
        raise HeadstartError(f"{name}: labels are {labels.dtype}; expected integer class ids")
    if count and labels.min() < 0:
        raise HeadstartError(f"{name}: label {labels.min()} is negative; expected class ids 0, 1, 2, ...")
    return labels.astype(np.int64)


def image_axes(shape: tuple[int, ...], name: str) -> tuple[tuple[int, int, int], Callable[[np.ndarray], np.ndarray]]:
    """(H, W, C) of an image array and the function that makes its chunks (n, H, W, C)."""
    if len(shape) == 3:
        return (shape[1], shape[2], 1), lambda a: a[..., None]
    if len(shape) == 4 and shape[3] in (1, 3, 4):
        return (shape[1], shape[2], shape[3]), lambda a: a
    if len(shape) == 4 and shape[1] in (1, 3):
        return (shape[2], shape[3], shape[1]), lambda a: a.transpose(0, 2, 3, 1)
    raise HeadstartError(f"{name}: images of shape {tuple(shape)}; expected (N, H, W), (N, H, W, C) "
                         f"or (N, C, H, W) with C = 1 or 3 (4 = RGBA, channels last only)")


def array_source(name: str, images: np.ndarray, labels: Optional[np.ndarray] = None) -> ImageArray:
    """An in-memory or memory-mapped (N, ...) uint8 array as a source."""
    if images.dtype != np.uint8:
        bad = _non_finite_count(images) if np.issubdtype(images.dtype, np.floating) else 0
        if bad:  # the conversion below would turn them into 0 (with a RuntimeWarning at most)
            raise HeadstartError(f"{name}: pixels are {images.dtype} and {bad:,} of them are NaN or infinite; "
                                 f"fix or drop those images, then convert to uint8")
        raise HeadstartError(f"{name}: pixels are {images.dtype}; expected uint8 (convert with "
                             f"(x * 255).round().astype(np.uint8) for floats in [0, 1])")
    shape, to_channels_last = image_axes(images.shape, name)

    def chunks() -> Iterator[np.ndarray]:
        for start in range(0, len(images), ARRAY_ROWS_PER_CHUNK):
            yield to_channels_last(np.asarray(images[start: start + ARRAY_ROWS_PER_CHUNK]))

    return ImageArray(name, len(images), shape, chunks, labels)


def _non_finite_count(images: np.ndarray) -> int:
    """NaN and infinite values in a (possibly memory-mapped) float array, read a chunk at a time."""
    return sum(int((~np.isfinite(np.asarray(images[start: start + ARRAY_ROWS_PER_CHUNK]))).sum())
               for start in range(0, len(images), ARRAY_ROWS_PER_CHUNK)) if images.ndim else 0


def _npy_source(path: Path) -> ImageArray:
    try:
        # NumPy tells an array from an archive by its first bytes, whatever the suffix says.
        loaded = np.load(path, mmap_mode="r", allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return array_source(str(path), loaded)
        with loaded as members:  # .npz members are read whole: use .npy for collections larger than memory
            if "x" not in members:
                raise HeadstartError(f"{path}: no array 'x' (found {', '.join(members.files) or 'none'}); "
                                     f"expected images in 'x' and optional labels in 'y'")
            labels = members["y"] if "y" in members else None
            return array_source(str(path), members["x"], labels)
    # Pickled object arrays are refused here (ValueError, by allow_pickle=False), and so are a damaged
    # header (NumPy parses it as a Python literal: SyntaxError, TokenError), a damaged .npz archive
    # (BadZipFile, zlib.error, EOFError) and a header claiming more than memory holds.
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile, zlib.error,
            MemoryError) as error:
        raise HeadstartError(f"{path}: not a readable NumPy file ({type(error).__name__}: {error})") from None


def _idx_source(path: Path, labels_path: Optional[Path]) -> ImageArray:
    dims, dtype = idx_shape(path)
    if dtype != np.uint8:
        raise HeadstartError(f"{path}: idx values are {dtype}; expected unsigned bytes (type 0x08) for images")
    shape, to_channels_last = image_axes(dims, str(path))
    labels = None if labels_path is None else read_idx(labels_path)
    name = str(path) if labels_path is None else f"{path} + {labels_path.name}"
    return ImageArray(name, dims[0], shape,
                      lambda: (to_channels_last(rows) for rows in iter_idx_rows(path)), labels)


def labels_partner(images_path: Path) -> Path:
    """MNIST naming: ``t10k-images-idx3-ubyte.gz`` -> ``t10k-labels-idx1-ubyte.gz``."""
    return images_path.with_name(images_path.name.replace("images-idx3", "labels-idx1"))


def _idx_sources(paths: list[Path], explicit: set[Path]) -> list[ImageArray]:
    """Pair idx image files with their label files (given, or found beside them by name)."""
    images, labels = [], set()
    for path in paths:
        if len(idx_shape(path)[0]) == 1:
            labels.add(path)
        else:
            images.append(path)
    sources, used = [], set()
    for path in images:
        partner = labels_partner(path)
        has_partner = partner != path and (partner in labels or partner.is_file())
        if has_partner:
            used.add(partner)
        sources.append(_idx_source(path, partner if has_partner else None))
    for orphan in sorted(labels - used):
        if orphan in explicit:
            raise HeadstartError(f"{orphan}: an idx labels file with no images file named like it "
                                 f"({orphan.name.replace('labels-idx1', 'images-idx3')}) among the inputs")
        log.info("ignoring %s: labels without their images file", orphan)
    return sources


def _image_files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*")
                  if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _array_files_in(folder: Path, layout: str) -> list[Path]:
    def wanted(path: Path) -> bool:
        is_npy = path.suffix.lower() in ARRAY_SUFFIXES
        return {"idx": looks_like_idx(path), "npy": is_npy}.get(layout, is_npy or looks_like_idx(path))

    return sorted(path for path in folder.iterdir() if path.is_file() and wanted(path))


def _class_folders(root: Path, files: list[Path]) -> ImageFiles:
    loose = [file for file in files if file.parent == root]
    if loose:
        raise HeadstartError(f"{root}: ImageFolder layout puts every image in a class folder, but {loose[0].name} "
                             f"(and {len(loose) - 1} more) are directly inside; pass layout='folder' to read "
                             f"them unlabeled")
    class_of = [file.relative_to(root).parts[0] for file in files]
    class_names = sorted(set(class_of))
    index = {name: i for i, name in enumerate(class_names)}
    return ImageFiles(root, files, class_names, [index[name] for name in class_of])


def open_sources(inputs: Iterable[str | Path], layout: str = "auto") -> list[ImageFiles | ImageArray]:
    """Open every input as a source.  ``layout`` forces how folders and files are read; "auto"
    picks ImageFolder for a folder whose images all sit in subfolders, an unlabeled folder when
    some sit directly in it, and the arrays in it when it holds no images."""
    if layout not in LAYOUTS:
        raise HeadstartError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    sources: list[ImageFiles | ImageArray] = []
    idx_files, explicit = [], set()
    for path in map(Path, inputs):
        if path.is_dir():
            files = _image_files_under(path) if layout in ("auto", "folder", "imagefolder") else []
            if files:
                class_folders = layout == "imagefolder" or (layout == "auto" and all(f.parent != path for f in files))
                sources.append(_class_folders(path, files) if class_folders else ImageFiles(path, files))
                continue
            files = _array_files_in(path, layout) if layout in ("auto", "idx", "npy") else []
            if not files:
                raise HeadstartError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                                     f"or arrays (.npy, .npz, idx) found for layout {layout!r}")
        elif path.is_file():
            files = [path]
            explicit.add(path)
        else:
            raise not_an_input(path)
        for file in files:  # files named as inputs, or the arrays in a folder without images
            kind = _file_kind(file, layout)
            if kind == "image":
                sources.append(ImageFiles(file, [file]))
            elif kind == "idx":
                idx_files.append(file)
            else:
                sources.append(_npy_source(file))
    return sources + _idx_sources(idx_files, explicit)


def _file_kind(path: Path, layout: str) -> str:
    suffix = path.suffix.lower()
    if layout in ("auto", "folder") and suffix in IMAGE_SUFFIXES:
        return "image"
    if layout in ("auto", "npy") and suffix in ARRAY_SUFFIXES:
        return "npy"
    if layout == "idx" or (layout == "auto" and looks_like_idx(path)):
        return "idx"
    raise HeadstartError(f"{path}: cannot read this file as layout {layout!r}; expected an image "
                         f"({', '.join(sorted(IMAGE_SUFFIXES))}), .npy, .npz or an idx file (*-idx3-ubyte.gz)")
