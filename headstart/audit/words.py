"""Words and word n-grams as the audit compares them: lowercased, punctuation stripped, hashed.

Every text signal of the audit (near-duplicate shingles, repetition, contamination, the bias screen)
works on the same word sequence, so that "Moore's," in the corpus and "moore 's" in an evaluation file
are the same two words.  GPT-3's contamination study normalised words the same way.

Words become 64-bit ids (BLAKE2b, so the same word has the same id in every process and run) and an
n-gram becomes one 64-bit rolling hash over its word ids, computed for a whole document at once with
numpy: a 200,000-word book costs a few vector operations per n, not 200,000 Python tuples.  Two
different n-grams share a hash with probability about 2^-64 per pair, which the audit accepts.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits: punctuation and underscores split words
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: the rolling hash's base
_CACHE_LIMIT = 1_000_000  # distinct words remembered; cleared past this so memory stays bounded


def normalized_words(text: str) -> list[str]:
    """Lowercased words without punctuation; NFKC first so full-width and composed letters match."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text.lower())


class WordIds:
    """word -> stable uint64 id, with a bounded cache (a corpus has far fewer distinct words than words)."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {}

    def __call__(self, words: list[str]) -> np.ndarray:
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        # Hash the new words first, then look every word up in one C-level pass: 1.5x the speed of a
        # Python loop filling the array, which made this the costliest step of `headstart select`.
        for word in set(words).difference(cache):
            cache[word] = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        return np.fromiter(map(cache.__getitem__, words), dtype=np.uint64, count=len(words))


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """The rolling hash of every n-gram of ``ids`` (len(ids) - n + 1 of them; empty when shorter)."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps around: that is the hash
        hashes = ids[:count].copy()
        for k in range(1, n):
            hashes *= _MULTIPLIER
            hashes += ids[k: k + count]
        # Mix in n, so that a 5-gram never collides with a 6-gram by construction.
        hashes ^= np.uint64(n) * np.uint64(0xC2B2AE3D27D4EB4F)
    return hashes
