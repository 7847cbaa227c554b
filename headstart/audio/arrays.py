"""Prepared audio on disk: the log-mel features ``prepare_audio`` writes and ``AudioArrays``, the reader.

A prepared folder holds, per split, ``features_{split}.npy`` (total frames, n_mels) float16 — every
clip's log-mel frames one after the other — ``offsets_{split}.npy`` (clips + 1,) int64, where clip
``i`` is rows ``offsets[i]:offsets[i + 1]``, and for labeled inputs ``labels_{split}.npy`` (clips,)
int64; plus ``manifest.json`` with the feature settings and the training split's per-bin mean and
standard deviation.  Clips of any length are packed without padding; batches pad them (with a mask).
Plain ``.npy`` files, memory-mapped: reading never holds the collection in RAM.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from headstart.errors import HeadstartError
from headstart.output_folder import MANIFEST_NAME, manifest_split, open_listed_npy, read_manifest

from .plugin import MANIFEST_FORMAT  # named where the modality registers
MANIFEST_VERSION = 1
SPLITS = ("train", "val")


def load_audio_manifest(prepared_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``manifest.json`` of a folder written by ``prepare_audio``."""
    return read_manifest(prepared_dir, made_by="headstart prepare audio", expected_format=MANIFEST_FORMAT,
                         expected_version=MANIFEST_VERSION)


class AudioArrays:
    """One split of a prepared audio folder.

    >>> train = AudioArrays("data/fsdd", "train")
    >>> len(train), train.n_mels, train.frame_rate, train.class_names[:3]
    (2700, 40, 100.0, ['0', '1', '2'])
    >>> clips, labels = train.read([3, 14])      # [(T0, 40), (T1, 40)] float32 log-mels, (2,) int64
    """

    def __init__(self, prepared_dir: str | os.PathLike, split: str = "train"):
        self.prepared_dir, self.split = Path(prepared_dir), split
        self.manifest = load_audio_manifest(self.prepared_dir)
        manifest_path = self.prepared_dir / MANIFEST_NAME
        entry = manifest_split(self.manifest, self.prepared_dir, split)
        try:
            count, frames = int(entry["clips"]), int(entry["frames"])
            self.n_mels = int(self.manifest["n_mels"])
            self.frame_rate = float(self.manifest["frame_rate"])
            self.sample_rate = int(self.manifest["sample_rate"])
            self.class_names: Optional[list[str]] = self.manifest.get("class_names")
            self.feature_mean = np.asarray(self.manifest["feature_mean"], dtype=np.float32)
            self.feature_std = np.asarray(self.manifest["feature_std"], dtype=np.float32)
            files = entry["features_file"], entry["offsets_file"], entry["labels_file"]
        except (KeyError, TypeError, ValueError) as error:
            raise HeadstartError(f"{manifest_path}: malformed manifest ({type(error).__name__}: {error})") from None
        if self.feature_mean.shape != (self.n_mels,) or self.feature_std.shape != (self.n_mels,):
            raise HeadstartError(f"{manifest_path}: feature_mean and feature_std must hold {self.n_mels} values")
        # Every batch is normalised with them: one NaN would make every step NaN.
        if not (np.isfinite(self.feature_mean).all() and np.isfinite(self.feature_std).all()
                and (self.feature_std > 0).all()):
            raise HeadstartError(f"{manifest_path}: feature_mean or feature_std holds NaN, infinite or non-positive "
                                 f"values (a clip with non-finite samples got in); prepare the folder again")
        self.features = open_listed_npy(self.prepared_dir, files[0], (frames, self.n_mels), np.float16)
        self.offsets = np.asarray(open_listed_npy(self.prepared_dir, files[1], (count + 1,), np.int64))
        if count and (self.offsets[0] != 0 or self.offsets[-1] != frames or np.any(np.diff(self.offsets) <= 0)):
            raise HeadstartError(f"{self.prepared_dir / files[1]}: offsets do not cut {frames} frames into "
                                 f"{count} clips; the folder is damaged, prepare it again")
        self.labels = None
        if files[2]:
            self.labels = np.asarray(open_listed_npy(self.prepared_dir, files[2], (count,), np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Frames of each clip."""
        return np.diff(self.offsets)

    @property
    def num_classes(self) -> Optional[int]:
        return len(self.class_names) if self.class_names is not None else None

    def read(self, indices) -> tuple[list[np.ndarray], Optional[np.ndarray]]:
        """Clips ``indices`` as float32 (frames, n_mels) log-mels, and their labels (None if unlabeled)."""
        indices = np.asarray(indices, dtype=np.int64)
        clips = [np.asarray(self.features[self.offsets[i]: self.offsets[i + 1]], dtype=np.float32) for i in indices]
        return clips, (self.labels[indices] if self.labels is not None else None)

    def __reduce__(self):
        # Sending this to a DataLoader worker must not copy the mapped features into the message.
        return (type(self), (str(self.prepared_dir), self.split))

    def __repr__(self) -> str:
        labels = f", {self.num_classes} classes" if self.labels is not None else ", unlabeled"
        seconds = float(self.lengths.sum()) / self.frame_rate if len(self) else 0.0
        return (f"AudioArrays({str(self.prepared_dir)!r}, {self.split!r}: {len(self):,} clips, "
                f"{seconds / 60:.1f} min, {self.n_mels} mel bins{labels})")
