"""Label budgets: the stratified subsets that fine-tuning, ``compare`` and the probes train on.

Shared by every modality: a budget of 100 labels draws the same way from texts, images or audio.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from headstart.errors import HeadstartError


def stratified_subset(labels: Sequence[int] | np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` examples whose class proportions match ``labels``', sorted ascending.

    Each class gets its proportional share rounded by largest remainder, and at least one example when
    ``n`` is at least the number of classes (a class with no example cannot be learned at all); below
    that, shares are purely proportional and small classes may get none.  The same (labels, n, seed)
    always gives the same indices; subsets for different ``n`` are independent draws, not nested.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError("labels must be a non-empty 1-D sequence")
    if not 0 < n <= len(labels):
        raise HeadstartError(f"label budget {n}: must be between 1 and the {len(labels)} labeled examples")
    classes, counts = np.unique(labels, return_counts=True)
    take = _allocate(counts, n, seed)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, take) if k > 0]
    return np.sort(np.concatenate(chosen))


def _allocate(counts: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Split ``n`` over classes in proportion to ``counts`` (largest remainder, capped at each count)."""
    quota = n * counts / counts.sum()
    take = np.floor(quota).astype(int)
    if n >= len(counts):
        take = np.maximum(take, 1)
    # Ties in the remainders are broken by a seeded permutation rather than by class order, so that
    # small budgets do not always favour the class with the smallest id.
    tie_break = np.random.default_rng(seed).permutation(len(counts))
    while take.sum() < n:
        room = take < counts
        gap = np.where(room, quota - take, -np.inf)
        take[np.lexsort((tie_break, -gap))[0]] += 1
    while take.sum() > n:  # only when the at-least-one rule overshoots
        surplus = np.where(take > 1, take - quota, -np.inf)
        take[np.lexsort((tie_break, -surplus))[0]] -= 1
    return take
