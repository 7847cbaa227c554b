"""The text audit as disk-based stages on the data engine: the report of ``audit_text``, in bounded memory.

``audit_text`` keeps every document's MinHash signature and LSH entries in memory (about 5.6 KB a
document: 6 GB a million).  Here, as in datatrove's MinHash deduplication, per-document state goes to
disk and each later stage reads one bucket of it:

  1. ``signatures``, a task per input file: the tallies (quality, contamination, bias, counts) as
     JSON; every document's name and excerpt; its signature (``num_perm`` uint64s); its exact-dedup
     digest and its LSH band keys, spread over ``parts`` bucket files by hash.
  2. ``exact``, a task per digest bucket: groups of identical documents; a later copy is dropped from
     near-duplicate detection (as ``audit_text`` drops it).
  3. ``near``, a task per (band, bucket): documents whose band keys collide are candidates; a pair
     counts when their signatures agree on at least ``threshold`` of the permutations (the estimated
     Jaccard, as ``audit_text`` confirms it), in the first band where they collide (so once).
  4. in the calling process: the tallies add up, the pairs join into clusters (memory grows with the
     documents *in* clusters, not the corpus), and the report is written as ``audit_text`` writes it.

Peak memory is one input file's buffers, or one bucket: a bucket holds 16 bytes a document of the
corpus divided by ``parts``; raise ``--parts`` for a larger corpus.  The banding (b bands of r rows) is
datasketch's for the threshold, so a pair ``audit_text`` finds is found here too, and vice versa.

Every output of a task depends only on the task's number, is written under a temporary name and
renamed into place, and the engine marks the task done after that: a killed job reruns only the
unfinished tasks, and 1 worker or 40 write the same files.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from headstart.audit.near_dup import NearDuplicateIndex
from headstart.data_engine import claim_work, publish, run_tasks, task_folder, task_partial, usable_cpus, \
    write_atomic
from headstart.errors import HeadstartError
from .audit import SHOWN_NAMES, CorpusSignals, cluster_example, excerpt, report_options
from .cleaning import document_digest
from .documents import text_documents
from .exact_buckets import append_records, bucket_records, copies, digest_records, document_key, exact_task, \
    split_key
from .readers import find_input_files

log = logging.getLogger("headstart.audit")
_FLUSH_DOCUMENTS = 4096  # documents whose bucket records are buffered before they go to disk
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
                dtype=np.uint64)


def input_units(inputs: list[Path], fmt: str) -> list[str]:
    """The tasks of the first stage: each prepared folder, and each raw file in the order prepare reads them."""
    from headstart.output_folder import read_format
    prepared = [str(given) for given in inputs if read_format(Path(given)) is not None]
    raw = [given for given in inputs if read_format(Path(given)) is None]
    return prepared + ([str(file.path) for file in find_input_files(raw, fmt)] if raw else [])


class AuditPlan:
    """What a job audits and how: written to WORK/plan.json by the first run; a rerun must match it."""

    def __init__(self, work: Path, units: list[str], options: dict, parts: int):
        self.work, self.units, self.options, self.parts = Path(work), units, options, parts
        index = NearDuplicateIndex(options["threshold"], options["num_perm"])
        self.bands, self.rows = index.lsh.b, index.lsh.r

    def as_json(self) -> dict:
        return {"units": self.units, "options": self.options, "parts": self.parts}

    def claim(self) -> None:
        claim_work(self.work, self.as_json(), "an audit")

    def unit_dir(self, unit: int) -> Path:
        return self.work / "shards" / f"{unit:05d}"

    def unit_dirs(self) -> list[Path]:
        return [self.unit_dir(unit) for unit in range(len(self.units))]


class _BucketFiles:
    """A task's bucket files, appended to in batches so its memory stays flat however long its input."""

    def __init__(self, folder: Path, plan: AuditPlan):
        self.folder, self.plan = folder, plan
        self.signatures: list[np.ndarray] = []
        self.keys: list[int] = []
        self.digests: list[bytes] = []

    def add(self, key: int, signature: np.ndarray, digest: bytes) -> None:
        self.keys.append(key)
        self.signatures.append(signature)
        self.digests.append(digest)
        if len(self.keys) >= _FLUSH_DOCUMENTS:
            self.flush()

    def flush(self) -> None:
        if not self.keys:
            return
        keys, parts = np.asarray(self.keys, dtype=np.uint64), self.plan.parts
        append_records(self.folder, "exact", *digest_records(self.digests, self.keys), parts)
        bands = band_keys(np.stack(self.signatures), self.plan.bands, self.plan.rows)
        for band in range(self.plan.bands):
            append_records(self.folder, f"band-{band:03d}", np.column_stack([bands[:, band], keys]), bands[:, band], parts)
        self.signatures, self.keys, self.digests = [], [], []


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) uint64 keys: equal bands give equal keys; a rare false equality only adds a
    candidate, which the signatures then refuse."""
    with np.errstate(over="ignore"):
        slices = signatures[:, : bands * rows].reshape(len(signatures), bands, rows)
        mixed = (slices * _MIX[np.arange(rows) % len(_MIX)]) ^ (slices >> np.uint64(29))
        keys = np.bitwise_xor.reduce(mixed * np.uint64(0xBF58476D1CE4E5B9), axis=2)
        keys ^= np.arange(bands, dtype=np.uint64) * _MIX[1]
    return keys


def signatures_task(unit: int, plan: AuditPlan, reading: dict, signal_options: dict) -> None:
    """Stage 1 for one input file: its tallies, document table, signatures and bucket records."""
    folder = plan.unit_dir(unit)
    tmp = task_folder(folder)
    corpus = CorpusSignals(**signal_options)
    index = NearDuplicateIndex(plan.options["threshold"], plan.options["num_perm"])
    buckets = _BucketFiles(tmp, plan)
    empty = np.full(plan.options["num_perm"], np.iinfo(np.uint64).max, dtype=np.uint64)
    with open(tmp / "documents.jsonl", "wb") as table, open(tmp / "signatures.u64", "wb") as signatures:
        offsets = []
        for number, document in enumerate(text_documents([plan.units[unit]], **reading)):
            word_ids = corpus.add(document)
            offsets.append(table.tell())
            table.write(json.dumps({"name": document.name, "excerpt": excerpt(document.text)}).encode() + b"\n")
            minhash = index.signature(word_ids)
            signature = empty if minhash is None else minhash.hashvalues.astype(np.uint64)
            signature.tofile(signatures)
            if minhash is not None:
                buckets.add(document_key(unit, number), signature, document_digest(document.text))
        buckets.flush()
        offsets.append(table.tell())  # where each line starts, and the end of the last
        np.asarray(offsets, dtype=np.uint64).tofile(tmp / "offsets.u64")
    (tmp / "tally.json").write_text(json.dumps(corpus.state()))
    publish(tmp, folder)


class Signatures:
    """A document's signature, name and excerpt by key, read from the stage-1 files (no file held in memory)."""

    def __init__(self, plan: AuditPlan):
        self.plan, self.width, self.files = plan, plan.options["num_perm"], {}

    def _file(self, unit: int, name: str) -> int:
        if (unit, name) not in self.files:
            self.files[unit, name] = os.open(self.plan.unit_dir(unit) / name, os.O_RDONLY)
        return self.files[unit, name]

    def signature(self, key: int) -> np.ndarray:
        unit, number = split_key(key)
        data = os.pread(self._file(unit, "signatures.u64"), 8 * self.width, 8 * self.width * number)
        return np.frombuffer(data, dtype=np.uint64)

    def record(self, key: int) -> dict:
        unit, number = split_key(key)
        start, end = np.frombuffer(os.pread(self._file(unit, "offsets.u64"), 16, 8 * number), dtype=np.uint64)
        return json.loads(os.pread(self._file(unit, "documents.jsonl"), int(end - start), int(start)))

    def close(self) -> None:
        for descriptor in self.files.values():
            os.close(descriptor)
        self.files = {}


