"""The two passes of DSIR selection over a pool's files (``select_text`` runs them over the whole pool in
one process; ``select_pipeline`` runs them a file per task on the data engine, with the same results)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import islice
from typing import NamedTuple

import numpy as np

from headstart.text.cleaning import clean_text, document_digest, drop_reason
from headstart.text.prepare import PrepareOptions
from headstart.text.readers import InputFile, read_documents
from headstart.text.select_features import NgramHasher, log_importance_weights
from headstart.text.workers import CHUNK_CHARS, CHUNK_DOCUMENTS


class Chunk(NamedTuple):
    texts: list[str]  # cleaned
    files: np.ndarray  # index into the pool's file list
    positions: np.ndarray  # the document's index among its file's documents, as the reader yields them


def pool_chunks(files: list[InputFile], options: PrepareOptions, bar, dropped: Counter | None = None,
            wanted: dict[int, set[int]] | None = None, first_index: int = 0) -> Iterator[Chunk]:
    """The pool's non-empty documents, cleaned, ~1 MB at a time; only the ``wanted`` ones if given.
    ``dropped["empty"]`` counts the documents that were empty after cleaning.  ``files[0]`` is the pool's
    file number ``first_index``."""
    texts, file_ids, positions, chars = [], [], [], 0
    for file_index, file in enumerate(files, start=first_index):
        keep = None if wanted is None else wanted.get(file_index)
        documents = read_documents(file, field=options.field, doc_unit=options.doc_unit, encoding=options.encoding)
        if keep is not None:  # the wanted documents only; the file is left at its last wanted one
            documents = islice(documents, max(keep) + 1)
        for position, document in enumerate(documents if wanted is None or keep else ()):
            if keep is not None and position not in keep:
                continue
            # Whitespace is kept so that selected code keeps its indentation; prepare text folds it later.
            text = clean_text(document.text, fold_whitespace=False)
            if drop_reason(text, 1):
                if dropped is not None:
                    dropped["empty"] += 1
                continue
            texts.append(text)
            file_ids.append(file_index)
            positions.append(position)
            chars += len(text)
            if len(texts) >= CHUNK_DOCUMENTS or chars >= CHUNK_CHARS:
                yield Chunk(texts, np.array(file_ids), np.array(positions))
                texts, file_ids, positions, chars = [], [], [], 0
        bar.update(file.size)
    if texts:
        yield Chunk(texts, np.array(file_ids), np.array(positions))


class NgramCounts(NamedTuple):
    """Pass 1 over some of the pool's files: n-gram counts of the documents of ``min_tokens`` or more, and
    per file those documents, their tokens, and every non-empty document (each draws its noise)."""
    ngrams: np.ndarray
    documents: np.ndarray
    tokens: np.ndarray
    non_empty: np.ndarray
    dropped: Counter

    def __add__(self, other: "NgramCounts") -> "NgramCounts":
        return NgramCounts(self.ngrams + other.ngrams, np.concatenate([self.documents, other.documents]),
                           np.concatenate([self.tokens, other.tokens]),
                           np.concatenate([self.non_empty, other.non_empty]), self.dropped + other.dropped)


def count_ngrams(files: list[InputFile], first_index: int, options: PrepareOptions, hasher: NgramHasher,
                 min_tokens: int, bar) -> NgramCounts:
    """Pass 1 over ``files`` (the pool's files ``first_index``, ``first_index + 1``...)."""
    ngrams = np.zeros(hasher.buckets, dtype=np.int64)
    documents, tokens, non_empty = (np.zeros(len(files), np.int64) for _ in range(3))
    dropped = Counter(empty=0, too_short=0)
    for chunk in pool_chunks(files, options, bar, dropped, first_index=first_index):
        features = hasher(chunk.texts)
        long_enough = features.tokens >= min_tokens
        local = chunk.files - first_index
        dropped["too_short"] += int(np.count_nonzero(~long_enough))
        ngrams += hasher.counts(features, long_enough)
        np.add.at(non_empty, local, 1)
        np.add.at(documents, local[long_enough], 1)
        np.add.at(tokens, local[long_enough], features.tokens[long_enough])
    return NgramCounts(ngrams, documents, tokens, non_empty, dropped)


class Keyed(NamedTuple):
    """Pass 2's keys for a batch of documents: Gumbel-top-k keys (-inf under ``min_tokens``), the random
    sample's keys, tokens, pool file and position, and the text digest of document i, on demand."""
    keys: np.ndarray
    baseline_keys: np.ndarray
    tokens: np.ndarray
    files: np.ndarray
    positions: np.ndarray
    digest_of: object


def weigh_file(index: int, file: InputFile, options: PrepareOptions, hasher: NgramHasher, log_ratio: np.ndarray,
               seed: int, first_document: int, min_tokens: int, bar) -> Iterator[Keyed]:
    """Pass 2 over the pool's file ``index``, whose first non-empty document is the pool's ``first_document``-th.
    The noise streams are advanced to that document, so a file weighed alone (a task of the data engine)
    draws what a pass over the whole pool draws for it: every Gumbel draw takes one 64-bit word of PCG64."""
    noise, baseline_noise = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    noise.bit_generator.advance(first_document)
    baseline_noise.bit_generator.advance(first_document)
    for chunk in pool_chunks([file], options, bar, first_index=index):
        features, n = hasher(chunk.texts), len(chunk.texts)
        # A document under --min-tokens gets key -inf, which never enters a heap; the noise is still
        # drawn for it, so that each document meets the same draw whatever --min-tokens is.
        long_enough = features.tokens >= min_tokens
        keys = np.where(long_enough, log_importance_weights(features, log_ratio, n) + noise.gumbel(size=n), -np.inf)
        baseline_keys = np.where(long_enough, baseline_noise.gumbel(size=n), -np.inf)
        texts = chunk.texts
        yield Keyed(keys, baseline_keys, features.tokens, chunk.files, chunk.positions,
                    lambda i, texts=texts: document_digest(texts[i]))
