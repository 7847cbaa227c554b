"""``select --work DIR``: the two passes of DSIR selection over the pool as tasks on the data engine.

A task per pool file, in two stages: ``ngrams`` counts the file's hashed n-grams and documents (pass 1),
``weights`` keys its documents with their log importance weight plus Gumbel noise (pass 2), from noise
streams advanced to the file's first document, so the keys are those a single pass over the pool draws.
Each task writes its results under WORK (a few numbers a document; no text), and the calling process
offers them to the same two heaps, in pool order, as ``select`` without --work: the selection is the
same, byte for byte.  Reading, cleaning and hashing the text (nearly all of the time) is what the tasks
spread; the heaps and the last pass, which writes the chosen documents, stay in the calling process.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from headstart.data_engine import claim_work, publish, run_tasks, task_folder, task_partial, write_atomic
from headstart.errors import HeadstartError
from headstart.text.prepare import _progress_bar
from headstart.text.select_passes import Keyed, NgramCounts, count_ngrams, weigh_file



class SelectionJob:
    """One ``select --work`` job: its plan in WORK/plan.json (a rerun must match it) and its two stages."""

    def __init__(self, work, files, options, hasher, min_tokens: int, seed: int, workers: int, cluster: str | None,
                 target_info: dict):
        if work is None:
            raise HeadstartError(f"--cluster {cluster}: needs --work, a folder every machine of the cluster sees")
        self.work, self.files, self.options, self.hasher = Path(work), files, options, hasher
        self.min_tokens, self.seed, self.workers, self.cluster = min_tokens, seed, max(workers, 1), cluster
        plan = {"files": [[str(f.path), f.fmt, f.size] for f in files],
                "options": {k: asdict(options)[k] for k in ("fmt", "field", "doc_unit", "encoding")},
                "buckets": hasher.buckets, "min_tokens": min_tokens, "seed": seed,
                "target": {k: target_info.get(k) for k in ("files", "documents", "tokens")}}
        claim_work(self.work, plan, "a selection")

    def _engine(self) -> dict:
        return {"work": self.work, "workers": self.workers, "cluster": self.cluster}

    def folder(self, stage: str, index: int) -> Path:
        return self.work / stage / f"{index:05d}"

    def count_ngrams(self) -> NgramCounts:
        run_tasks(task_partial(_count_task, self), tasks=len(self.files), stage="ngrams", **self._engine())
        total = None
        for index in range(len(self.files)):
            folder = self.folder("ngrams", index)
            numbers = json.loads((folder / "counts.json").read_text())
            counts = NgramCounts(np.fromfile(folder / "ngrams.i64", dtype=np.int64),
                                 *(np.asarray([numbers[k]], dtype=np.int64) for k in ("documents", "tokens", "non_empty")),
                                 Counter(numbers["dropped"]))
            total = counts if total is None else total + counts
        return total

    def weigh(self, log_ratio: np.ndarray, first_documents: np.ndarray):
        """Run pass 2's tasks; then yield the keys of every file's documents, in pool order."""
        kept = self.work / "log_ratio.f64"
        if kept.exists() and not np.array_equal(np.fromfile(kept, dtype=np.float64), log_ratio):
            raise HeadstartError(f"--work {self.work}: its weights were computed against another target or pool "
                                 f"(the target file changed?); delete the folder and select again")
        write_atomic(kept, log_ratio.astype(np.float64).tobytes())
        run_tasks(task_partial(_weigh_task, self, log_ratio, first_documents), tasks=len(self.files),
                  stage="weights", **self._engine())
        for index in range(len(self.files)):
            folder = self.folder("weights", index)
            keys, baseline = (np.fromfile(folder / name, dtype=np.float64) for name in ("keys.f64", "baseline.f64"))
            tokens, positions = (np.fromfile(folder / name, dtype=np.int64) for name in ("tokens.i64", "positions.i64"))
            digests = (folder / "digests.bin").read_bytes()
            ends = np.cumsum(np.fromfile(folder / "batches.i64", dtype=np.int64)).tolist()
            # the batches the task was given, replayed: a heap skips keys under its floor batch by batch,
            # and the count of duplicates it skips depends on where batches start
            for start, end in zip([0, *ends[:-1]], ends):
                yield Keyed(keys[start:end], baseline[start:end], tokens[start:end],
                            np.full(end - start, index), positions[start:end],
                            lambda i, s=start: digests[(s + i) * 16: (s + i + 1) * 16])


def _count_task(index: int, job: SelectionJob) -> None:
    folder = job.folder("ngrams", index)
    tmp = task_folder(folder)
    with _progress_bar([], "", False) as bar:
        counts = count_ngrams([job.files[index]], index, job.options, job.hasher, job.min_tokens, bar)
    counts.ngrams.astype(np.int64).tofile(tmp / "ngrams.i64")
    (tmp / "counts.json").write_text(json.dumps({
        "documents": int(counts.documents[0]), "tokens": int(counts.tokens[0]),
        "non_empty": int(counts.non_empty[0]), "dropped": dict(counts.dropped)}))
    publish(tmp, folder)


def _weigh_task(index: int, job: SelectionJob, log_ratio: np.ndarray, first_documents: np.ndarray) -> None:
    folder = job.folder("weights", index)
    tmp = task_folder(folder)
    names = ("keys.f64", "baseline.f64", "tokens.i64", "positions.i64", "digests.bin", "batches.i64")
    out = {name: open(tmp / name, "wb") for name in names}
    with _progress_bar([], "", False) as bar:
        for keyed in weigh_file(index, job.files[index], job.options, job.hasher, log_ratio, job.seed,
                                int(first_documents[index]), job.min_tokens, bar):
            keyed.keys.astype(np.float64).tofile(out["keys.f64"])
            keyed.baseline_keys.astype(np.float64).tofile(out["baseline.f64"])
            np.asarray(keyed.tokens, dtype=np.int64).tofile(out["tokens.i64"])
            np.asarray(keyed.positions, dtype=np.int64).tofile(out["positions.i64"])
            np.asarray([len(keyed.keys)], dtype=np.int64).tofile(out["batches.i64"])
            # a digest only where a key could enter a heap: the others are never asked for
            wanted = np.isfinite(keyed.keys)
            out["digests.bin"].write(b"".join(keyed.digest_of(i) if wanted[i] else bytes(16)
                                              for i in range(len(keyed.keys))))
    for handle in out.values():
        handle.close()
    publish(tmp, folder)