def near_task(task: int, plan: AuditPlan) -> None:
    """Stage 3 for one (band, bucket): confirmed near-duplicate pairs first colliding in this band."""
    band, part = divmod(task, plan.parts)
    records = bucket_records(plan.unit_dirs(), f"band-{band:03d}-{part:03d}.u64", 2)
    records = records[~np.isin(records[:, 1], copies(plan.work / "exact", plan.parts))]
    records = records[np.lexsort((records[:, 1], records[:, 0]))]
    collides = np.zeros(len(records), dtype=bool)  # keep the records whose band key another record shares
    collides[1:] |= records[1:, 0] == records[:-1, 0]
    collides[:-1] |= records[:-1, 0] == records[1:, 0]
    records = records[collides]
    boundaries = np.flatnonzero(np.diff(records[:, 0])) + 1
    threshold, rows = plan.options["threshold"], plan.rows
    lookup, found = Signatures(plan), []
    for group in np.split(records[:, 1], boundaries) if len(records) else []:
        signatures = np.stack([lookup.signature(int(key)) for key in group])
        for i in range(len(group) - 1):
            agree = signatures[i + 1:] == signatures[i]
            similar = agree.mean(axis=1) >= threshold
            # counted in the first band where the two collide: any earlier band equal means done there
            earlier = agree[:, : band * rows].reshape(len(agree), band, rows).all(axis=2).any(axis=1)
            for j in np.flatnonzero(similar & ~earlier):
                found.append((int(group[i]), int(group[i + 1 + j])))
    lookup.close()
    out = plan.work / "near"
    out.mkdir(exist_ok=True)
    write_atomic(out / f"{task:05d}.pairs.u64", np.asarray(found, dtype=np.uint64).reshape(-1, 2).tobytes())


