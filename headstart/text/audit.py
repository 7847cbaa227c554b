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
_SHOWN_NAMES = 5  # documents named per duplicate group in the report


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


def audit_text(inputs: list[Path], *, eval_files: list[Path] = (), eval_format: str = "auto",
               text_field: str = "text", label_field: str = "label", threshold: float = 0.8,
               num_perm: int = 128, bias_words: Path | None = None, window: int = DEFAULT_WINDOW,
               fmt: str = "auto", field: str = "text", doc_unit: str = "file", encoding: str = "utf-8",
               examples: int = 20) -> dict:
    started = time.perf_counter()
    ids = WordIds()
    evals = []
    for path in eval_files:
        texts, lines = read_eval_file(path, eval_format, text_field, label_field, encoding)
        evals.append(EvalIndex(str(path), texts, ids, line_numbers=lines))
    bias = BiasScreen(read_word_lists(bias_words), window, str(bias_words or default_word_file()))
    near, clusters, quality = NearDuplicateIndex(threshold, num_perm), UnionFind(), QualityTally()
    exact: dict[bytes, int] = {}  # digest -> key of its first copy in the near-dup index
    exact_copies: dict[int, list[str]] = {}  # key -> names of later identical copies
    names: list[str] = []
    excerpts: list[str] = []
    documents = words_total = pairs = 0

    for document in text_documents(inputs, fmt=fmt, field=field, doc_unit=doc_unit, encoding=encoding):
        documents += 1
        words = normalized_words(document.text)
        word_ids = ids(words)
        words_total += len(words)
        quality.add(signals(document.text, words, word_ids))
        for index in evals:
            index.scan(words, word_ids, document.name)
        bias.add(words)
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
        excerpts.append(" ".join(document.text[: EXCERPT * 2].split())[:EXCERPT])
        for other, _ in matches:
            clusters.union(other, key)
            pairs += 1
        if documents % 10_000 == 0:
            log.info("audit: %d documents, %d words", documents, words_total)

    if documents == 0:
        from headstart.errors import HeadstartError
        raise HeadstartError(f"no text documents in {', '.join(map(str, inputs))} (every document was empty)")

    groups = clusters.groups()
    exact_rows = sorted(exact_copies.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return {
        "kind": "text",
        "inputs": [str(p) for p in inputs],
        "documents": documents,
        "words": words_total,
        "options": {"doc_unit": doc_unit, "format": fmt, "field": field, "encoding": encoding,
                    "near_dup_threshold": threshold, "num_perm": num_perm, "shingle_words": SHINGLE_WORDS,
                    "contamination_ngram": NGRAM, "bias_window": window},
        "exact_duplicates": {
            "groups": len(exact_copies), "duplicate_documents": sum(map(len, exact_copies.values())),
            "examples": [{"copies": 1 + len(copies), "documents": [names[key], *copies[:_SHOWN_NAMES - 1]],
                          "excerpt": excerpts[key]} for key, copies in exact_rows[:examples]]},
        "near_duplicates": {
            "pairs": pairs, "clusters": len(groups), "documents_in_clusters": sum(map(len, groups)),
            "examples": [_cluster_example(group, near, names, excerpts) for group in groups[:examples]]},
        "quality": quality.summary(),
        "contamination": [index.summary() for index in evals],
        "bias": bias.summary(),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _cluster_example(group: list[int], near: NearDuplicateIndex, names: list[str], excerpts: list[str]) -> dict:
    """A cluster as the report shows it: each member with its estimated Jaccard to the first member."""
    first = near.signatures[group[0]]
    members = [{"document": names[key], "excerpt": excerpts[key],
                "jaccard_to_first": round(float(np.mean(near.signatures[key] == first)), 3)}
               for key in group[:_SHOWN_NAMES]]
    return {"size": len(group), "members": members}


def audit(inputs: list[Path], options) -> dict:
    """The registered audit of text (``headstart.audit.cli``): every option of the command applies."""
    return audit_text(inputs, eval_files=list(options.eval_files), eval_format=options.eval_format,
                      text_field=options.text_field, label_field=options.label_field,
                      threshold=options.near_dup_threshold, num_perm=options.num_perm, bias_words=options.bias_words,
                      window=options.bias_window, fmt=options.fmt, field=options.field, doc_unit=options.doc_unit,
                      encoding=options.encoding, examples=options.examples)
