"""Quality signals of the Gopher rules (Rae et al. 2021, "Scaling Language Models", appendix A), per
document, with their distributions and how many documents each rule would remove.

These are the heuristics large pre-training pipelines (MassiveText, RefinedWeb, FineWeb via datatrove)
apply to web text.  The audit only *counts*: it reports what each rule would remove so that you can
decide, it removes nothing.  Thresholds are the paper's.  Books, code or tokenized corpora trip some
rules by design (a whole novel is more than 100,000 words; tokenized text has short "words" such as
","), which is exactly what the counts are there to show before you filter.

Repetition signals use the audit's normalised words (lowercased, punctuation dropped) and count
characters of those words; the other signals use whitespace-separated words of the text as written.
"""
from __future__ import annotations

import re
import bisect
from dataclasses import dataclass

import numpy as np

from headstart.audit.words import ngram_hashes

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_BULLETS = ("•", "●", "○", "▪", "■", "◦", "‣", "⁃", "-", "*", "·", "–")
_ALPHA = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Rule:
    signal: str
    keep_if: str  # "<=" or ">=": the document is kept when signal <keep_if> limit
    limit: float

    def removes(self, value: float) -> bool:
        return value > self.limit if self.keep_if == "<=" else value < self.limit

    def describe(self) -> str:
        return f"keep if {self.signal} {self.keep_if} {self.limit:g}"


# rule name -> Rule.  Word count and mean word length are two-sided, hence two rules each.
RULES: dict[str, Rule] = {
    "too_few_words": Rule("word_count", ">=", 50),
    "too_many_words": Rule("word_count", "<=", 100_000),
    "short_mean_word": Rule("mean_word_length", ">=", 3),
    "long_mean_word": Rule("mean_word_length", "<=", 10),
    "symbols": Rule("symbol_to_word_ratio", "<=", 0.1),
    "bullet_lines": Rule("bullet_line_fraction", "<=", 0.9),
    "ellipsis_lines": Rule("ellipsis_line_fraction", "<=", 0.3),
    "non_alphabetic_words": Rule("alpha_word_fraction", ">=", 0.8),
    "few_stop_words": Rule("stop_word_count", ">=", 2),
    "duplicate_lines": Rule("duplicate_line_fraction", "<=", 0.3),
    "duplicate_line_chars": Rule("duplicate_line_char_fraction", "<=", 0.2),
    **{f"top_{n}gram": Rule(f"top_{n}gram_char_fraction", "<=", limit)
       for n, limit in ((2, 0.20), (3, 0.18), (4, 0.16))},
    **{f"duplicate_{n}grams": Rule(f"duplicate_{n}gram_char_fraction", "<=", limit)
       for n, limit in zip(range(5, 11), (0.15, 0.14, 0.13, 0.12, 0.11, 0.10))},
}

_FRACTION_EDGES = [i / 20 for i in range(21)]
# signal -> histogram bin edges; values past the last edge land in the last bin.
HISTOGRAM_EDGES: dict[str, list[float]] = {
    "word_count": [0, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000],
    "mean_word_length": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20],
    "symbol_to_word_ratio": [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    "stop_word_count": [0, 1, 2, 3, 4, 5, 6, 7, 8],
}
SIGNALS = ["word_count", "mean_word_length", "symbol_to_word_ratio", "bullet_line_fraction",
           "ellipsis_line_fraction", "alpha_word_fraction", "stop_word_count", "duplicate_line_fraction",
           "duplicate_line_char_fraction", *[f"top_{n}gram_char_fraction" for n in (2, 3, 4)],
           *[f"duplicate_{n}gram_char_fraction" for n in range(5, 11)]]


def signals(text: str, words: list[str], word_ids: np.ndarray) -> dict[str, float]:
    """Every signal of one document: ``words``/``word_ids`` are its normalised words and their ids."""
    raw_words = text.split()
    n_raw = max(len(raw_words), 1)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    n_lines = max(len(lines), 1)
    out = {
        "word_count": float(len(raw_words)),
        "mean_word_length": sum(map(len, raw_words)) / n_raw,
        "symbol_to_word_ratio": (text.count("#") + text.count("...") + text.count("…")) / n_raw,
        "bullet_line_fraction": sum(line.startswith(_BULLETS) for line in lines) / n_lines,
        "ellipsis_line_fraction": sum(line.endswith(("...", "…")) for line in lines) / n_lines,
        "alpha_word_fraction": sum(bool(_ALPHA.search(w)) for w in raw_words) / n_raw,
        "stop_word_count": float(len(STOP_WORDS.intersection(words))),
    }
    seen: set[str] = set()
    duplicate_lines = duplicate_chars = 0
    for line in lines:
        if line in seen:
            duplicate_lines += 1
            duplicate_chars += len(line)
        seen.add(line)
    out["duplicate_line_fraction"] = duplicate_lines / n_lines
    out["duplicate_line_char_fraction"] = duplicate_chars / max(sum(map(len, lines)), 1)
    out.update(_repetition(words, word_ids))
    return out


