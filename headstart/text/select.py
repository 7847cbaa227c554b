"""``select_text``: the N tokens of a large pool most like a target task's text, by DSIR (Xie et al. 2023).

A pool document's log importance weight is the sum, over its hashed unigrams and bigrams, of
log p_target - log p_pool (``select_features``).  Documents are drawn without replacement in proportion
to their weights with the Gumbel-top-k trick -- log-weight + Gumbel noise, highest keys first -- until
N tokens are chosen.  DSIR leaves the noise unseeded; here ``seed`` makes a selection reproducible.

The pool streams through three passes and is never held in memory:

  1. count the pool's hashed n-grams and its tokens per source (each POOL argument is a source);
  2. key every document of ``min_tokens`` or more; a min-heap keeps the highest-keyed documents whose
     tokens first reach N, as (key, tokens, file, position in file, digest of the text): memory grows
     with the selection, never with the pool.  A
     second heap, keyed by noise alone, draws a random sample of the same size: the baseline that the KL
     divergence and the source shares are compared with;
  3. read again only the files that hold chosen documents, and write those out in pool order.
"""
from __future__ import annotations

import contextlib
import heapq
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from headstart.errors import HeadstartError
from headstart.output_folder import check_output_folder, headstart_version, staged_output, write_manifest
from headstart.text.prepare import PrepareOptions, _outside_output, _progress_bar, _without_bad_files
from headstart.text.readers import InputFile, find_input_files
from headstart.text.select_features import (
    SMOOTHING, TOKENS_ARE, NgramHasher, kl_divergence, log_probabilities, target_counts,
)
from headstart.text.select_passes import count_ngrams, pool_chunks, weigh_file

log = logging.getLogger("headstart.text")

MANIFEST_FORMAT, MANIFEST_VERSION = "headstart.text_selection", 1
SELECTED_FILE = "selected.jsonl"
RANDOM_SAMPLE_FILE = "random_sample.jsonl"  # --write-random-sample: the control a selection must beat
# DSIR's min_example_length.  A document's log-weight is a sum over its n-grams, so for ordinary pool text
# (a little less likely under the target than under the pool, per n-gram) it falls with length: without a
# floor, fragments near weight 0 (headings, one-line sentences) outrank every long ordinary document and
# crowd the selection (one-line Gutenberg sentences: 11% of a pool, 32% of an SST-2 selection).
MIN_TOKENS = 100


class TopByBudget:
    """The highest-keyed documents whose tokens first reach ``budget``, kept as documents stream by.

    A min-heap of (key, tokens, file, position, digest): after each push the lowest-keyed document goes
    while the rest still hold ``budget`` tokens, so the heap is always the shortest run of top keys that
    does.  A text already held is not added again (its first copy keeps its place): copies would
    otherwise fill the selection, and prepare text would drop them, leaving fewer tokens than asked for.
    """

    def __init__(self, budget: int):
        self.budget, self.heap, self.tokens = budget, [], 0
        self.held: set[bytes] = set()  # the digests in the heap: memory follows the selection too
        self.duplicates_skipped = 0

    def offer(self, keys: np.ndarray, tokens: np.ndarray, files: np.ndarray, positions: np.ndarray,
              digest_of) -> None:
        """Offer a batch of documents; ``digest_of(i)`` is the i-th one's text digest (asked only of those
        whose key could enter)."""
        # A key at or below the floor would be pushed and popped at once: most of a big pool, skipped in numpy.
        floor = self.heap[0][0] if self.tokens >= self.budget else -np.inf
        for i in np.flatnonzero(keys > floor).tolist():
            digest = digest_of(i)
            if digest in self.held:
                self.duplicates_skipped += 1
                continue
            heapq.heappush(self.heap, (float(keys[i]), int(tokens[i]), int(files[i]), int(positions[i]), digest))
            self.held.add(digest)
            self.tokens += int(tokens[i])
            while self.tokens - self.heap[0][1] >= self.budget:
                _, count, _, _, dropped = heapq.heappop(self.heap)
                self.tokens -= count
                self.held.discard(dropped)

    def locations(self) -> set[tuple[int, int]]:
        return {(file, position) for _, _, file, position, _ in self.heap}

    def per_source(self, source_of: np.ndarray, n_sources: int) -> tuple[np.ndarray, np.ndarray]:
        """(documents, tokens) held, per source."""
        documents, tokens = np.zeros(n_sources, dtype=np.int64), np.zeros(n_sources, dtype=np.int64)
        for _, count, file, _, _ in self.heap:
            documents[source_of[file]] += 1
            tokens[source_of[file]] += count
        return documents, tokens


