"""``prepare_text``: raw text files -> cleaned, deduplicated, tokenized shards + manifest.json.

Two streaming passes over the input, each holding at most a few chunks of text in memory:

  1. tokenizer pass (skipped for an existing tokenizer.json): BPE trains on the first
     ``tokenizer_train_mb`` MB of cleaned, deduplicated text; a char tokenizer collects every
     character of the cleaned corpus;
  2. encode pass: workers clean, hash and encode chunks of documents; the main process drops
     duplicates, assigns each document to train or val, and appends its tokens to the shards.

Everything is written to ``OUT.tmp-<pid>`` and renamed to ``OUT`` at the very end, so ``OUT`` is
either absent, the previous result, or a complete new one, never half-written.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from headstart.data_engine import usable_cpus
from headstart.errors import HeadstartError
from headstart.modality.splits import is_val
from headstart.output_folder import check_output_folder, staged_output, write_manifest, headstart_version
from headstart.text.readers import (
    DOC_UNITS, FORMATS, InputFile, check_encoding, find_input_files, find_problem,
)
from headstart.text.shards import (
    MANIFEST_FORMAT, MANIFEST_VERSION, ShardWriter, dtype_name, token_dtype,
)
from headstart.tokenizer import (
    build_char_tokenizer, load_tokenizer, special_token_ids, tokenizer_sha256, train_bpe, train_word_level,
)
from headstart.text.workers import chunk_runner, document_chunks

log = logging.getLogger("headstart.text")

TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class PrepareOptions:
    """Every knob of ``prepare_text``; recorded verbatim in the manifest's "options"."""

    tokenizer: str = "bpe"
    vocab_size: int = 8192
    lowercase: bool = False
    fmt: str = "auto"
    field: str = "text"
    doc_unit: str = "paragraph"
    encoding: str = "utf-8"
    on_bad_file: str = "error"
    fold_whitespace: bool = True
    min_chars: int = 1
    # 10% rather than nanoGPT's 0.05% (of billions of tokens): the corpora this is aimed at are small,
    # and a val split of a few hundred documents gives a loss estimate too noisy to compare runs.
    val_fraction: float = 0.1
    val_from_end: bool = False
    workers: int = 0
    shard_tokens: int = 100_000_000
    tokenizer_train_mb: float = 100
    overwrite: bool = False
    near_dedup: float = 0.0  # Jaccard threshold of MinHash near-dedup (headstart.audit); 0 = off

    def validate(self) -> None:
        def need(condition: bool, message: str) -> None:
            if not condition:
                raise HeadstartError(message)

        need(self.fmt in FORMATS, f"--format {self.fmt}: expected one of {', '.join(FORMATS)}")
        need(self.doc_unit in DOC_UNITS, f"--doc-unit {self.doc_unit}: expected one of {', '.join(DOC_UNITS)}")
        need(self.on_bad_file in ("error", "skip"), f"--on-bad-file {self.on_bad_file}: expected error or skip")
        need(0 <= self.val_fraction < 1, f"--val-fraction {self.val_fraction}: expected 0 <= value < 1")
        need(not self.lowercase or self.tokenizer in ("bpe", "word"),
             f"--lowercase: only for a BPE or word tokenizer trained here, not --tokenizer {self.tokenizer}")
        need(self.vocab_size > 0, f"--vocab-size {self.vocab_size}: expected a positive number")
        need(self.min_chars >= 0, f"--min-chars {self.min_chars}: expected 0 or more")
        need(self.workers >= 0, f"--workers {self.workers}: expected 0 (in-process) or more")
        need(self.shard_tokens >= 1, f"--shard-tokens {self.shard_tokens}: expected a positive number")
        need(self.tokenizer_train_mb > 0, f"--tokenizer-train-mb {self.tokenizer_train_mb}: expected > 0")
        need(0 <= self.near_dedup <= 1, f"--near-dedup {self.near_dedup}: expected a Jaccard threshold in (0, 1], or 0 for off")
        check_encoding(self.encoding, utf16=True)