def _repetition(words: list[str], ids: np.ndarray) -> dict[str, float]:
    """Top n-gram and duplicate n-gram character fractions, vectorised over the whole document."""
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total = max(int(lengths.sum()), 1)
    out = {}
    for n in (2, 3, 4):
        hashes = ngram_hashes(ids, n)
        value = 0.0
        if len(hashes):
            _, first, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
            top = int(np.argmax(counts))
            start = int(first[top])
            value = int(counts[top]) * int(lengths[start: start + n].sum()) / total
        out[f"top_{n}gram_char_fraction"] = min(value, 1.0)
    for n in range(5, 11):
        hashes = ngram_hashes(ids, n)
        value = 0.0
        if len(hashes):
            _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
            starts = np.nonzero(counts[inverse] > 1)[0]
            # Every word inside a repeated n-gram counts once, however many repeated n-grams cover it.
            cover = np.zeros(len(ids) + 1, dtype=np.int64)
            np.add.at(cover, starts, 1)
            np.add.at(cover, starts + n, -1)
            value = int(lengths[np.cumsum(cover[:-1]) > 0].sum()) / total
        out[f"duplicate_{n}gram_char_fraction"] = value
    return out


class QualityTally:
    """Streaming histograms, means and rule counts over documents; holds no per-document state."""

    def __init__(self) -> None:
        self.documents = 0
        self.edges = {s: np.asarray(HISTOGRAM_EDGES.get(s, _FRACTION_EDGES), dtype=float) for s in SIGNALS}
        self.counts = {s: np.zeros(len(e) - 1, dtype=np.int64) for s, e in self.edges.items()}
        self._edge_lists = {s: e.tolist() for s, e in self.edges.items()}
        self.sums = dict.fromkeys(SIGNALS, 0.0)
        self.removed = dict.fromkeys(RULES, 0)
        self.removed_any = 0

    def add(self, values: dict[str, float]) -> list[str]:
        """Count one document; returns the rules that would remove it."""
        self.documents += 1
        for signal, value in values.items():
            edges = self._edge_lists[signal]  # bisect on a list: a numpy call per scalar costs 10x more
            self.counts[signal][min(max(bisect.bisect_right(edges, value) - 1, 0), len(edges) - 2)] += 1
            self.sums[signal] += value
        hit = [name for name, rule in RULES.items() if rule.removes(values[rule.signal])]
        for name in hit:
            self.removed[name] += 1
        self.removed_any += bool(hit)
        return hit

    def state(self) -> dict:
        """Everything the tally holds, as JSON: a shard of the corpus tallied apart merges back exactly."""
        return {"documents": self.documents, "counts": {s: c.tolist() for s, c in self.counts.items()},
                "sums": self.sums, "removed": self.removed, "removed_any": self.removed_any}

    def merge(self, state: dict) -> None:
        self.documents += state["documents"]
        for signal, counts in state["counts"].items():
            self.counts[signal] += np.asarray(counts, dtype=np.int64)
        for signal, value in state["sums"].items():
            self.sums[signal] += value
        for name, count in state["removed"].items():
            self.removed[name] += count
        self.removed_any += state["removed_any"]

    def summary(self) -> dict:
        n = max(self.documents, 1)
        return {
            "documents": self.documents,
            "rules": {name: {"rule": rule.describe(), "would_remove": self.removed[name],
                             "fraction": self.removed[name] / n} for name, rule in RULES.items()},
            "would_remove_any": self.removed_any,
            "would_remove_any_fraction": self.removed_any / n,
            "signals": {s: {"mean": self.sums[s] / n, "edges": self.edges[s].tolist(),
                            "counts": self.counts[s].tolist()} for s in SIGNALS},
        }
