"""The per-chunk work (clean, hash, tokenize) and the process pool that runs it in order.

The main process reads documents and groups them into chunks; a chunk is cleaned and encoded either
in-process (``workers=0``) or in a pool of worker processes.  Results come back in submission
order, so the output does not depend on the number of workers.  Workers never see file names or offsets: input
errors are all raised by the reader, in the main process, where they can name file and line.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from headstart.errors import HeadstartError
from headstart.text.cached_encoder import CachedEncoder
from headstart.text.cleaning import clean_text, document_digest, drop_reason
from headstart.text.readers import read_documents
from headstart.tokenizer import tokenizer_from_json

# A chunk ends at whichever comes first.  CHUNK_CHARS bounds memory: ~1 MB of text is big enough to
# amortise IPC and small enough to keep RSS flat.  CHUNK_DOCUMENTS only matters for short documents
# (one a line): 2048 rather than 256 took 8% less wall time on a 23 MB one-sentence-a-line corpus with
# 2 workers (median of 5 alternating pairs), by sending and collecting 8 times fewer chunks.
CHUNK_DOCUMENTS = 2048
CHUNK_CHARS = 1 << 20


def document_chunks(files: list, options, bar=None) -> Iterator[tuple[list[str], list[int]]]:
    """Group the corpus's raw documents into chunks: (texts, start offsets in the whole corpus).

    A document's offset counts bytes across all files in order, which is what --val-from-end splits on.
    ``options`` gives ``field``, ``doc_unit`` and ``encoding`` (``PrepareOptions``); ``bar`` (tqdm), if
    given, follows the bytes read.
    """
    texts: list[str] = []
    offsets: list[int] = []
    chars = 0
    corpus_offset = 0  # where the current file starts in the concatenated corpus
    for file in files:
        for document in read_documents(file, field=options.field, doc_unit=options.doc_unit,
                                       encoding=options.encoding):
            texts.append(document.text)
            offsets.append(corpus_offset + document.offset)
            chars += len(document.text)
            if len(texts) >= CHUNK_DOCUMENTS or chars >= CHUNK_CHARS:
                if bar is not None:
                    bar.update(offsets[-1] - bar.n)
                yield texts, offsets
                texts, offsets, chars = [], [], 0
        corpus_offset += file.size
        if bar is not None:
            bar.update(corpus_offset - bar.n)
    if texts:
        yield texts, offsets


@dataclass
class ChunkResult:
    """What came of each document of a chunk, in order.

    ``reasons[i]`` is "empty"/"too_short" for a dropped document, else None and ``digests[i]`` is its
    dedup key (dedup itself happens in the main process, which sees the whole corpus).  For the
    documents that survived cleaning: in "encode" mode ``tokens`` holds their ids back to back, each
    followed by EOS, and ``lengths`` their lengths (EOS included); in "clean" mode ``texts`` holds the
    cleaned texts (also in "encode" mode with ``keep_texts``); in "charset" mode ``characters`` holds every character they use.
    """

    reasons: list[str | None]
    digests: list[bytes | None]
    tokens: np.ndarray | None = None
    lengths: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    characters: str = ""


class ChunkProcessor:
    """Cleans, hashes and (in "encode" mode) tokenizes a list of raw documents.

    mode: "clean" (for training BPE), "charset" (for building a char vocabulary) or "encode".
    """

    def __init__(self, mode: str, *, fold_whitespace: bool, min_chars: int,
                 tokenizer_json: str | None = None, eos_id: int | None = None,
                 dtype: str | None = None, keep_texts: bool = False):
        if mode not in ("clean", "charset", "encode"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode, self.fold_whitespace, self.min_chars = mode, fold_whitespace, min_chars
        self.eos_id, self.dtype = eos_id, np.dtype(dtype) if dtype else None
        self.keep_texts = keep_texts  # encode mode: also return the cleaned texts (for --near-dedup)
        self.encoder = None
        if mode == "encode":
            # Text that happens to contain "<|endoftext|>" must not turn into the real EOS id (a
            # forged document boundary): the encoder encodes special-token strings as ordinary text.
            self.encoder = CachedEncoder(tokenizer_from_json(tokenizer_json))

    def __call__(self, raw_texts: list[str]) -> ChunkResult:
        result = ChunkResult(reasons=[], digests=[])
        kept: list[str] = []
        for raw in raw_texts:
            text = clean_text(raw, fold_whitespace=self.fold_whitespace)
            reason = drop_reason(text, self.min_chars)
            result.reasons.append(reason)
            result.digests.append(None if reason else document_digest(text))
            if reason is None:
                kept.append(text)
        if self.mode == "clean":
            result.texts = kept
        elif self.mode == "charset":
            result.characters = "".join(set().union(*kept))
        else:
            if self.keep_texts:
                result.texts = kept
            ids = self.encoder.encode_batch(kept)
            for document_ids in ids:
                document_ids.append(self.eos_id)
            result.lengths = [len(document_ids) for document_ids in ids]
            result.tokens = np.fromiter(chain.from_iterable(ids), dtype=self.dtype,
                                        count=sum(result.lengths))
        return result


# A worker process builds its processor once, in the pool initializer, and keeps it here.
_worker_processor: ChunkProcessor | None = None


def _init_worker(kwargs: dict[str, Any]) -> None:
    global _worker_processor
    # Ctrl-C reaches the whole process group: let the main process alone handle it and shut the
    # pool down, rather than every worker printing its own KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Each worker is one of N processes already; tokenizers' own thread pool would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_processor = ChunkProcessor(**kwargs)


def _process_in_worker(raw_texts: list[str]) -> ChunkResult:
    return _worker_processor(raw_texts)


def _worker_context():
    """How worker processes start.  Never fork: it would copy the parent's threads and locks
    (tokenizers runs a Rust thread pool, torch its own).  forkserver where the platform has it: a
    clean server process imports this module once and every worker is a fork of that server, so the
    imports are not paid again per worker (a 23 MB corpus prepared with 2 workers took 12% less wall
    time than with spawn, median of 6 alternating pairs).  Only on Linux, the one platform where
    Python itself makes forkserver the default (3.14); spawn elsewhere, as macOS and Windows default to."""
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # no effect once a server runs: it is then reused as is
        return context
    return multiprocessing.get_context("spawn")


def _check_main_is_importable() -> None:
    """A worker started by spawn or forkserver first re-imports the main script from its file.  A script
    piped in on standard input has no file ("<stdin>"): its workers would die at start-up, and under spawn
    the pool waits for them forever.  Say so before starting any."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):  # python -m ...: re-imported by name
        return
    path = getattr(main, "__file__", None)
    if path is not None and not os.path.isfile(path):
        raise HeadstartError(f"worker processes re-import the main script, but it is not a file ({path}: a "
                             f"script read from standard input?); run it from a file, or use 0 workers (--workers 0)")


