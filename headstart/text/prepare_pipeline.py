"""``prepare text --work DIR``: the encode pass as tasks on the data engine (``headstart.data_engine``).

Stages, each resumable (a rerun skips finished tasks):
  1. ``encode``, a task per input file: clean, hash and tokenize its documents (``ChunkProcessor``, the
     in-process path's own code) into WORK/encoded/NNNNN/: the tokens, and per document its drop reason,
     byte offset, token count and digest; digests also go to bucket files (``exact_buckets``).
  2. ``exact``, a task per digest bucket: which documents are later copies of an earlier one.
  3. in the calling process: the documents are read back in corpus order, copies left out, and written by
     the same split router and shard writer as ``prepare text`` without --work, so the shards are
     byte-identical to it whatever the number of workers or machines.

The last stage streams tokens from disk to the shards (hundreds of MB/s): what the engine spreads is the
costly part, tokenizing.  Memory: one input file's per-document arrays (33 bytes a document) and 8
bytes per duplicate document, never the corpus; ``prepare text`` without --work keeps a 16-byte digest
per document in a set (~100 bytes each).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from headstart.data_engine import claim_work, publish, run_tasks, task_folder, task_partial
from headstart.errors import HeadstartError
from .cleaning import DIGEST_SIZE
from .exact_buckets import append_records, copies, digest_records, document_key, exact_task
from .readers import InputFile
from .workers import ChunkProcessor, document_chunks

REASONS = (None, "empty", "too_short")  # a document's drop reason, stored as its index here
_READ_TOKENS = 1 << 20


class PreparePlan:
    """The job: input files (path, format, size) and the options that shape the output; WORK/plan.json."""

    def __init__(self, work: Path, files: list[InputFile], options, parts: int):
        self.work, self.files, self.parts = Path(work), files, parts
        shaping = {k: v for k, v in asdict(options).items() if k not in ("workers", "overwrite")}
        self.record = {"files": [[str(f.path), f.fmt, f.size] for f in files], "options": shaping, "parts": parts}

    def claim(self) -> None:
        claim_work(self.work, self.record, "a prepare job")

    def unit_dirs(self) -> list[Path]:
        return [self.work / "encoded" / f"{unit:05d}" for unit in range(len(self.files))]


def encode_task(unit: int, plan: PreparePlan, options, processor: dict) -> None:
    """Stage 1 for one input file."""
    folder = plan.unit_dirs()[unit]
    tmp = task_folder(folder)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # each task is one of the engine's processes already
    process = ChunkProcessor(**processor)
    files = {name: open(tmp / name, "wb") for name in ("tokens.bin", "reasons.u8", "offsets.u64", "lengths.u64",
                                                       "digests.bin")}
    number = 0

    def flush(texts: list[str], offsets: list[int]) -> None:
        nonlocal number
        result = process(texts)
        kept = [i for i, reason in enumerate(result.reasons) if reason is None]
        lengths = np.zeros(len(texts), dtype=np.uint64)
        lengths[kept] = result.lengths
        np.asarray([REASONS.index(r) for r in result.reasons], dtype=np.uint8).tofile(files["reasons.u8"])
        np.asarray(offsets, dtype=np.uint64).tofile(files["offsets.u64"])
        lengths.tofile(files["lengths.u64"])
        files["digests.bin"].write(b"".join(d or bytes(DIGEST_SIZE) for d in result.digests))
        if kept:
            result.tokens.tofile(files["tokens.bin"])
            append_records(tmp, "exact", *digest_records([result.digests[i] for i in kept],
                                                         [document_key(unit, number + i) for i in kept]), plan.parts)
        number += len(texts)

    for texts, offsets in document_chunks([plan.files[unit]], options):  # the chunks prepare's pool encodes
        flush(texts, offsets)
    for handle in files.values():
        handle.close()
    publish(tmp, folder)


def encode_with_engine(plan: PreparePlan, options, tokenizer_json: str, eos_id: int, dtype: str,
                       cluster: str | None) -> Iterator[tuple]:
    """Run stages 1 and 2; then yield every document in corpus order as the in-process encoder does:
    (drop reason or None, digest, byte offset in the corpus, tokens, None)."""
    processor = {"mode": "encode", "fold_whitespace": options.fold_whitespace, "min_chars": options.min_chars,
                 "tokenizer_json": tokenizer_json, "eos_id": eos_id, "dtype": dtype}
    engine = {"work": plan.work, "workers": max(options.workers, 1), "cluster": cluster}
    run_tasks(task_partial(encode_task, plan, options, processor), tasks=len(plan.files), stage="encode", **engine)
    run_tasks(task_partial(exact_task, plan.unit_dirs(), plan.work / "exact"), tasks=plan.parts, stage="exact",
              **engine)
    return _documents(plan, np.dtype(dtype))


def _documents(plan: PreparePlan, dtype: np.dtype) -> Iterator[tuple]:
    duplicates = copies(plan.work / "exact", plan.parts)
    corpus_offset = 0
    for unit, (folder, file) in enumerate(zip(plan.unit_dirs(), plan.files)):
        reasons = np.fromfile(folder / "reasons.u8", dtype=np.uint8)
        offsets = np.fromfile(folder / "offsets.u64", dtype=np.uint64)
        lengths = np.fromfile(folder / "lengths.u64", dtype=np.uint64)
        digests = (folder / "digests.bin").read_bytes()
        keys = np.uint64(document_key(unit, 0)) + np.arange(len(reasons), dtype=np.uint64)
        duplicate = np.isin(keys, duplicates)
        tokens = _TokenReader(folder / "tokens.bin", dtype)
        for i, (reason, offset, length) in enumerate(zip(reasons.tolist(), offsets.tolist(), lengths.tolist())):
            if reason:
                yield REASONS[reason], None, corpus_offset + offset, None, None
                continue
            document_tokens = tokens.read(length)
            if duplicate[i]:
                yield "duplicate", None, corpus_offset + offset, None, None
            else:
                yield None, digests[i * DIGEST_SIZE: (i + 1) * DIGEST_SIZE], corpus_offset + offset, document_tokens, None
        tokens.close()
        corpus_offset += file.size


class _TokenReader:
    """One input file's tokens, read forward in blocks (a memory map would count every page in RSS)."""

    def __init__(self, path: Path, dtype: np.dtype):
        self.file, self.dtype, self.block = open(path, "rb"), dtype, np.empty(0, dtype=dtype)

    def read(self, count: int) -> np.ndarray:
        while len(self.block) < count:
            more = np.fromfile(self.file, dtype=self.dtype, count=max(_READ_TOKENS, count - len(self.block)))
            if not len(more):
                raise HeadstartError(f"{self.file.name}: ends early; delete the --work folder and prepare again")
            self.block = np.concatenate([self.block, more])
        out, self.block = self.block[:count], self.block[count:]
        return out

    def close(self) -> None:
        self.file.close()
