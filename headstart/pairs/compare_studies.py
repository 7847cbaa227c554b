"""What ``headstart compare`` adds for an image–text checkpoint on an image task: zero-shot accuracy
on the task's held-out images (class names and prompt templates only, no label), and the retrieval
figures the pre-training run measured on its validation pairs."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..engine.metrics import read_metrics
from ..errors import HeadstartError
from .evaluate import DEFAULT_TEMPLATES, zero_shot_accuracy
from .pretrained import load_dual_encoder


def image_text_studies(pretrained: Path, *, task_modality: str, held_out: Callable[[], object],
                       templates: Optional[Sequence[str]], eval_key: str, run_dir: Path, step: int) -> dict:
    """``compare``'s studies of an image-text checkpoint: zero-shot accuracy on the task's held-out images
    (``held_out()``; templates None: ``DEFAULT_TEMPLATES``) and the run's retrieval figures at ``step``."""
    if task_modality != "images":
        raise HeadstartError(f"{pretrained} is an image-text model: its image tower fine-tunes on an image "
                             f"task (a folder from `headstart prepare images`), not a {task_modality} one")
    return {"zero_shot": {**zero_shot_study(pretrained, held_out(), templates or DEFAULT_TEMPLATES),
                          "split": eval_key},
            "retrieval": retrieval_study(run_dir, step)}


def zero_shot_study(pretrained: Path, held_out, templates: Sequence[str]) -> dict:
    """Zero-shot accuracy of checkpoint ``pretrained`` on ``held_out`` (LabeledImages)."""
    model, tokenizer, checkpoint, _ = load_dual_encoder(pretrained)
    pixels = held_out.pixels(np.arange(len(held_out)))
    accuracy = zero_shot_accuracy(model, tokenizer, pixels, held_out.labels, held_out.label_names, templates)
    return {"accuracy": accuracy, "n": len(held_out), "templates": list(templates),
            "class_names": list(held_out.label_names), "checkpoint": str(checkpoint)}


def retrieval_study(run_dir: Path, step: int) -> Optional[dict]:
    """The R@K figures the run logged at checkpoint ``step`` (its validation pairs), or None."""
    rows = [row for row in read_metrics(run_dir, "val") if row.get("step") == step]
    if not rows:
        return None
    return {"step": step, **{k: v for k, v in rows[-1].items() if "_R@" in k}}