def prepare_text(inputs: list[str | os.PathLike], out: str | os.PathLike, *, tokenizer: str | os.PathLike = "bpe",
                 vocab_size: int = 8192, lowercase: bool = False, fmt: str = "auto", field: str = "text",
                 doc_unit: str = "paragraph", encoding: str = "utf-8", on_bad_file: str = "error",
                 fold_whitespace: bool = True, min_chars: int = 1, val_fraction: float = 0.1,
                 val_from_end: bool = False, workers: int | None = None,
                 shard_tokens: int = 100_000_000, tokenizer_train_mb: float = 100,
                 overwrite: bool = False, progress: bool = True, near_dedup: float = 0.0,
                 work: str | os.PathLike | None = None, cluster: str | None = None, parts: int = 4) -> dict[str, Any]:
    """Prepare a text corpus for pre-training; returns the manifest (also written to OUT/manifest.json).

    ``tokenizer`` is "bpe" (byte-level BPE trained here, ``vocab_size`` ids), "char" (one id per
    character seen) or the path of an existing tokenizer.json.  ``workers=None`` uses every CPU
    available to this process; ``workers=0`` encodes in-process.

    ``work`` runs the encoding as resumable tasks on the data engine (``prepare_pipeline``), a task per
    input file, on this machine or, with ``cluster`` (a Ray address), on many; the shards are the same
    bytes either way.
    """
    started = time.perf_counter()
    if workers is None:  # the CPUs this process may run on (a container or taskset can restrict them)
        workers = usable_cpus()
    options = PrepareOptions(
        tokenizer=str(tokenizer), vocab_size=vocab_size, lowercase=lowercase, fmt=fmt, field=field,
        doc_unit=doc_unit,
        encoding=encoding, on_bad_file=on_bad_file, fold_whitespace=fold_whitespace,
        min_chars=min_chars, val_fraction=val_fraction, val_from_end=val_from_end, workers=workers,
        shard_tokens=shard_tokens, tokenizer_train_mb=tokenizer_train_mb, overwrite=overwrite,
        near_dedup=near_dedup,
    )
    options.validate()
    out = Path(out)
    check_output_folder(out, overwrite)  # before reading any input: fail fast
    files = _outside_output(find_input_files(inputs, fmt), out)
    files, skipped = _without_bad_files(files, options)
    if not files:
        raise HeadstartError(f"every input file was skipped as unreadable: {', '.join(skipped)}")
    show_progress = progress and sys.stderr.isatty()

    engine = None
    if work is not None or cluster is not None:
        engine = _engine_plan(files, options, work, cluster, parts)
    with staged_output(out, overwrite=overwrite) as staging:
        tok, kind = _make_tokenizer(files, options, show_progress, engine)
        tok.save(str(staging / TOKENIZER_FILE))
        splits, stats = _encode_corpus(files, tok, options, staging, show_progress, engine)
        stats["skipped_files"] = skipped
        stats["seconds"] = round(time.perf_counter() - started, 3)
        stats["mb_per_s"] = round(stats["bytes_read"] / 1e6 / max(stats["seconds"], 1e-9), 3)
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "dtype": dtype_name(token_dtype(tok.get_vocab_size())),
            "vocab_size": tok.get_vocab_size(),
            "tokenizer": {
                "file": TOKENIZER_FILE,
                "sha256": tokenizer_sha256(staging / TOKENIZER_FILE),
                "kind": kind,
                "special_tokens": special_token_ids(tok),
            },
            "splits": splits,
            "stats": stats,
            "options": asdict(options),
            "inputs": [str(file.path) for file in files],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "headstart_version": headstart_version(),
        }
        write_manifest(staging, manifest)
    log.debug("wrote %s", out)  # the CLI and the demo print the path in their summaries
    return manifest


