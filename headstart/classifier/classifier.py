"""``load_classifier(run)``: a fine-tuned classifier that predicts labels and probabilities, batched."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from ..engine.checkpoint import _tied_aliases, load_tensors
from ..errors import HeadstartError
from .io import InputItem, classifier_io
from .saved import find_classifier

DEFAULT_BATCH = 64


class Classifier:
    """A fine-tuned classifier: ``labels`` (the columns of ``predict_proba``), ``modality``, and
    ``predict`` / ``predict_proba`` on texts, image files or arrays, audio files or waveforms."""

    def __init__(self, folder: Path, meta: dict):
        self.folder, self.meta = Path(folder), meta
        self.labels: list[str] = list(meta["labels"])
        self.modality: str = meta["modality"]
        self.io = classifier_io(self.modality)
        self.backbone = self.io.backbone(meta, self.folder)
        self.objective = self.backbone.objective(len(self.labels))
        _load_strict(self.objective, self.folder / "model.safetensors")
        self.objective.eval()

    def __repr__(self) -> str:
        return f"Classifier({self.modality}, {len(self.labels)} labels, {self.folder})"

    def predict_proba(self, inputs: Sequence, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """(len(inputs), len(labels)) probabilities; an input that cannot be read is an error naming it."""
        items = list(self.io.from_python(self.meta, list(inputs)))
        bad = next((item for item in items if item.problem), None)
        if bad is not None:
            raise HeadstartError(f"{bad.name}: {bad.problem}")
        if not items:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        return np.concatenate([self.probabilities([i.example for i in items[s:s + batch_size]])
                               for s in range(0, len(items), batch_size)])

    def predict(self, inputs: Sequence, batch_size: int = DEFAULT_BATCH) -> list[str]:
        """The most probable label of each input."""
        return [self.labels[i] for i in self.predict_proba(inputs, batch_size).argmax(1)]

    @torch.inference_mode()
    def probabilities(self, examples: list, labels: Optional[Sequence[int]] = None) -> np.ndarray:
        """Probabilities of ``examples`` (already read by the modality), as one batch."""
        data = self.io.data(examples, labels if labels is not None else [0] * len(examples))
        return np.concatenate([self.objective.logits(batch).softmax(-1).numpy()
                               for batch in self.backbone.batches(data, max(1, len(examples))).in_order()])

    def stream(self, items: Iterable[InputItem], batch_size: int = DEFAULT_BATCH
               ) -> Iterator[tuple[InputItem, Optional[np.ndarray]]]:
        """(item, probabilities) in input order, ``batch_size`` readable items at a time; a skipped item
        comes with None."""
        pending: list[InputItem] = []
        readable = 0
        for item in items:
            pending.append(item)
            readable += item.problem is None
            if readable == batch_size:
                yield from self._flush(pending)
                pending, readable = [], 0
        yield from self._flush(pending)

    def _flush(self, pending: list[InputItem]):
        good = [item for item in pending if item.problem is None]
        probs = iter(self.probabilities([item.example for item in good]) if good else [])
        for item in pending:
            yield item, (None if item.problem else next(probs))

    @torch.inference_mode()
    def score(self, data, batch_size: int = DEFAULT_BATCH) -> tuple[np.ndarray, np.ndarray]:
        """(true label ids, probabilities) over labeled task data already aligned to ``labels``."""
        labels, probs = [], []
        for batch in self.backbone.batches(data, batch_size).in_order():
            labels.append(batch["labels"].numpy())
            probs.append(self.objective.logits(batch).softmax(-1).numpy())
        return np.concatenate(labels), np.concatenate(probs)


def load_classifier(run: Union[str, Path]) -> Classifier:
    """The classifier a fine-tuning run saved (``run_dir/classifier/``), or such a folder itself."""
    folder, meta = find_classifier(Path(run))
    return Classifier(folder, meta)


def _load_strict(objective: torch.nn.Module, file: Path) -> None:
    """Every weight of the classifier must be in the file and nothing else: a head left random would
    predict noise without a word."""
    tensors = load_tensors(file)
    try:
        missing, unexpected = objective.load_state_dict(tensors, strict=False)
    except RuntimeError as e:
        reason = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e).splitlines()[0])
        raise HeadstartError(f"{file}: weights do not fit the classifier classifier.json describes ({reason})") from None
    missing = [k for k in missing if k not in _tied_aliases(objective)]
    if missing or unexpected:
        raise HeadstartError(f"{file}: weights do not fit the classifier ({len(missing)} missing, e.g. "
                             f"{sorted(missing)[:3]}; {len(unexpected)} unexpected, e.g. {sorted(unexpected)[:3]})")
