"""What a modality supplies to save, rebuild and feed a fine-tuned classifier (``ClassifierIO``).

The modalities are looked up in the registry (``headstart.modality``), as fine-tuning finds them, so this
package names no modality code: text, images and audio each implement ``ClassifierIO`` in their own folder.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from .. import modality as registry
from ..errors import HeadstartError
from ..path_kind import not_an_input


@dataclass
class InputItem:
    """One input to predict: its ``name`` (file, ``file:line``, or position), the ``example`` the modality
    batches, why it was skipped (``problem``) instead, and its true ``label`` when the input says it."""

    name: str
    example: Any = None
    problem: Optional[str] = None
    label: Optional[str] = None


class ClassifierIO(ABC):
    @abstractmethod
    def record(self, backbone, cfg) -> tuple[dict, dict[str, Path]]:
        """At the end of fine-tuning: ``{"model": architecture record, "head": ..., "inputs": ...}`` and the
        files (name -> path) the classifier needs beside its weights."""

    @abstractmethod
    def backbone(self, meta: dict, folder: Path):
        """The ``TaskBackbone`` that ``meta`` (classifier.json) describes, weights still random."""

    @abstractmethod
    def from_python(self, meta: dict, inputs: Sequence) -> Iterator[InputItem]:
        """Python objects (texts; image paths or arrays; audio paths or waveforms) as items."""

    @abstractmethod
    def from_sources(self, meta: dict, sources: Sequence[str], options: dict) -> Iterator[InputItem]:
        """Items read lazily from files and folders (inputs larger than memory stream)."""

    @abstractmethod
    def data(self, examples: list, labels: Sequence[int]):
        """``examples`` as the task data its backbone batches (``TaskBackbone.batches``)."""

    def length(self, example) -> int:
        """What padding a batch to its longest example depends on (text: its length); 0 = all alike."""
        return 0

    def check(self, meta: dict, data) -> None:
        """Raise when labeled task data (``headstart evaluate``) cannot go through this classifier."""


def classifier_io(modality: str) -> ClassifierIO:
    found = registry.find(lambda m: m.name == modality and m.classifier_io is not None)
    if found is None:
        known = [m.name for m in registry.modalities() if m.classifier_io is not None]
        raise HeadstartError(f"classifier modality {modality!r}: expected one of {', '.join(known)}")
    return found.classifier_io()


def inference_config(folder: Path, *, pooling: str = "auto", max_length: Optional[int] = None):
    """A fine-tuning config that rebuilds a saved classifier's backbone for inference: no dropout change,
    no augmentation, the saved pooling and text length."""
    from ..finetune.config import FinetuneConfig
    return FinetuneConfig(run_dir=folder, model={"from": str(folder)}, pooling=pooling,
                          task={"train": folder, "max_length": max_length}, train={})


def name_of(value: Any, position: int) -> str:
    return str(value) if isinstance(value, (str, Path)) else f"input {position}"


def expand_files(sources: Iterable[str], suffixes: frozenset[str]) -> Iterator[tuple[Path, Optional[Path]]]:
    """(file, the folder it was found in or None) for files and folders (searched recursively, sorted) of
    ``suffixes``; a missing path is an error before anything is predicted."""
    paths = [Path(s) for s in sources]
    for path in paths:
        if not (path.is_file() or path.is_dir()):
            raise not_an_input(path)  # says what it is: missing, a broken link, a loop, a device
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file()):
                yield found, path
        else:
            yield path, None
