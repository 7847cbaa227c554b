"""Packages whose public names load on first use (PEP 562).

A modality package is imported when the registry reads its ``plugin.py``, and a text run must not import image
or audio code with it; fine-tuning's and the classifier's packages are imported by modules they themselves
import.  Each such package lists its public names and the submodule holding each, and takes its module
``__getattr__`` from here.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def lazy_getattr(package: str, api: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from the relative module ``api[name]``."""
    def __getattr__(name: str) -> Any:
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(api[name], package), name)
    return __getattr__
