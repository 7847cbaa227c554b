"""Exact duplicates across a corpus's input files, in bounded memory: digests spread over bucket files.

The first stage of ``prepare text`` and of the audit writes, per input file, each document's 16-byte
digest and key (input file number << 32 | its number in the file) into ``exact-PPP.u64`` by the digest's
first 8 bytes modulo ``parts``.  A task per bucket then sorts that bucket's records from every input
file: in a run of equal digests the first key (corpus order) is the original, the others are copies.
Its memory is the bucket: 24 bytes a document of the corpus / ``parts``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from headstart.data_engine import write_atomic

KEY_BITS = 32  # a document's key: input file number << 32 | its number in the file


def document_key(unit: int, number: int) -> int:
    return (unit << KEY_BITS) | number


def split_key(key: int) -> tuple[int, int]:
    return key >> KEY_BITS, key & ((1 << KEY_BITS) - 1)


def append_records(folder: Path, name: str, records: np.ndarray, by: np.ndarray, parts: int) -> None:
    """Append ``records`` (rows of uint64) to ``folder/NAME-PPP.u64``, bucket PPP = ``by`` modulo ``parts``."""
    buckets = by % np.uint64(parts)
    for part in np.unique(buckets).tolist():
        with open(folder / f"{name}-{part:03d}.u64", "ab") as f:
            records[buckets == part].astype(np.uint64).tofile(f)


def digest_records(digests: list[bytes], keys: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(records, bucket-by values) of documents' digests for ``append_records(..., "exact", ...)``."""
    halves = np.frombuffer(b"".join(digests), dtype=np.uint64).reshape(-1, 2)
    return np.column_stack([halves, np.asarray(keys, dtype=np.uint64)]), halves[:, 0]


def bucket_records(unit_dirs: list[Path], name: str, width: int) -> np.ndarray:
    """Every input file's records of one bucket file, as rows of ``width`` uint64s."""
    chunks = [np.fromfile(path, dtype=np.uint64).reshape(-1, width)
              for folder in unit_dirs if (path := folder / name).exists()]
    return np.concatenate(chunks) if chunks else np.empty((0, width), dtype=np.uint64)


def exact_task(part: int, unit_dirs: list[Path], out: Path, examples: int = 0, shown: int = 5) -> None:
    """One digest bucket: ``out/PPP.copies.u64`` (sorted keys of later copies) and ``out/PPP.json`` (group
    counts and the ``examples`` largest groups: copies, original key, up to ``shown - 1`` later keys)."""
    records = bucket_records(unit_dirs, f"exact-{part:03d}.u64", 3)
    records = records[np.lexsort((records[:, 2], records[:, 1], records[:, 0]))]
    same = np.all(records[1:, :2] == records[:-1, :2], axis=1)
    copies = records[1:][same, 2]  # a record equal to the one before it is a later copy
    edges = np.diff(np.concatenate([[0], same.astype(np.int8), [0]]))
    # a group: its first record (the original) at a rising edge, its last copy just before the falling one
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    groups = sorted((int(start - end - 1), int(records[start, 2]), records[start + 1: end + 1, 2][: shown - 1].tolist())
                    for start, end in zip(starts, ends))[:examples]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{part:03d}.copies.u64", np.sort(copies).astype(np.uint64).tobytes())
    write_atomic(out / f"{part:03d}.json", json.dumps({
        "groups": int(len(starts)), "duplicate_documents": int(len(copies)),
        "top": [{"copies": -negative, "original": original, "later": later} for negative, original, later in groups],
    }).encode())


def copies(out: Path, parts: int) -> np.ndarray:
    """The sorted keys of every later copy, from all buckets (8 bytes a duplicate document)."""
    chunks = [np.fromfile(out / f"{part:03d}.copies.u64", dtype=np.uint64) for part in range(parts)]
    return np.sort(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)
