"""``headstart predict`` and ``headstart evaluate``: a saved classifier on new inputs or a labeled test set."""
from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import HeadstartError
from .classifier import DEFAULT_BATCH, Classifier, load_classifier

log = logging.getLogger("headstart")
NAMED_SKIPS = 10  # skipped inputs named one by one in the log; the rest are counted


def predict_files(run, sources: Sequence[str], out: str, *, batch_size: int = DEFAULT_BATCH, top_k: int = 1,
                  options: Optional[dict] = None) -> dict:
    """Write one JSON line per input to ``out`` (``-``: stdout): its label and probability, the ``top_k``
    most probable labels, its true label when the input holds one; an unreadable input gets a row with
    the reason it was skipped.  Returns the counts (and accuracy when every predicted input had a label)."""
    classifier = run if isinstance(run, Classifier) else load_classifier(run)
    top_k = max(1, min(top_k, len(classifier.labels)))
    items = classifier.io.from_sources(classifier.meta, list(sources), options or {})
    counts = {"predicted": 0, "skipped": 0, "labeled": 0, "correct": 0}
    skipped: list[str] = []
    target = Path(out)
    if out != "-" and target.parent != Path("") and not target.parent.is_dir():
        raise HeadstartError(f"--out {out}: no folder {target.parent}")
    with (nullcontext(sys.stdout) if out == "-" else open(target, "w", encoding="utf-8")) as sink:
        for item, probs in classifier.stream(items, batch_size):
            if probs is None:
                counts["skipped"] += 1
                if len(skipped) < NAMED_SKIPS:
                    log.warning("skipping %s: %s", item.name, item.problem)
                    skipped.append(item.name)
                sink.write(json.dumps({"input": item.name, "skipped": item.problem}) + "\n")
                continue
            row = _row(classifier.labels, item, probs, top_k)
            counts["predicted"] += 1
            if item.label is not None:
                counts["labeled"] += 1
                counts["correct"] += row["label"] == item.label
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    if counts["predicted"] == 0 and counts["skipped"] == 0:
        raise HeadstartError(f"no inputs found in {', '.join(map(str, sources))}")
    if counts["skipped"] > NAMED_SKIPS:
        log.warning("... and %d more skipped inputs (each has a row with its reason in %s)",
                    counts["skipped"] - NAMED_SKIPS, out)
    counts["skipped_inputs"] = skipped
    if counts["labeled"] and counts["labeled"] == counts["predicted"]:
        counts["accuracy"] = counts["correct"] / counts["labeled"]
    return counts


def _row(labels: list[str], item, probs: np.ndarray, top_k: int) -> dict:
    order = np.argsort(-probs, kind="stable")[:top_k]
    row = {"input": item.name, "label": labels[order[0]], "probability": round(float(probs[order[0]]), 6)}
    if top_k > 1:
        row["top_k"] = [{"label": labels[i], "probability": round(float(probs[i]), 6)} for i in order]
    if item.label is not None:
        row["true_label"] = item.label
    return row


def evaluate_run(run, test: Path, *, split: Optional[str] = None, out: Optional[Path] = None,
                 batch_size: int = DEFAULT_BATCH, options: Optional[dict] = None) -> dict:
    """Score the classifier on labeled ``test`` (what fine-tuning's task.test takes: a labeled text file,
    or a prepared image/audio folder) and write evaluation.json, evaluation.html and the plots to ``out``
    (default: the run's ``evaluation/``).  Returns the metrics and the written paths."""
    from ..finetune.config import TaskConfig
    from ..finetune.task import task_modality
    from .evaluation import classification_metrics
    from .evaluation_report import write_evaluation

    classifier = run if isinstance(run, Classifier) else load_classifier(run)
    options = options or {}
    ref = {"path": test, "split": split}
    task = TaskConfig(train=ref, test=ref, **{k: v for k, v in options.items() if v is not None})
    modality = task_modality(task)
    if modality.name != classifier.modality:
        raise HeadstartError(f"--test {test}: {modality.name} data, but {classifier.folder} classifies "
                             f"{classifier.modality}")
    data = modality.read(task.test, task, "--test")
    _align(classifier, data)
    classifier.io.check(classifier.meta, data)
    labels, probs = classifier.score(data, batch_size)
    metrics = classification_metrics(labels, probs, classifier.labels)
    out = Path(out) if out is not None else _run_dir(classifier) / "evaluation"
    details = {"classifier": str(classifier.folder), "test": str(test) + (f" ({split})" if split else ""),
               "examples": len(labels), "trained": classifier.meta.get("trained")}
    paths = write_evaluation(out, metrics, title=f"{Path(_run_dir(classifier)).name} on {Path(test).name}",
                             details=details)
    return {"metrics": metrics, "paths": paths}


def _run_dir(classifier: Classifier) -> Path:
    return classifier.folder.parent if classifier.folder.name == "classifier" else classifier.folder


def _align(classifier: Classifier, data) -> None:
    """Relabel ``data`` with the classifier's label ids; a test label it never learned is an error."""
    ids = {name: i for i, name in enumerate(classifier.labels)}
    unseen = sorted({data.label_names[y] for y in set(np.asarray(data.labels).tolist())} - set(ids))
    if unseen:
        raise HeadstartError(f"{data.source}: label {unseen[0]!r} is not one the classifier knows "
                             f"({', '.join(classifier.labels[:20])})")
    mapped = [ids[data.label_names[y]] for y in np.asarray(data.labels).tolist()]
    data.labels = np.asarray(mapped, dtype=np.int64) if isinstance(data.labels, np.ndarray) else mapped
    data.label_names = list(classifier.labels)
