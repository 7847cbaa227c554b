"""The image and audio audit: duplicates by content hash, size/length distributions, class balance.

Images get two hashes: BLAKE2b of the decoded pixels (exact duplicates, whatever the file format or
name) and a 64-bit difference hash (dHash: a 9x8 greyscale thumbnail, one bit per horizontal
neighbour comparison), which survives resizing, re-encoding and small edits.  dHash is written here
on Pillow rather than taken from ``imagehash`` because that package would add PyWavelets for hashes
the audit does not use.  Near duplicates are hashes within ``hamming`` bits; they are found without
comparing every pair: split into ``hamming + 1`` bands, two hashes that close agree exactly on at
least one band (pigeonhole), so only images sharing a band are compared.

Audio clips are decoded and resampled to 8 kHz (raw files) and reduced to an envelope: log energy of
50 ms frames, quantised to 3 dB steps after peak normalisation.  Clips with the same envelope hash
are the same recording, whatever its file format, sample rate or gain.  A prepared folder has no
waveforms any more; there the hash is of its log-mel frames quantised to 1 dB.

Per item this keeps an 8-byte hash, a 16-byte digest and the item's name.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path

import numpy as np

from headstart.audit.sources import prepared_format
from headstart.errors import HeadstartError

DEFAULT_HAMMING = 4
_MAX_BUCKET = 64  # members compared per band bucket: bounds the work on a folder of near-identical images


class Distribution:
    """Streaming histogram with min, mean and max."""

    def __init__(self, edges: list[float]):
        self.edges, self.counts = np.asarray(edges, dtype=float), np.zeros(len(edges) - 1, dtype=np.int64)
        self.n, self.total, self.low, self.high = 0, 0.0, float("inf"), float("-inf")

    def add(self, value: float) -> None:
        index = int(np.clip(np.searchsorted(self.edges, value, side="right") - 1, 0, len(self.counts) - 1))
        self.counts[index] += 1
        self.n, self.total = self.n + 1, self.total + value
        self.low, self.high = min(self.low, value), max(self.high, value)

    def summary(self) -> dict:
        empty = self.n == 0
        return {"min": 0.0 if empty else self.low, "max": 0.0 if empty else self.high,
                "mean": self.total / max(self.n, 1), "edges": self.edges.tolist(), "counts": self.counts.tolist()}


def dhash(image) -> int:
    """64-bit difference hash of a PIL image."""
    from PIL import Image
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


class HashGroups:
    """Exact groups by digest, near groups by Hamming distance of 64-bit hashes (banded look-up)."""

    def __init__(self, hamming: int):
        from headstart.audit.near_dup import UnionFind
        self.hamming = hamming
        self.bands = hamming + 1
        self.width = 64 // self.bands
        self.names: list[str] = []
        self.hashes: list[int] = []
        self.first: dict[bytes, int] = {}
        self.exact: dict[int, list[str]] = {}
        self.buckets: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self.clusters = UnionFind()

    def add(self, name: str, digest: bytes, perceptual: int | None) -> None:
        if digest in self.first:
            self.exact.setdefault(self.first[digest], [self.names[self.first[digest]]]).append(name)
            return
        key = len(self.names)
        self.first[digest] = key
        self.names.append(name)
        self.hashes.append(perceptual if perceptual is not None else -1)
        if perceptual is None:
            return
        for band, bucket in enumerate(self.buckets):
            part = (perceptual >> (band * self.width)) & ((1 << self.width) - 1)
            members = bucket.setdefault(part, [])
            for other in members[:_MAX_BUCKET]:
                if bin(self.hashes[other] ^ perceptual).count("1") <= self.hamming:
                    self.clusters.union(other, key)
            members.append(key)

    def summary(self) -> tuple[list[list[str]], list[list[str]]]:
        exact = sorted(self.exact.values(), key=lambda g: (-len(g), g[0]))
        near = [[self.names[k] for k in group] for group in self.clusters.groups()]
        return exact, near


def audit_images(inputs: list[Path], hamming: int = DEFAULT_HAMMING) -> dict:
    from PIL import Image, UnidentifiedImageError
    started = time.perf_counter()
    groups, classes, skipped = HashGroups(hamming), Counter(), []
    heights, widths = Distribution(_SIZE_EDGES), Distribution(_SIZE_EDGES)

    def add(name: str, image, label: str | None) -> None:
        rgb = image.convert("RGB")
        groups.add(name, hashlib.blake2b(rgb.tobytes() + bytes(str(rgb.size), "ascii"), digest_size=16).digest(), dhash(rgb))
        widths.add(rgb.size[0])
        heights.add(rgb.size[1])
        if label is not None:
            classes[label] += 1

    count = 0
    for source_path in inputs:
        if prepared_format(source_path) == "headstart.image_arrays":
            from headstart.vision.arrays import ImageArrays
            for split in ("train", "val"):
                arrays = ImageArrays(source_path, split)
                for start in range(0, len(arrays), 1024):
                    pixels, labels = arrays.read(np.arange(start, min(start + 1024, len(arrays))))
                    for i, array in enumerate(pixels):
                        label = None if labels is None else _class_name(arrays.class_names, int(labels[i]))
                        add(f"{source_path}/{split}#{start + i}", Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array), label)
                        count += 1
            continue
        from headstart.vision.readers import ImageFiles, open_sources
        for source in open_sources([source_path]):
            if isinstance(source, ImageFiles):
                for index, file in enumerate(source.files):
                    label = None if source.labels is None else source.class_names[source.labels[index]]
                    try:
                        with Image.open(file) as image:
                            add(str(file), image, label)
                    except (UnidentifiedImageError, OSError, ValueError) as error:
                        skipped.append({"name": str(file), "reason": str(error).splitlines()[0] if str(error) else type(error).__name__})
                    count += 1
            else:
                height, width, channels = source.native_shape
                for decoded in source.read(height, width, "RGB" if channels == 3 else "L"):
                    for i, array in enumerate(decoded.pixels):
                        label = None if decoded.labels is None else str(int(decoded.labels[i]))
                        add(f"{source.name}#{decoded.start + i}", Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array), label)
                        count += 1
    if count == 0:
        raise HeadstartError(f"no images in {', '.join(map(str, inputs))}")
    exact, near = groups.summary()
    return {"kind": "images", "inputs": [str(p) for p in inputs], "documents": count,
            "options": {"hamming": hamming},
            "duplicates": {"method": f"exact: identical decoded pixels; near: 64-bit dHash within {hamming} bits "
                                     f"(exact copies are listed once, under exact)", "exact": exact, "near": near},
            "distributions": {"height (pixels)": heights.summary(), "width (pixels)": widths.summary()},
            "classes": dict(sorted(classes.items())) if classes else None, "skipped": skipped,
            "seconds": round(time.perf_counter() - started, 2)}


_SIZE_EDGES = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 1e9]
_SECONDS_EDGES = [0, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1e9]


def _class_name(names, label: int) -> str:
    return names[label] if names and 0 <= label < len(names) else str(label)


def envelope_digest(waveform: np.ndarray, rate: int) -> bytes:
    """Hash of a clip's coarse loudness envelope (see the module docstring)."""
    peak = float(np.abs(waveform).max()) or 1.0
    frame = max(rate // 20, 1)
    usable = len(waveform) // frame * frame
    frames = (waveform[:usable] / peak).reshape(-1, frame) if usable else (waveform / peak)[None]
    energy_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    return hashlib.blake2b(np.round(energy_db / 3).astype(np.int16).tobytes(), digest_size=16).digest()


def audit_audio(inputs: list[Path]) -> dict:
    started = time.perf_counter()
    groups, classes, skipped = HashGroups(0), Counter(), []
    lengths = Distribution(_SECONDS_EDGES)
    count = 0
    for source_path in inputs:
        if prepared_format(source_path) == "headstart.audio_features":
            from headstart.audio.arrays import AudioArrays
            for split in ("train", "val"):
                arrays = AudioArrays(source_path, split)
                for i in range(len(arrays)):
                    (frames,), labels = arrays.read([i])
                    digest = hashlib.blake2b(np.round(frames).astype(np.int16).tobytes(), digest_size=16).digest()
                    groups.add(f"{source_path}/{split}#{i}", digest, None)
                    lengths.add(len(frames) / arrays.frame_rate)
                    if labels is not None:
                        classes[_class_name(arrays.class_names, int(labels[0]))] += 1
                    count += 1
            continue
        from headstart.audio.prepare import AudioPrepareOptions, find_audio_files, read_clip
        options = AudioPrepareOptions(sample_rate=8000, max_seconds=None)
        files = find_audio_files([source_path])
        labeled = all("/" in f.relative for f in files)  # class folders, as for images
        for file in files:
            count += 1
            waveform, problem, _ = read_clip(file.path, options)
            if waveform is None:
                skipped.append({"name": str(file.path), "reason": f"{problem[0]}: {problem[1]}"})
                continue
            groups.add(str(file.path), envelope_digest(waveform, options.sample_rate), None)
            lengths.add(len(waveform) / options.sample_rate)
            if labeled:
                classes[file.relative.split("/")[0]] += 1
    if count == 0:
        raise HeadstartError(f"no audio clips in {', '.join(map(str, inputs))}")
    exact, _ = groups.summary()
    return {"kind": "audio", "inputs": [str(p) for p in inputs], "documents": count, "options": {},
            "duplicates": {"method": "same recording: equal hash of the loudness envelope (50 ms frames, 3 dB steps, "
                                     "peak-normalised, at 8 kHz); prepared folders: log-mels rounded to 1 dB",
                           "exact": exact, "near": []},
            "distributions": {"length (seconds)": lengths.summary()},
            "classes": dict(sorted(classes.items())) if classes else None, "skipped": skipped,
            "seconds": round(time.perf_counter() - started, 2)}
