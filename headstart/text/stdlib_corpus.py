"""The embedded default corpus: documentation that ships with every Python install.

pydoc's topic pages (``pydoc_data.topics``) plus the docstrings of the standard library's modules,
read from source with ``ast`` (nothing is imported or executed).  About 2-4 MB of English prose about
programming — enough to pre-train a small model offline, with no network and no ``../shared``.
"""
from __future__ import annotations

import ast
import json
import sysconfig
from pathlib import Path
from typing import Iterator

SKIP_PARTS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}


def _module_docstrings(path: Path) -> str:
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):  # the stdlib holds deliberately broken test files
        return ""
    docs = [ast.get_docstring(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return "\n\n".join(d for d in docs if d and len(d) >= 40)


def stdlib_documents() -> Iterator[str]:
    try:
        from pydoc_data.topics import topics
        for name in sorted(topics):
            yield topics[name]
    except ImportError:  # some distributions package pydoc_data separately
        pass
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        if SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        text = _module_docstrings(path)
        if text:
            yield text


def write_stdlib_corpus(out: Path) -> tuple[int, int]:
    """Write the corpus as JSONL (one ``{"text": ...}`` document a line); returns (documents, bytes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for doc in stdlib_documents():
            f.write(json.dumps({"text": doc}) + "\n")
            n += 1
    return n, out.stat().st_size
