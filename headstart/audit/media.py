"""What the image and audio audits share: duplicate groups by content hash (exact, and near within a Hamming
distance), streaming size/length distributions, class names.  Each modality's audit (``vision/audit.py``,
``audio/audit.py``) decides what it hashes.

Near duplicates are hashes within ``hamming`` bits; they are found without comparing every pair: split into
``hamming + 1`` bands, two hashes that close agree exactly on at least one band (pigeonhole), so only items
sharing a band are compared.  Per item this keeps an 8-byte hash, a 16-byte digest and the item's name.
"""
from __future__ import annotations

import numpy as np

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


def class_name(names, label: int) -> str:
    return names[label] if names and 0 <= label < len(names) else str(label)