def audit_pipeline(inputs: list[Path], *, work: Path, workers: int = 1, cluster: str | None = None, parts: int = 4,
                   eval_files: list[Path] = (), eval_format: str = "auto", text_field: str = "text",
                   label_field: str = "label", threshold: float = 0.8, num_perm: int = 128,
                   bias_words: Path | None = None, window: int = 10, fmt: str = "auto", field: str = "text",
                   doc_unit: str = "file", encoding: str = "utf-8", examples: int = 20,
                   pairs_out: list | None = None) -> dict:
    """The text audit of ``inputs`` as stages over WORK; the same report as ``audit_text``.  A rerun with
    the same arguments resumes: finished tasks are not redone."""
    started = time.perf_counter()
    if parts < 1:
        raise HeadstartError(f"--parts {parts}: expected 1 or more")
    reading = {"fmt": fmt, "field": field, "doc_unit": doc_unit, "encoding": encoding}
    signal_options = {"eval_files": [str(p) for p in eval_files], "eval_format": eval_format, "text_field": text_field,
                      "label_field": label_field, "encoding": encoding,
                      "bias_words": str(bias_words) if bias_words else None, "window": window}
    units = input_units(list(inputs), fmt)
    if not units:
        raise HeadstartError(f"no text files in {', '.join(map(str, inputs))}")
    plan = AuditPlan(work, units, {**reading, **signal_options, "threshold": threshold, "num_perm": num_perm}, parts)
    plan.claim()
    signal_options["bias_words"] = bias_words
    engine = {"work": Path(work), "workers": workers, "cluster": cluster}
    run_tasks(task_partial(signatures_task, plan, reading, signal_options), tasks=len(units),
              stage="signatures", **engine)
    run_tasks(task_partial(exact_task, plan.unit_dirs(), plan.work / "exact", examples, SHOWN_NAMES), tasks=parts,
              stage="exact", **engine)
    run_tasks(task_partial(near_task, plan), tasks=plan.bands * parts, stage="near", **engine)
    return _report(plan, inputs, signal_options, examples, started, pairs_out)


