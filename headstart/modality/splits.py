"""The one validation-split rule of every ``prepare`` (text, images, audio, image-caption pairs).

An item goes to validation when a stable 64-bit hash of its key (BLAKE2b) falls below ``val_fraction``.
The key is what names the item independently of the others: a file's path under the input folder, an
array row's index, a document's content digest, a pair's key.  So a split ignores the order items are
listed or processed in (and the number of workers), and an item keeps its split when the collection grows.
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np

log = logging.getLogger("headstart.prepare")


def val_share(key: str | bytes) -> float:
    """A stable number in [0, 1) for ``key``, uniform over keys."""
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") / 2**64


def is_val(key: str | bytes, val_fraction: float) -> bool:
    """Whether the item named ``key`` belongs to the validation split."""
    return val_fraction > 0 and val_share(key) < val_fraction


def val_flags(keys, val_fraction: float, what: str) -> np.ndarray:
    """(N,) bool, ``is_val`` of each key; a collection of at least two items that drew no validation item at
    all gets its last one as validation (logged), rather than an empty split that fails evaluation later."""
    return with_one_val(np.fromiter((is_val(key, val_fraction) for key in keys), dtype=bool), val_fraction, what)


def with_one_val(flags: np.ndarray, val_fraction: float, what: str) -> np.ndarray:
    """``flags`` (N,) bool, with the last item as validation if at least two items drew none (logged)."""
    if val_fraction > 0 and len(flags) >= 2 and not flags.any():
        log.warning("no %s fell into val (tiny collection): using the last %s as val", what, what)
        flags = flags.copy()
        flags[-1] = True
    return flags