def _engine_plan(files: list[InputFile], options: PrepareOptions, work, cluster: str | None, parts: int) -> tuple:
    from headstart.text.prepare_pipeline import PreparePlan
    if work is None:
        raise HeadstartError(f"--cluster {cluster}: needs --work, a folder every machine of the cluster sees")
    if options.near_dedup:
        raise HeadstartError("--near-dedup keeps a document unless it is near one kept before it, one document "
                             "at a time: it does not run as tasks; drop --work, or find near-duplicates with "
                             "`headstart audit` (which does)")
    if parts < 1:
        raise HeadstartError(f"--parts {parts}: expected 1 or more")
    plan = PreparePlan(Path(work), files, options, parts)
    plan.claim()
    return plan, cluster


def _outside_output(files: list[InputFile], out: Path) -> list[InputFile]:
    """Leave out files inside the output folder or its staging/retired copies, so that
    ``prepare text data/ --out data/prepared --overwrite`` does not read its own manifest.json and
    tokenizer.json back in as JSON Lines."""
    out = out.resolve()

    def is_output_folder(folder: Path) -> bool:
        return folder.parent == out.parent and (
            folder.name == out.name or folder.name.startswith((f"{out.name}.tmp-", f"{out.name}.old-")))

    kept = [file for file in files if not any(map(is_output_folder, file.path.resolve().parents))]
    if not kept:
        raise HeadstartError(f"the only input files found are inside the output folder {out}")
    return kept


def _without_bad_files(files: list[InputFile], options: PrepareOptions) -> tuple[list[InputFile], list[str]]:
    """With --on-bad-file skip, read every file once up front and set aside those that fail, so that
    a bad file is skipped whole rather than after some of its documents were written."""
    if options.on_bad_file != "skip":
        return files, []
    good, skipped = [], []
    for file in files:
        problem = find_problem(file, field=options.field, doc_unit=options.doc_unit, encoding=options.encoding)
        if problem is None:
            good.append(file)
        else:
            log.warning("skipping %s: %s", file.path, problem)
            skipped.append(str(file.path))
    return good, skipped


def _progress_bar(files: list[InputFile], description: str, show: bool) -> tqdm:
    total = sum(file.size for file in files)
    return tqdm(total=total, desc=description, unit="B", unit_scale=True, disable=not show)


def _make_tokenizer(files: list[InputFile], options: PrepareOptions, show_progress: bool,
                    engine: tuple | None = None) -> tuple[Tokenizer, str]:
    """Pass 1: build the tokenizer. Returns (tokenizer, kind) with kind "bpe", "word", "char" or "file".
    A data-engine job keeps it in its work folder, so a resumed job encodes with the same one."""
    if engine is None:
        return _build_tokenizer(files, options, show_progress)
    kept = engine[0].work / TOKENIZER_FILE
    if not kept.exists():
        tok, kind = _build_tokenizer(files, options, show_progress)
        (engine[0].work / "tokenizer-kind").write_text(kind)  # before the tokenizer, which marks both done
        tok.save(str(kept.with_suffix(".tmp")))
        os.replace(kept.with_suffix(".tmp"), kept)
    return load_tokenizer(kept), (engine[0].work / "tokenizer-kind").read_text()


