"""Prepared images on disk: the writer ``prepare_images`` fills and ``ImageArrays``, the reader.

A prepared folder holds, per split, ``images_{split}.npy`` (N, H, W, C) uint8 and, when the inputs
had labels, ``labels_{split}.npy`` (N,) int64, plus ``manifest.json``.  Plain ``.npy`` files open
with ``np.load(path, mmap_mode="r")`` in any NumPy program, and memory-mapping them means neither
writing nor reading ever holds the collection in RAM.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
from numpy.lib import format as npy_format

from headstart.errors import HeadstartError
from headstart.npy_rows import set_npy_rows
from headstart.output_folder import MANIFEST_NAME, manifest_split, open_listed_npy, read_manifest

from .plugin import MANIFEST_FORMAT  # named where the modality registers
MANIFEST_VERSION = 1
SPLITS = ("train", "val")


class ArrayWriter:
    """Fills one split's ``images_{split}.npy`` (and ``labels_{split}.npy``) through memory maps.

    The arrays are created at ``capacity`` rows, the number of images that could land in this
    split, because a ``.npy`` header states its shape up front.  Images skipped as unreadable leave
    rows unused; ``close`` shrinks the files to the rows written.
    """

    def __init__(self, directory: Path, split: str, capacity: int, shape: tuple[int, int, int], labeled: bool):
        self.images_file = f"images_{split}.npy"
        self.labels_file = f"labels_{split}.npy" if labeled else None
        self.directory, self.count = Path(directory), 0
        self._images = _create(self.directory / self.images_file, np.uint8, (capacity, *shape))
        self._labels = _create(self.directory / self.labels_file, np.int64, (capacity,)) if labeled else None

    def add(self, pixels: np.ndarray, labels: Optional[np.ndarray] = None) -> None:
        """Append ``pixels`` (n, H, W, C) uint8 and, for a labeled split, their ``labels`` (n,)."""
        n = len(pixels)
        if n == 0:
            return
        self._images[self.count: self.count + n] = pixels
        if self._labels is not None:
            self._labels[self.count: self.count + n] = labels
        self.count += n

    def close(self) -> dict[str, Any]:
        """Flush, shrink to the rows written and return this split's manifest entry."""
        capacity = len(self._images)
        for array in (self._images, self._labels):
            if isinstance(array, np.memmap):
                array.flush()
        del array
        self._images = self._labels = None  # unmap before truncating: a mapped page past the end is SIGBUS
        if self.count < capacity:
            for name in filter(None, (self.images_file, self.labels_file)):
                set_npy_rows(self.directory / name, self.count)
        return {"images": self.count, "images_file": self.images_file, "labels_file": self.labels_file}


def _create(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    if shape[0] == 0:  # some NumPy versions cannot map an empty file: an empty array needs no map
        np.save(path, np.zeros(shape, dtype=dtype), allow_pickle=False)
        return np.zeros(shape, dtype=dtype)
    return npy_format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def load_image_manifest(prepared_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``manifest.json`` of a folder written by ``prepare_images``."""
    return read_manifest(prepared_dir, made_by="headstart prepare images", expected_format=MANIFEST_FORMAT,
                         expected_version=MANIFEST_VERSION)


class ImageArrays:
    """One split of a prepared image folder.

    >>> train = ImageArrays("data/mnist", "train")
    >>> len(train), train.shape, train.class_names[:3]
    (8967, (28, 28, 1), ['0', '1', '2'])
    >>> pixels, labels = train.read([3, 14, 15])        # (3, 28, 28, 1) uint8, (3,) int64

    Images stay on disk behind a memory map; labels (8 bytes an image) are read into memory.
    """

    def __init__(self, prepared_dir: str | os.PathLike, split: str = "train"):
        self.prepared_dir, self.split = Path(prepared_dir), split
        self.manifest = load_image_manifest(self.prepared_dir)
        manifest_path = self.prepared_dir / MANIFEST_NAME
        entry = manifest_split(self.manifest, self.prepared_dir, split)
        try:
            count = int(entry["images"])
            self.shape: tuple[int, int, int] = tuple(int(n) for n in self.manifest["shape"])
            self.class_names: Optional[list[str]] = self.manifest.get("class_names")
            images_file, labels_file = entry["images_file"], entry["labels_file"]
        except (KeyError, TypeError, ValueError) as error:
            raise HeadstartError(f"{manifest_path}: malformed manifest ({type(error).__name__}: {error})") from None
        self.images = open_listed_npy(self.prepared_dir, images_file, (count, *self.shape), np.uint8)
        self.labels = open_listed_npy(self.prepared_dir, labels_file, (count,), np.int64) if labels_file else None
        if self.labels is not None:
            self.labels = np.asarray(self.labels)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> Optional[int]:
        return len(self.class_names) if self.class_names is not None else None

    def read(self, indices) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Images ``indices`` as a new (n, H, W, C) uint8 array, and their labels (None if unlabeled)."""
        indices = np.asarray(indices, dtype=np.int64)
        labels = self.labels[indices] if self.labels is not None else None
        return np.asarray(self.images[indices]), labels

    def __reduce__(self):
        # Sending this to a DataLoader worker must not copy the mapped images into the message.
        return (type(self), (str(self.prepared_dir), self.split))

    def __repr__(self) -> str:
        labels = f", {self.num_classes} classes" if self.labels is not None else ", unlabeled"
        return f"ImageArrays({str(self.prepared_dir)!r}, {self.split!r}: {len(self):,} images {self.shape}{labels})"
