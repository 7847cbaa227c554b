"""The text audit: one streaming pass over the corpus feeds every signal at once.

Per document the pass computes the normalised words once and hands them to: exact dedup (a digest of
the cleaned text), near-dedup (MinHash-LSH), the Gopher quality tally, the contamination index of each
evaluation set, and the bias screen.  What stays in memory per document is its 16-byte digest, its
MinHash signature, and a name and 80-character excerpt so a cluster can be shown; everything else is
counters and histograms.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..audit.bias import DEFAULT_WINDOW, BiasScreen, default_word_file, read_word_lists
from ..audit.contamination import NGRAM, EvalIndex
from ..audit.near_dup import SHINGLE_WORDS, NearDuplicateIndex, UnionFind
from ..audit.quality import QualityTally, signals
from ..audit.words import WordIds, normalized_words
from .cleaning import document_digest
from .documents import text_documents

log = logging.getLogger("headstart.audit")
EXCERPT = 80
SHOWN_NAMES = 5  # documents named per duplicate group in the report


def read_eval_file(path: Path, fmt: str, text_field: str, label_field: str, encoding: str) -> tuple[list[str], list[int]]:
    """An evaluation set's texts and line numbers: a labeled file as finetune reads it, or plain lines."""
    if fmt == "lines":
        from .readers import decode_line, open_binary
        texts, lines = [], []
        with open_binary(Path(path)) as f:
            for number, raw in enumerate(f, start=1):
                text = decode_line(raw, encoding, Path(path), number).strip()
                if text:
                    texts.append(text)
                    lines.append(number)
        return texts, lines
    from .labeled import read_labeled
    labeled = read_labeled(path, fmt=fmt, text_field=text_field, label_field=label_field, encoding=encoding)
    return labeled.texts, labeled.line_numbers


class CorpusSignals:
    """The signals of the audit that every document feeds and that add up over shards of a corpus:
    counts, the Gopher quality tally, contamination of each evaluation set, the bias screen."""

    def __init__(self, eval_files=(), eval_format: str = "auto", text_field: str = "text", label_field: str = "label",
                 encoding: str = "utf-8", bias_words: Path | None = None, window: int = DEFAULT_WINDOW):
        self.ids = WordIds()
        self.evals = []
        for path in eval_files:
            texts, lines = read_eval_file(path, eval_format, text_field, label_field, encoding)
            self.evals.append(EvalIndex(str(path), texts, self.ids, line_numbers=lines))
        self.bias = BiasScreen(read_word_lists(bias_words), window, str(bias_words or default_word_file()))
        self.quality = QualityTally()
        self.documents = self.words = 0

    def add(self, document) -> np.ndarray:
        """Count one document; returns its word ids (the near-duplicate shingles are made of them)."""
        self.documents += 1
        words = normalized_words(document.text)
        word_ids = self.ids(words)
        self.words += len(words)
        self.quality.add(signals(document.text, words, word_ids))
        for index in self.evals:
            index.scan(words, word_ids, document.name)
        self.bias.add(words)
        return word_ids

    def state(self) -> dict:
        return {"documents": self.documents, "words": self.words, "quality": self.quality.state(),
                "bias": self.bias.state(), "contamination": [index.matches for index in self.evals]}

    def merge(self, state: dict) -> None:
        self.documents += state["documents"]
        self.words += state["words"]
        self.quality.merge(state["quality"])
        self.bias.merge(state["bias"])
        for index, matches in zip(self.evals, state["contamination"]):
            index.merge(matches)

    def check_not_empty(self, inputs) -> None:
        if self.documents == 0:
            from headstart.errors import HeadstartError
            raise HeadstartError(f"no text documents in {', '.join(map(str, inputs))} (every document was empty)")

    def report(self, inputs, options: dict, exact: dict, near: dict, started: float) -> dict:
        return {"kind": "text", "inputs": [str(p) for p in inputs], "documents": self.documents, "words": self.words,
                "options": options, "exact_duplicates": exact, "near_duplicates": near,
                "quality": self.quality.summary(), "contamination": [index.summary() for index in self.evals],
                "bias": self.bias.summary(), "seconds": round(time.perf_counter() - started, 2)}


