"""Prepared image–caption pairs on disk, and ``PairArrays``, their reader.

A folder written by ``headstart prepare pairs`` holds, per split:

* ``images_{split}.npy`` (N, H, W, C) uint8, decoded once (as ``prepare images`` writes them);
* ``tokens_{split}.npy`` (N, caption_len) int32, each caption's token ids, padded with ``<pad>``;
* ``lengths_{split}.npy`` (N,) int32, how many of those ids are real;
* ``captions_{split}.jsonl``, the cleaned caption texts, one JSON string a line (for reports and for
  re-tokenising with another tokenizer);

plus ``tokenizer.json`` and ``manifest.json``.  Every array is a plain ``.npy`` that training
memory-maps.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError
from headstart.output_folder import MANIFEST_NAME, manifest_split, open_listed_npy, read_manifest

from .plugin import MANIFEST_FORMAT  # named where the modality registers
MANIFEST_VERSION = 1
SPLITS = ("train", "val")


def load_pairs_manifest(prepared_dir: str | os.PathLike) -> dict[str, Any]:
    return read_manifest(prepared_dir, made_by="headstart prepare pairs", expected_format=MANIFEST_FORMAT,
                         expected_version=MANIFEST_VERSION)


class PairArrays:
    """One split of a prepared pairs folder.

    >>> val = PairArrays("data/pairs", "val")
    >>> len(val), val.shape, val.caption_len
    (800, (28, 28, 1), 16)
    >>> pixels, tokens, lengths = val.read([0, 1])   # (2, 28, 28, 1) uint8, (2, 16) int32, (2,) int32
    >>> val.captions([0, 1])
    ['a handwritten 7', 'the digit two']
    """

    def __init__(self, prepared_dir: str | os.PathLike, split: str = "train"):
        self.prepared_dir, self.split = Path(prepared_dir), split
        self.manifest = load_pairs_manifest(self.prepared_dir)
        entry = manifest_split(self.manifest, self.prepared_dir, split)
        try:
            count = int(entry["pairs"])
            self.shape: tuple[int, int, int] = tuple(int(n) for n in self.manifest["shape"])
            self.caption_len = int(self.manifest["caption_len"])
            files = {name: entry[f"{name}_file"] for name in ("images", "tokens", "lengths", "captions")}
        except (KeyError, TypeError, ValueError) as error:
            raise HeadstartError(f"{self.prepared_dir / MANIFEST_NAME}: malformed manifest "
                                 f"({type(error).__name__}: {error})") from None
        self.images = open_listed_npy(self.prepared_dir, files["images"], (count, *self.shape), np.uint8)
        self.tokens = open_listed_npy(self.prepared_dir, files["tokens"], (count, self.caption_len), np.int32)
        self.lengths = np.asarray(open_listed_npy(self.prepared_dir, files["lengths"], (count,), np.int32))
        self.captions_file = self.prepared_dir / files["captions"]
        self._captions = None

    @property
    def tokenizer_file(self) -> Path:
        return self.prepared_dir / "tokenizer.json"

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pixels (n, H, W, C) uint8, tokens (n, caption_len) int32, lengths (n,) int32) of pairs ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        return np.asarray(self.images[indices]), np.asarray(self.tokens[indices]), self.lengths[indices]

    def captions(self, indices) -> list[str]:
        """Caption texts, read from captions_{split}.jsonl on first use."""
        if self._captions is None:
            with open(self.captions_file, encoding="utf-8") as f:
                self._captions = [json.loads(line) for line in f]
        return [self._captions[i] for i in indices]

    def __reduce__(self):  # to a DataLoader worker: reopen the maps rather than copy them
        return (type(self), (str(self.prepared_dir), self.split))

    def __repr__(self) -> str:
        return f"PairArrays({str(self.prepared_dir)!r}, {self.split!r}: {len(self):,} pairs {self.shape})"
