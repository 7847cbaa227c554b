"""``load_classifier(run)``: a fine-tuned classifier that predicts labels and probabilities, batched."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from ..engine.checkpoint import load_model_weights
from ..errors import HeadstartError
from .io import InputItem, classifier_io
from .saved import find_classifier

DEFAULT_BATCH = 64
SORT_WINDOW = 16  # batches read ahead and sorted by length before predicting


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
        # Every weight must be in the file and nothing else: a head left random would predict noise.
        load_model_weights(self.objective, self.folder)
        self.objective.eval()

    def __repr__(self) -> str:
        return f"Classifier({self.modality}, {len(self.labels)} labels, {self.folder})"

    def predict_proba(self, inputs: Sequence, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """(len(inputs), len(labels)) probabilities; an input that cannot be read is an error naming it."""
        items = list(self.io.from_python(self.meta, list(inputs)))
        bad = next((item for item in items if item.problem), None)
        if bad is not None:
            raise HeadstartError(f"{bad.name}: {bad.problem}")
        return self.batched_probabilities([item.example for item in items], batch_size)

    def predict(self, inputs: Sequence, batch_size: int = DEFAULT_BATCH) -> list[str]:
        """The most probable label of each input."""
        return [self.labels[i] for i in self.predict_proba(inputs, batch_size).argmax(1)]

    def batched_probabilities(self, examples: list, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """Probabilities of ``examples`` in their order, computed ``batch_size`` at a time over examples
        sorted by length: batches of like lengths pad little (a text's padding costs as much as its tokens)."""
        out = np.empty((len(examples), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(examples)), key=lambda i: self.io.length(examples[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = self.probabilities([examples[i] for i in chunk])
        return out

    def probabilities(self, examples: list) -> np.ndarray:
        """Probabilities of ``examples`` (already read by the modality), as one batch."""
        return torch.from_numpy(self.logits(examples)).softmax(-1).numpy()

    @torch.inference_mode()
    def logits(self, examples: list) -> np.ndarray:
        """Logits of ``examples`` (already read by the modality), as one padded batch."""
        data = self.io.data(examples, [0] * len(examples))
        return np.concatenate([self.objective.logits(batch).numpy()
                               for batch in self.backbone.batches(data, max(1, len(examples))).in_order()])

    def stream(self, items: Iterable[InputItem], batch_size: int = DEFAULT_BATCH
               ) -> Iterator[tuple[InputItem, Optional[np.ndarray]]]:
        """(item, probabilities) in input order; a skipped item comes with None.  Items are read
        ``SORT_WINDOW`` batches ahead, so that batches can be formed of like lengths; memory stays bounded."""
        pending: list[InputItem] = []
        readable = 0
        for item in items:
            pending.append(item)
            readable += item.problem is None
            if readable == batch_size * SORT_WINDOW:
                yield from self._flush(pending, batch_size)
                pending, readable = [], 0
        yield from self._flush(pending, batch_size)

    def _flush(self, pending: list[InputItem], batch_size: int):
        good = [item.example for item in pending if item.problem is None]
        probs = iter(self.batched_probabilities(good, batch_size) if good else [])
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