def report_options(doc_unit, fmt, field, encoding, threshold, num_perm, window) -> dict:
    return {"doc_unit": doc_unit, "format": fmt, "field": field, "encoding": encoding,
            "near_dup_threshold": threshold, "num_perm": num_perm, "shingle_words": SHINGLE_WORDS,
            "contamination_ngram": NGRAM, "bias_window": window}


def excerpt(text: str) -> str:
    return " ".join(text[: EXCERPT * 2].split())[:EXCERPT]


def audit_text(inputs: list[Path], *, eval_files: list[Path] = (), eval_format: str = "auto",
               text_field: str = "text", label_field: str = "label", threshold: float = 0.8,
               num_perm: int = 128, bias_words: Path | None = None, window: int = DEFAULT_WINDOW,
               fmt: str = "auto", field: str = "text", doc_unit: str = "file", encoding: str = "utf-8",
               examples: int = 20, pairs_out: list | None = None) -> dict:
    """The audit in one process, every signature in memory (about 5.6 KB a document): the reference that
    ``audit_pipeline`` (disk-based, bounded memory, the command's way) is checked against.  ``pairs_out``
    collects the near-duplicate pairs as (earlier name, later name)."""
    started = time.perf_counter()
    corpus = CorpusSignals(eval_files, eval_format, text_field, label_field, encoding, bias_words, window)
    near, clusters = NearDuplicateIndex(threshold, num_perm), UnionFind()
    exact: dict[bytes, int] = {}  # digest -> key of its first copy in the near-dup index
    exact_copies: dict[int, list[str]] = {}  # key -> names of later identical copies
    names: list[str] = []
    excerpts: list[str] = []
    pairs = 0

    for document in text_documents(inputs, fmt=fmt, field=field, doc_unit=doc_unit, encoding=encoding):
        word_ids = corpus.add(document)
        digest = document_digest(document.text)
        if digest in exact:
            exact_copies.setdefault(exact[digest], []).append(document.name)
            continue
        minhash = near.signature(word_ids)
        if minhash is None:
            continue
        matches = near.query(minhash)
        key = near.add(minhash)
        exact[digest] = key
        names.append(document.name)
        excerpts.append(excerpt(document.text))
        for other, _ in matches:
            clusters.union(other, key)
            pairs += 1
            if pairs_out is not None:
                pairs_out.append((names[other], document.name))
        if corpus.documents % 10_000 == 0:
            log.info("audit: %d documents, %d words", corpus.documents, corpus.words)
    corpus.check_not_empty(inputs)

    groups = clusters.groups()
    exact_rows = sorted(exact_copies.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return corpus.report(
        inputs, report_options(doc_unit, fmt, field, encoding, threshold, num_perm, window),
        exact={"groups": len(exact_copies), "duplicate_documents": sum(map(len, exact_copies.values())),
               "examples": [{"copies": 1 + len(copies), "documents": [names[key], *copies[:SHOWN_NAMES - 1]],
                             "excerpt": excerpts[key]} for key, copies in exact_rows[:examples]]},
        near={"pairs": pairs, "clusters": len(groups), "documents_in_clusters": sum(map(len, groups)),
              "examples": [cluster_example(group, near.signatures.__getitem__, names.__getitem__,
                                            excerpts.__getitem__) for group in groups[:examples]]},
        started=started)


def cluster_example(group: list[int], signature, name, excerpt_of) -> dict:
    """A cluster as the report shows it: each member with its estimated Jaccard to the first member
    (``signature``, ``name`` and ``excerpt_of`` look a document up by key)."""
    first = signature(group[0])
    members = [{"document": name(key), "excerpt": excerpt_of(key),
                "jaccard_to_first": round(float(np.mean(signature(key) == first)), 3)}
               for key in group[:SHOWN_NAMES]]
    return {"size": len(group), "members": members}