def _build_tokenizer(files: list[InputFile], options: PrepareOptions, show_progress: bool) -> tuple[Tokenizer, str]:
    cleaning = dict(fold_whitespace=options.fold_whitespace, min_chars=options.min_chars)
    if options.tokenizer not in ("bpe", "word", "char"):
        path = Path(options.tokenizer)
        if not path.exists():
            raise HeadstartError(f"--tokenizer {options.tokenizer}: expected bpe, word, char or the path of a "
                                 f"tokenizer.json, and no such file exists")
        return load_tokenizer(path), "file"

    with _progress_bar(files, f"{options.tokenizer} tokenizer", show_progress) as bar, \
            chunk_runner(options.workers, mode="charset" if options.tokenizer == "char" else "clean",
                         **cleaning) as run:
        results = (result for _, result in run(document_chunks(files, options, bar)))
        if options.tokenizer == "char":
            characters: set[str] = set()
            for result in results:
                characters.update(result.characters)
            log.info("char tokenizer: %d distinct characters", len(characters))
            return build_char_tokenizer(characters), "char"
        budget = int(options.tokenizer_train_mb * 1e6)
        if options.tokenizer == "word":
            log.info("counting words (vocab %d) in up to %s MB of text", options.vocab_size, options.tokenizer_train_mb)
            return train_word_level(_deduplicated_texts(results, budget), options.vocab_size, options.lowercase), "word"
        log.info("training byte-level BPE (vocab %d) on up to %s MB of text", options.vocab_size,
                 options.tokenizer_train_mb)
        return train_bpe(_deduplicated_texts(results, budget), options.vocab_size, options.lowercase), "bpe"


def _deduplicated_texts(results, budget_bytes: int) -> Iterator[str]:
    """Cleaned, deduplicated documents for tokenizer training, until ``budget_bytes`` of UTF-8."""
    seen: set[bytes] = set()
    used = 0
    for result in results:
        digests = [digest for digest in result.digests if digest is not None]
        for digest, text in zip(digests, result.texts):
            if digest in seen:
                continue
            seen.add(digest)
            yield text
            used += len(text.encode("utf-8"))
            if used >= budget_bytes:
                return


class _SplitRouter:
    """Sends each kept document to train or val, by document and never by stream position.

    The latest train document is held back until the next one arrives: if the corpus turns out too
    small for any document to land in val, that last one becomes val instead (streaming, no re-read).
    """

    def __init__(self, train: ShardWriter, val: ShardWriter, options: PrepareOptions, total_bytes: int):
        self.train, self.val = train, val
        self.val_fraction = options.val_fraction
        self.val_from_end = options.val_from_end
        self.val_start_byte = total_bytes * (1 - options.val_fraction)
        self.doc_unit = options.doc_unit
        self._held: np.ndarray | None = None

    def is_val(self, digest: bytes, offset: int) -> bool:
        if self.val_fraction == 0:
            return False
        if self.val_from_end:  # documents that start in the last val_fraction of the input bytes
            return offset >= self.val_start_byte
        # The shared rule (``modality.splits``), keyed by the document's content digest: the split ignores order
        # and worker count, and a document keeps its split when the corpus grows.
        return is_val(digest, self.val_fraction)

    def add(self, digest: bytes, offset: int, tokens: np.ndarray) -> None:
        if self.is_val(digest, offset):
            self.val.add_document(tokens)
            return
        if self._held is not None:
            self.train.add_document(self._held)
        self._held = tokens

    def finish(self) -> None:
        if self._held is not None:
            if self.val.documents == 0 and self.val_fraction > 0:
                log.warning("no document fell into val (tiny corpus): using the last document as val")
                self.val.add_document(self._held)
            else:
                self.train.add_document(self._held)
            self._held = None
        if self.train.documents == 0:
            finer = " or split files into more documents (--doc-unit paragraph)" if self.doc_unit == "file" else ""
            raise HeadstartError(
                f"all {self.val.documents} kept document(s) went to val, none to train; "
                f"lower --val-fraction (now {self.val_fraction}), add data{finer}"
            )


def _encoded_in_process(files: list[InputFile], options: PrepareOptions, processor: dict,
                        show_progress: bool) -> Iterator[tuple]:
    """Every document in corpus order, encoded by this process's pool: (drop reason or None, digest,
    byte offset in the corpus, tokens, cleaned text with --near-dedup)."""
    with _progress_bar(files, "encoding", show_progress) as bar, \
            chunk_runner(options.workers, **processor) as run:
        for offsets, result in run(document_chunks(files, options, bar)):
            lengths = iter(result.lengths)  # one per document that survived cleaning
            texts = iter(result.texts)  # likewise, with near-dedup only
            start = 0  # where the next surviving document's tokens begin in result.tokens
            for reason, digest, offset in zip(result.reasons, result.digests, offsets):
                if reason is not None:
                    yield reason, None, offset, None, None
                    continue
                length = next(lengths)
                tokens, start = result.tokens[start: start + length], start + length
                yield None, digest, offset, tokens, next(texts) if processor["keep_texts"] else None


