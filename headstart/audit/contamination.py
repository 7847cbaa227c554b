"""Contamination: evaluation examples whose text appears in the pre-training corpus.

As GPT-3 did (Brown et al. 2020, appendix C): an evaluation example is contaminated when it shares a
13-gram of lowercased, punctuation-stripped words with any corpus document.  An example of fewer than
13 words has no 13-gram; it is flagged when the *whole* example appears as a contiguous word sequence
in a document, and marked ``short`` because a short match (a 3-word review) is weaker evidence.

Memory: only the evaluation side is indexed (a sorted array of n-gram hashes, a few MB even for
thousands of examples); the corpus streams past it a document at a time, each document's n-grams
hashed with numpy and looked up by binary search in the sorted hashes of the evaluation set.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from headstart.audit.words import WordIds, ngram_hashes, normalized_words

NGRAM = 13
EXCERPT = 200


class EvalIndex:
    """The n-grams of one evaluation set, and which of its examples the corpus has matched so far."""

    def __init__(self, name: str, texts: Sequence[str], ids: WordIds, n: int = NGRAM,
                 line_numbers: Sequence[int] | None = None):
        self.name, self.texts, self.n = name, list(texts), n
        self.line_numbers = list(line_numbers) if line_numbers else None
        self.matches: dict[int, dict] = {}  # example index -> where it was first found
        keys: dict[int, list[np.ndarray]] = {}  # n-gram length -> hashes; owners alongside
        owners: dict[int, list[np.ndarray]] = {}
        for index, text in enumerate(self.texts):
            word_ids = ids(normalized_words(text))
            if len(word_ids) == 0:
                continue
            length = min(n, len(word_ids))  # a short example is one "n-gram" of all its words
            hashes = np.unique(ngram_hashes(word_ids, length))
            keys.setdefault(length, []).append(hashes)
            owners.setdefault(length, []).append(np.full(len(hashes), index, dtype=np.int64))
        self.tables = {}
        for length in keys:
            hashes, who = np.concatenate(keys[length]), np.concatenate(owners[length])
            order = np.argsort(hashes, kind="stable")
            self.tables[length] = (hashes[order], who[order])

    def scan(self, words: list[str], word_ids: np.ndarray, document: str) -> None:
        """Match one corpus document against every example not yet matched."""
        for length, (keys, owners) in self.tables.items():
            hashes = ngram_hashes(word_ids, length)
            if not len(hashes):
                continue
            # keys are sorted: a binary search per n-gram (np.isin would sort keys again for every document)
            slots = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            found = np.nonzero(keys[slots] == hashes)[0]
            for position in found:
                lo = slots[position]
                hi = np.searchsorted(keys, hashes[position], side="right")
                for example in owners[lo:hi].tolist():
                    if example not in self.matches:
                        self.matches[example] = {
                            "document": document, "ngram": " ".join(words[position: position + length]),
                            "short": length < self.n}

    def merge(self, matches: dict) -> None:
        """Matches found in a later shard of the corpus (``matches`` as JSON keeps it: example -> match);
        an example keeps the first place it was found."""
        for example, match in matches.items():
            self.matches.setdefault(int(example), match)

    def results(self) -> list[dict]:
        """Every matched example, in file order: index, line, text excerpt, where, matching words."""
        rows = []
        for example in sorted(self.matches):
            match = self.matches[example]
            rows.append({"index": example,
                         "line": self.line_numbers[example] if self.line_numbers else None,
                         "text": _excerpt(self.texts[example]), **match})
        return rows

    def summary(self) -> dict:
        matched = self.results()
        return {"file": self.name, "examples": len(self.texts), "contaminated": len(matched),
                "short_matches": sum(row["short"] for row in matched),
                "fraction": len(matched) / max(len(self.texts), 1), "matches": matched}


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def contamination(corpus_source: str | Path | Iterable[str | Path], eval_texts: Sequence[str],
                  line_numbers: Sequence[int] | None = None, **reading) -> list[dict]:
    """The examples of ``eval_texts`` found in a corpus (a prepared text folder, or raw text files and
    folders read as ``prepare text`` reads them; ``reading`` passes fmt/field/doc_unit/encoding).

    Returns one dict per contaminated example (``index``, ``line``, ``text``, ``document``, ``ngram``,
    ``short``), in the order of ``eval_texts``; an empty list when none is found.
    """
    from headstart.modality import modality
    text_documents = modality("text").documents  # raw text and prepared text folders, as prepare reads them
    sources = [corpus_source] if isinstance(corpus_source, (str, Path)) else list(corpus_source)
    ids = WordIds()
    index = EvalIndex("eval", eval_texts, ids, line_numbers=line_numbers)
    for document in text_documents(sources, **reading):
        words = normalized_words(document.text)
        index.scan(words, ids(words), document.name)
    return index.results()