def _report(plan: AuditPlan, inputs, signal_options: dict, examples: int, started: float, pairs_out) -> dict:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components  # union-find over the pairs, in C
    corpus = CorpusSignals(**signal_options)
    for unit in range(len(plan.units)):
        corpus.merge(json.loads((plan.unit_dir(unit) / "tally.json").read_text()))
    corpus.check_not_empty(inputs)
    lookup = Signatures(plan)
    exact_parts = [json.loads((plan.work / "exact" / f"{part:03d}.json").read_text()) for part in range(plan.parts)]
    top = sorted((row for part in exact_parts for row in part["top"]), key=lambda r: (-r["copies"], r["original"]))
    exact = {"groups": sum(p["groups"] for p in exact_parts),
             "duplicate_documents": sum(p["duplicate_documents"] for p in exact_parts),
             "examples": [{"copies": row["copies"],
                           "documents": [lookup.record(key)["name"] for key in [row["original"], *row["later"]]],
                           "excerpt": lookup.record(row["original"])["excerpt"]} for row in top[:examples]]}
    pair_files = sorted((plan.work / "near").glob("*.pairs.u64"))
    pairs = np.concatenate([np.fromfile(p, dtype=np.uint64).reshape(-1, 2) for p in pair_files] or
                           [np.empty((0, 2), dtype=np.uint64)])
    keys, inverse = np.unique(pairs, return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    labels = connected_components(coo_matrix((np.ones(len(pairs)), (inverse[:, 0], inverse[:, 1])),
                                             shape=(len(keys), len(keys))), directed=False)[1] if len(keys) else np.empty(0, np.int64)
    members: dict[int, list[int]] = {}
    for key, label in zip(keys.tolist(), labels.tolist()):
        members.setdefault(label, []).append(key)
    groups = sorted((sorted(m) for m in members.values()), key=lambda m: (-len(m), m[0]))
    if pairs_out is not None:
        pairs_out.extend((lookup.record(int(a))["name"], lookup.record(int(b))["name"]) for a, b in pairs.tolist())
    near = {"pairs": int(len(pairs)), "clusters": len(groups), "documents_in_clusters": int(len(keys)),
            "examples": [cluster_example(group, lookup.signature, lambda k: lookup.record(k)["name"],
                                         lambda k: lookup.record(k)["excerpt"]) for group in groups[:examples]]}
    lookup.close()
    options = plan.options
    report = corpus.report(inputs, report_options(options["doc_unit"], options["fmt"], options["field"],
                                                  options["encoding"], options["threshold"], options["num_perm"],
                                                  options["window"]), exact, near, started)
    report["engine"] = {"input_files": len(plan.units), "parts": plan.parts, "bands": plan.bands, "rows": plan.rows}
    return report


def audit(inputs: list[Path], options) -> dict:
    """The registered audit of text (``headstart.audit.cli``): every option of the command applies.  It runs
    as disk-based stages (``audit_pipeline``) in ``options.work``; the folder is removed after a successful
    run unless the user named it (then a later run with other inputs refuses it, and it can be resumed)."""
    work = Path(options.work)
    workers = options.workers or usable_cpus()
    result = audit_pipeline(inputs, work=work, workers=workers, cluster=options.cluster, parts=options.parts,
                            eval_files=list(options.eval_files), eval_format=options.eval_format,
                            text_field=options.text_field, label_field=options.label_field,
                            threshold=options.near_dup_threshold, num_perm=options.num_perm,
                            bias_words=options.bias_words, window=options.bias_window, fmt=options.fmt,
                            field=options.field, doc_unit=options.doc_unit, encoding=options.encoding,
                            examples=options.examples)
    if options.remove_work:
        shutil.rmtree(work, ignore_errors=True)
    return result

