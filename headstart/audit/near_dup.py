"""Near-duplicate documents: MinHash signatures in an LSH index (datasketch), confirmed by Jaccard.

Why datasketch: it is the long-maintained reference implementation of MinHash and MinHashLSH, pure
Python on numpy/scipy (which headstart already installs), so it adds no compiled dependency.

A document is the set of its word 5-grams (shingles, on the audit's normalised words).  Its MinHash
signature (``num_perm`` 64-bit minima) estimates the Jaccard similarity of two such sets; the LSH
index returns candidates likely above the threshold, and each candidate is confirmed by the
estimated Jaccard before it counts.  The signature is the only per-document state this keeps, so the
index grows by about ``8 * num_perm`` bytes a document and the corpus itself is never held.

``prepare text --near-dedup`` uses the same index to drop a document that is near an earlier kept one.
"""
from __future__ import annotations

import numpy as np
from datasketch import MinHash, MinHashLSH

from headstart.audit.words import ngram_hashes
from headstart.errors import HeadstartError

SHINGLE_WORDS = 5
_BATCH = 8192  # shingles hashed at a time: bounds the (num_perm x batch) work array to ~8 MB


def _identity(value):  # shingles arrive already hashed to 64 bits
    return value


class NearDuplicateIndex:
    """Add documents one by one; ``query`` names the earlier documents a new one nearly duplicates."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 128):
        if not 0 < threshold <= 1:
            raise HeadstartError(f"--near-dup-threshold {threshold}: expected a Jaccard similarity in (0, 1]")
        if num_perm < 16:
            raise HeadstartError(f"--num-perm {num_perm}: expected 16 or more (128 is usual)")
        self.threshold, self.num_perm = threshold, num_perm
        # LSH needs two bands or more, which a threshold of 1 leaves none of: candidates come from 0.95
        # then, and the Jaccard check below still asks for identical signatures.
        self.lsh = MinHashLSH(threshold=min(threshold, 0.95), num_perm=num_perm)
        # One set of permutations shared by every signature: drawing them per document costs more than hashing.
        self._permutations = MinHash(num_perm=num_perm, seed=1, scheme="affine64", hashfunc=_identity).permutations
        self.signatures: list[np.ndarray] = []

    def signature(self, word_ids: np.ndarray) -> MinHash | None:
        """The MinHash of a document's word ids; None for a document without words.  A document shorter
        than a shingle is one shingle of all its words."""
        if len(word_ids) == 0:
            return None
        shingles = np.unique(ngram_hashes(word_ids, min(SHINGLE_WORDS, len(word_ids))))
        minhash = MinHash(num_perm=self.num_perm, scheme="affine64", hashfunc=_identity,
                          permutations=self._permutations)
        for start in range(0, len(shingles), _BATCH):
            minhash.update_batch(shingles[start: start + _BATCH])
        return minhash

    def query(self, minhash: MinHash) -> list[tuple[int, float]]:
        """(key, estimated Jaccard) of each indexed document at or above the threshold, best first."""
        found = []
        for key in self.lsh.query(minhash):
            similarity = float(np.mean(self.signatures[key] == minhash.hashvalues))
            if similarity >= self.threshold:
                found.append((key, similarity))
        return sorted(found, key=lambda pair: (-pair[1], pair[0]))

    def add(self, minhash: MinHash) -> int:
        """Index a document; returns its key (0, 1, 2... in the order added)."""
        key = len(self.signatures)
        self.lsh.insert(key, minhash, check_duplication=False)
        self.signatures.append(minhash.hashvalues.copy())
        return key


class UnionFind:
    """Clusters of near-duplicates: a pair found joins their clusters (a near b near c is one cluster)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, key: int) -> int:
        root = key
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while key != root:  # path compression keeps later look-ups short
            self.parent[key], key = root, self.parent.get(key, key)
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the earliest document names the cluster

    def groups(self) -> list[list[int]]:
        clusters: dict[int, list[int]] = {}
        for key in list(self.parent):
            clusters.setdefault(self.find(key), []).append(key)
        for root in clusters:
            if root not in clusters[root]:
                clusters[root].append(root)
        return sorted((sorted(members) for members in clusters.values()), key=lambda m: (-len(m), m[0]))


class NearDeduper:
    """``prepare text --near-dedup``: is a document a near-duplicate of one kept before?  Kept documents
    go into the index; dropped ones do not, so a chain a~b~c keeps a and drops b and c only when each
    is near something kept."""

    def __init__(self, threshold: float, num_perm: int = 128):
        from headstart.audit.words import WordIds
        self.index, self.ids = NearDuplicateIndex(threshold, num_perm), WordIds()

    def is_duplicate(self, text: str) -> bool:
        from headstart.audit.words import normalized_words
        minhash = self.index.signature(self.ids(normalized_words(text)))
        if minhash is None:
            return False
        if self.index.query(minhash):
            return True
        self.index.add(minhash)
        return False