def _encode_corpus(files: list[InputFile], tok: Tokenizer, options: PrepareOptions, directory: Path,
                   show_progress: bool, engine: tuple | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pass 2: encode, dedup, split and write.  Returns (manifest "splits", manifest "stats").  ``engine``
    (a ``PreparePlan`` and a cluster address or None) runs the encoding as the data engine's tasks."""
    dtype = token_dtype(tok.get_vocab_size())
    writers = {split: ShardWriter(directory, split, dtype, options.shard_tokens) for split in ("train", "val")}
    router = _SplitRouter(writers["train"], writers["val"], options, sum(file.size for file in files))
    seen: set[bytes] = set()  # 16-byte digests: ~100 bytes of RAM per kept document
    counts = {"documents_read": 0, "kept": 0, "empty": 0, "too_short": 0, "duplicate": 0}
    near = None
    if options.near_dedup:  # an LSH index of kept documents' MinHash signatures (~1 KB each)
        from headstart.audit.near_dup import NearDeduper
        near, counts["near_duplicate"] = NearDeduper(options.near_dedup), 0

    log.info("encoding %d file(s), %.1f MB, with %s", len(files), sum(f.size for f in files) / 1e6,
             f"{options.workers} worker process(es)" if options.workers else "no worker processes")
    processor = dict(mode="encode", fold_whitespace=options.fold_whitespace, min_chars=options.min_chars,
                     tokenizer_json=tok.to_str(), eos_id=special_token_ids(tok)["eos"],
                     dtype=dtype_name(dtype), keep_texts=near is not None)
    if engine is None:
        documents = _encoded_in_process(files, options, processor, show_progress)
    else:  # the data engine's tasks drop exact copies themselves: no digest set here
        from headstart.text.prepare_pipeline import encode_with_engine
        seen, (plan, cluster) = None, engine
        documents = encode_with_engine(plan, options, processor["tokenizer_json"], processor["eos_id"],
                                       processor["dtype"], cluster)
    for reason, digest, offset, tokens, text in documents:
        counts["documents_read"] += 1
        if reason is not None:
            counts[reason] += 1
            continue
        if seen is not None:
            if digest in seen:
                counts["duplicate"] += 1
                continue
            seen.add(digest)
        if near is not None and near.is_duplicate(text):
            counts["near_duplicate"] += 1
            continue
        counts["kept"] += 1
        router.add(digest, offset, tokens)

    if counts["kept"] == 0:
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        raise HeadstartError(
            f"no documents left to write from {', '.join(str(file.path) for file in files[:3])}{more}: "
            f"read {counts['documents_read']}, dropped {counts['empty']} "
            f"empty, {counts['too_short']} shorter than --min-chars {options.min_chars}, "
            f"{counts['duplicate']} duplicates"
        )
    router.finish()
    if near is not None:
        log.info("near-dedup: dropped %d document(s) with an estimated Jaccard >= %g to one kept earlier",
                 counts["near_duplicate"], options.near_dedup)
    splits = {split: writer.close() for split, writer in writers.items()}
    survived = counts["kept"] + counts["duplicate"]
    stats = {
        "documents_read": counts["documents_read"],
        "kept": counts["kept"],
        "dropped": {reason: counts[reason] for reason in ("empty", "too_short", "duplicate", "near_duplicate")
                    if reason in counts},
        "duplicate_rate": round(counts["duplicate"] / survived, 6) if survived else 0.0,
        "bytes_read": sum(file.size for file in files),
    }
    return splits, stats
