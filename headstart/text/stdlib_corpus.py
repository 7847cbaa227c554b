"""The embedded default data: documentation that ships with every Python install.

Unlabeled corpus: pydoc's topic pages (``pydoc_data.topics``) plus the docstrings of the standard
library's modules, read from source with ``ast`` (nothing is imported or executed) — about 2 MB of
English prose about programming, enough to pre-train a small model offline.

Labeled task: "which package does this docstring come from?" over seven packages present in every
Python from 3.10 on.  Its test docstrings are left out of the corpus, so pre-training never sees test
text (the training docstrings stay in, as the task's own unlabeled text).  Left out means more than the
same string: the stdlib repeats docstrings (``AbstractEventLoop.call_at`` and ``BaseEventLoop.call_at``)
and pydoc's topic pages quote them, so every docstring or page that shares a 13-word sequence with a
test docstring is dropped too, by the same test ``headstart audit`` and ``compare`` use for contamination.  Limits: the labels are
topical, a bag of words goes far on them, and the exact numbers vary a little between Python versions.
"""
from __future__ import annotations

import ast
import hashlib
import json
import sysconfig
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..audit.contamination import NGRAM
from ..audit.words import WordIds, ngram_hashes, normalized_words

SKIP_PARTS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
TASK_PACKAGES = ("asyncio", "email", "http", "logging", "tkinter", "unittest", "xml")
MIN_DOC_CHARS = 40
MIN_TASK_CHARS = 80


def _module_docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):  # the stdlib holds deliberately broken test files
        return []
    docs = [ast.get_docstring(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return [d for d in docs if d and len(d) >= MIN_DOC_CHARS]


def stdlib_modules() -> Iterator[tuple[str, list[str]]]:
    """(top-level package or module name, its docstrings) for every standard-library source file."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if not SKIP_PARTS.intersection(parts):
            docs = _module_docstrings(path)
            if docs:
                yield parts[0].removesuffix(".py"), docs


class _Overlap:
    """Does a text share a 13-word sequence with any of ``texts`` (or contain one shorter than 13 words)?"""

    def __init__(self, texts: Iterable[str]):
        self.ids, by_length = WordIds(), {}
        for text in texts:
            word_ids = self.ids(normalized_words(text))
            if len(word_ids):
                length = min(NGRAM, len(word_ids))
                by_length.setdefault(length, []).append(ngram_hashes(word_ids, length))
        # Python sets: one hash lookup per n-gram, where np.isin sorted the table again for every text.
        self.tables = {n: set(np.concatenate(h).tolist()) for n, h in by_length.items()}

    def __call__(self, text: str) -> bool:
        word_ids = self.ids(normalized_words(text))
        return any(not table.isdisjoint(ngram_hashes(word_ids, n).tolist()) for n, table in self.tables.items())


def stdlib_documents(exclude: Iterable[str] = ()) -> Iterator[str]:
    overlaps = _Overlap(exclude)
    try:
        from pydoc_data.topics import topics
        for name in sorted(topics):
            if not overlaps(topics[name]):
                yield topics[name]
    except ImportError:  # some distributions package pydoc_data separately
        pass
    for _, docs in stdlib_modules():
        text = "\n\n".join(d for d in docs if not overlaps(d))
        if text:
            yield text


def _is_test(text: str, test_fraction: float) -> bool:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < test_fraction


def write_stdlib_task(out_dir: Path, test_fraction: float = 0.3) -> tuple[Path, Path, set[str]]:
    """Write train.jsonl and test.jsonl (``{"text", "label"}``); returns their paths and the test texts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, test_path, test_texts = out_dir / "train.jsonl", out_dir / "test.jsonl", set()
    with open(train_path, "w", encoding="utf-8") as train, open(test_path, "w", encoding="utf-8") as test:
        for package, docs in stdlib_modules():
            if package not in TASK_PACKAGES:
                continue
            for doc in docs:
                if len(doc) < MIN_TASK_CHARS:
                    continue
                held_out = _is_test(doc, test_fraction)
                (test if held_out else train).write(json.dumps({"text": doc, "label": package}) + "\n")
                if held_out:
                    test_texts.add(doc)
    return train_path, test_path, test_texts


def write_stdlib_corpus(out: Path, exclude: Iterable[str] = ()) -> tuple[int, int]:
    """Write the corpus as JSONL (one ``{"text": ...}`` document a line); returns (documents, bytes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for doc in stdlib_documents(exclude):
            f.write(json.dumps({"text": doc}) + "\n")
            n += 1
    return n, out.stat().st_size