def select_text(pool: list, out, *, target, tokens: int, seed: int = 0, fmt: str = "auto", field: str = "text",
                doc_unit: str = "paragraph", min_tokens: int = MIN_TOKENS, buckets: int = 10_000,
                encoding: str = "utf-8", target_format: str = "auto", target_field: str = "text",
                target_encoding: str | None = None, on_bad_file: str = "error", overwrite: bool = False,
                progress: bool = True, command: str | None = None, write_random_sample: bool = False,
                work: str | Path | None = None, workers: int = 1, cluster: str | None = None) -> dict:
    """Select about ``tokens`` tokens of ``pool`` most like ``target``; write OUT/selected.jsonl and
    OUT/manifest.json, and return the manifest.  Tokens are ``TOKENS_ARE``; the selection holds at least
    ``tokens`` and fewer than one document more.  A pool smaller than ``tokens`` is an error.  Documents
    shorter than ``min_tokens`` are left out, as if they were not in the pool.  ``write_random_sample``
    also writes OUT/random_sample.jsonl: the random sample of the same size that the KL divergence compares
    against, to pre-train on as the control.  ``work`` runs the two passes over the pool as resumable tasks,
    one per pool file, on the data engine (``select_pipeline``; ``cluster``: on a Ray cluster): the same
    selection, byte for byte."""
    started = time.perf_counter()
    for name, value, least in (("--tokens", tokens, 1), ("--buckets", buckets, 1), ("--min-tokens", min_tokens, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise HeadstartError(f"{name} {value}: expected a whole number of at least {least}")
    options = PrepareOptions(fmt=fmt, field=field, doc_unit=doc_unit, encoding=encoding, on_bad_file=on_bad_file)
    options.validate()
    out = Path(out)
    check_output_folder(out, overwrite)  # before reading any input: fail fast
    hasher = NgramHasher(buckets)
    target_info, target_ngrams = target_counts(Path(target), hasher, fmt=target_format, field=target_field,
                                               doc_unit=doc_unit, encoding=target_encoding or encoding)
    sources, files, source_of, skipped = _pool_files(pool, options, out)
    if {Path(name).resolve() for name in target_info["files"]} & {file.path.resolve() for file in files}:
        log.warning("the target %s is also in the pool: its own text will rank first", target)
    show = progress and sys.stderr.isatty()

    # Pass 1: the pool's n-gram distribution and size.
    engine = None
    if work is not None or cluster is not None:
        from headstart.text.select_pipeline import SelectionJob
        engine = SelectionJob(work, files, options, hasher, min_tokens, seed, workers, cluster, target_info)
    if engine is None:
        with _progress_bar(files, "pool n-grams", show) as bar:
            counts = count_ngrams(files, 0, options, hasher, min_tokens, bar)
    else:
        counts = engine.count_ngrams()
    pool_ngrams, dropped = counts.ngrams, counts.dropped
    documents = np.bincount(source_of, weights=counts.documents, minlength=len(sources)).astype(np.int64)
    pool_tokens = np.bincount(source_of, weights=counts.tokens, minlength=len(sources)).astype(np.int64)
    if documents.sum() == 0:
        raise HeadstartError(f"no usable documents in the pool {', '.join(map(str, pool))}: of the "
                             f"{dropped.total():,} read, {dropped['empty']:,} were empty and {dropped['too_short']:,} "
                             f"shorter than --min-tokens {min_tokens}")
    if pool_tokens.sum() < tokens:
        raise HeadstartError(f"the pool holds {int(pool_tokens.sum()):,} tokens, fewer than --tokens {tokens:,}: "
                             f"ask for fewer or add to the pool")
    log.info("pool: %s documents, %s tokens; selecting %s tokens", f"{documents.sum():,}",
             f"{pool_tokens.sum():,}", f"{tokens:,}")

    # Pass 2: Gumbel-top-k on log-weight + noise; the baseline on noise alone, from a stream of its own.
    log_ratio = log_probabilities(target_ngrams) - log_probabilities(pool_ngrams)
    chosen, baseline = TopByBudget(tokens), TopByBudget(tokens)
    first_documents = np.concatenate([[0], np.cumsum(counts.non_empty)[:-1]]).astype(np.int64)
    if engine is None:
        with _progress_bar(files, "importance weights", show) as bar:
            for index, file in enumerate(files):
                for keyed in weigh_file(index, file, options, hasher, log_ratio, seed, int(first_documents[index]),
                                        min_tokens, bar):
                    chosen.offer(keyed.keys, keyed.tokens, keyed.files, keyed.positions, keyed.digest_of)
                    baseline.offer(keyed.baseline_keys, keyed.tokens, keyed.files, keyed.positions, keyed.digest_of)
    else:
        for keyed in engine.weigh(log_ratio, first_documents):
            chosen.offer(keyed.keys, keyed.tokens, keyed.files, keyed.positions, keyed.digest_of)
            baseline.offer(keyed.baseline_keys, keyed.tokens, keyed.files, keyed.positions, keyed.digest_of)

    # Pass 3: write the selection in pool order; count both samples' n-grams for the KL divergence.
    in_selection, in_sample = chosen.locations(), baseline.locations()
    wanted: dict[int, set[int]] = {}  # file -> positions of the documents to read again
    for file, position in in_selection | in_sample:
        wanted.setdefault(file, set()).add(position)
    selected_ngrams, sampled_ngrams = np.zeros(buckets, np.int64), np.zeros(buckets, np.int64)
    with staged_output(out, overwrite=overwrite) as staging:
        with contextlib.ExitStack() as stack:
            written = stack.enter_context(open(staging / SELECTED_FILE, "w", encoding="utf-8"))
            control = (stack.enter_context(open(staging / RANDOM_SAMPLE_FILE, "w", encoding="utf-8"))
                       if write_random_sample else None)
            bar = stack.enter_context(_progress_bar(files, "writing", show))
            for chunk in pool_chunks(files, options, bar, wanted=wanted):
                locations = list(zip(chunk.files.tolist(), chunk.positions.tolist()))
                selected = np.array([location in in_selection for location in locations])
                sampled = np.array([location in in_sample for location in locations])
                features = hasher(chunk.texts)
                selected_ngrams += hasher.counts(features, selected)
                sampled_ngrams += hasher.counts(features, sampled)
                _write_documents(written, chunk, selected, files, sources, source_of)
                if control is not None:
                    _write_documents(control, chunk, sampled, files, sources, source_of)
        kl = {"target_to_selected": kl_divergence(target_ngrams, selected_ngrams),
              "target_to_random_sample": kl_divergence(target_ngrams, sampled_ngrams),
              "target_to_pool": kl_divergence(target_ngrams, pool_ngrams)}
        kl["reduction"] = kl["target_to_random_sample"] - kl["target_to_selected"]
        seconds, pool_bytes = time.perf_counter() - started, sum(file.size for file in files)
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "file": SELECTED_FILE,
            "random_sample_file": RANDOM_SAMPLE_FILE if write_random_sample else None,
            "tokens_are": TOKENS_ARE, "tokens_requested": tokens, "seed": seed,
            "selected": _totals(chosen), "random_sample": _totals(baseline),
            "pool": {"documents": int(documents.sum()), "tokens": int(pool_tokens.sum()),
                     "empty_documents_skipped": dropped["empty"], "short_documents_skipped": dropped["too_short"],
                     "files": len(files), "bytes": pool_bytes,
                     "skipped_files": skipped},
            "sources": _source_shares(sources, documents, pool_tokens, chosen, baseline, source_of),
            "target": target_info,
            "kl_divergence": {**{key: round(value, 6) for key, value in kl.items()},
                              "unit": "nats, KL(target || sample) over hashed n-gram buckets, the sample's "
                                      "counts add-one smoothed; reduction = random sample's - selection's"},
            "method": {"name": "DSIR, hashed n-gram importance weights (Xie et al. 2023)", "ngrams": [1, 2],
                       "min_tokens": min_tokens,
                       "buckets": buckets, "hash": "BLAKE2b word ids, a rolling hash for bigrams, modulo buckets",
                       "smoothing": f"add-{SMOOTHING:g} on the target's and the pool's counts",
                       "resampling": "Gumbel top-k without replacement, seeded, until the tokens are reached",
                       "random_sample": "the same Gumbel top-k with every weight equal, from its own seeded stream"},
            "options": {"format": fmt, "field": field, "doc_unit": doc_unit, "min_tokens": min_tokens,
                        "encoding": encoding,
                        "target_format": target_format, "target_field": target_field,
                        "target_encoding": target_encoding or encoding, "on_bad_file": on_bad_file},
            "seconds": round(seconds, 3), "pool_mb_per_s": round(pool_bytes / 1e6 / max(seconds, 1e-9), 3),
            "peak_rss_mib": peak_rss_mib(), "command": command,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "headstart_version": headstart_version(),
        }
        write_manifest(staging, manifest)
    return manifest


def _write_documents(stream, chunk, mask: np.ndarray, files, sources, source_of) -> None:
    """One ``{"text", "source", "file"}`` line for each document of ``chunk`` that ``mask`` marks."""
    for i in np.flatnonzero(mask).tolist():
        stream.write(json.dumps({"text": chunk.texts[i], "source": sources[source_of[chunk.files[i]]],
                                 "file": str(files[chunk.files[i]].path)}, ensure_ascii=False) + "\n")


def _pool_files(pool: list, options: PrepareOptions,
                out: Path) -> tuple[list[str], list[InputFile], np.ndarray, list[str]]:
    """(source names, the files to read, each file's source index, files skipped as unreadable); each POOL
    argument is a source."""
    if not pool:
        raise HeadstartError("no pool given: name the files or folders to select from")
    files, source_of, seen = [], {}, set()
    for index, given in enumerate(pool):
        for file in _outside_output(find_input_files([given], options.fmt), out):
            if file.path.resolve() not in seen:  # a file named twice counts under its first source only
                seen.add(file.path.resolve())
                files.append(file)
                source_of[file.path] = index
    files, skipped = _without_bad_files(files, options)
    if not files:
        raise HeadstartError(f"every pool file was skipped as unreadable: {', '.join(skipped)}")
    return [str(given) for given in pool], files, np.array([source_of[file.path] for file in files]), skipped


def _totals(heap: TopByBudget) -> dict:
    return {"documents": len(heap.heap), "tokens": heap.tokens, "duplicates_skipped": heap.duplicates_skipped}


def _source_shares(sources: list[str], documents: np.ndarray, pool_tokens: np.ndarray, chosen: TopByBudget,
                   baseline: TopByBudget, source_of: np.ndarray) -> list[dict]:
    """Per source: documents, tokens, and shares of the pool's, the selection's and the random sample's
    tokens (each share column adds up to 1)."""
    selected_documents, selected_tokens = chosen.per_source(source_of, len(sources))
    _, sampled_tokens = baseline.per_source(source_of, len(sources))
    return [{"source": name, "pool_documents": int(documents[i]), "pool_tokens": int(pool_tokens[i]),
             "selected_documents": int(selected_documents[i]), "selected_tokens": int(selected_tokens[i]),
             "pool_share": round(float(pool_tokens[i] / pool_tokens.sum()), 6),
             "selected_share": round(float(selected_tokens[i] / chosen.tokens), 6),
             "random_sample_share": round(float(sampled_tokens[i] / baseline.tokens), 6)}
            for i, name in enumerate(sources)]


def peak_rss_mib() -> float | None:
    """This process's peak resident memory so far, MiB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows: psutil knows the peak working set
        import psutil
        return round(getattr(psutil.Process().memory_info(), "peak_wset", 0) / 2**20, 1) or None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 2**10, 1)  # bytes on macOS, KiB on Linux