@contextmanager
def chunk_runner(workers: int, **processor_kwargs: Any):
    """Yield ``run(chunks) -> Iterator[(chunk, ChunkResult)]``, in order, on ``workers`` processes.

    ``chunks`` is an iterable of (raw_texts, payload) pairs; the payload stays in the main process and
    comes back with the result.  At most 2 x workers chunks are in flight: ``Pool.imap`` (and
    ``Executor.map``) would drain the reader as fast as it can and hold the corpus in a task queue.
    """
    if workers == 0:
        processor = ChunkProcessor(**processor_kwargs)

        def run_inline(chunks: Iterable[tuple[list[str], Any]]) -> Iterator[tuple[Any, ChunkResult]]:
            for raw_texts, payload in chunks:
                yield payload, processor(raw_texts)

        yield run_inline
        return

    _check_main_is_importable()
    # ProcessPoolExecutor rather than multiprocessing.Pool because it notices a worker that died (OOM
    # killer) and raises BrokenProcessPool instead of waiting forever.
    executor = ProcessPoolExecutor(workers, mp_context=_worker_context(),
                                   initializer=_init_worker, initargs=(processor_kwargs,))

    def run_pooled(chunks: Iterable[tuple[list[str], Any]]) -> Iterator[tuple[Any, ChunkResult]]:
        pending: deque = deque()
        for raw_texts, payload in chunks:
            if len(pending) >= 2 * workers:
                done_payload, future = pending.popleft()
                yield done_payload, future.result()
            pending.append((payload, executor.submit(_process_in_worker, raw_texts)))
        while pending:
            done_payload, future = pending.popleft()
            yield done_payload, future.result()

    try:
        yield run_pooled
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
