"""A fine-tuned classifier on disk: everything needed to predict, and nothing from the run that made it.

    run_dir/classifier/
        classifier.json     format, labels, the backbone's architecture record, the head (pooling ...),
                            the input pipeline (tokenizer and max length / image size and mode / sample
                            rate, mels and normalisation), the strategy, where it came from
        model.safetensors   backbone and head weights (LoRA adapters merged: one plain model to serve)
        tokenizer.json      text classifiers

LoRA is merged rather than kept as adapters: a served classifier has no use for the split, merged
weights export to Hugging Face and ONNX as plain layers, and inference skips the extra matmuls.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from ..engine.checkpoint import model_tensors, write_json_atomic
from ..errors import HeadstartError
from ..finetune.lora import merge_lora

CLASSIFIER_DIR = "classifier"
FORMAT, VERSION = "headstart-classifier", 1


def save_classifier(folder: Path, *, modality: str, objective: nn.Module, labels: list[str], record: dict,
                    files: dict[str, Path], provenance: dict) -> Path:
    """Write ``folder`` (replacing an older one): ``objective``'s weights with LoRA merged, and
    ``classifier.json`` from the modality's ``record`` (``model``, ``head``, ``inputs``)."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    merge_lora(objective)
    save_file({name: t.cpu() for name, t in model_tensors(objective).items()}, str(staging / "model.safetensors"))
    for name, path in files.items():
        shutil.copyfile(path, staging / name)
    meta = {"format": FORMAT, "version": VERSION, "modality": modality, "labels": list(labels), **record,
            "files": sorted(files), **provenance}
    write_json_atomic(staging / "classifier.json", meta)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def find_classifier(path: Path) -> tuple[Path, dict]:
    """(the classifier folder, its classifier.json) for a fine-tuning run or the folder itself."""
    path = Path(path)
    folder = path if (path / "classifier.json").is_file() else path / CLASSIFIER_DIR
    meta_file = folder / "classifier.json"
    if not meta_file.is_file():
        if (path / "checkpoints").is_dir() and not (path / "results.json").is_file():
            raise HeadstartError(f"{path}: a pre-training run, not a classifier; fine-tune it first "
                                 f"(headstart finetune with init: {path}) and give that run")
        raise HeadstartError(f"{path}: no fine-tuned classifier here (expected {meta_file}; runs fine-tuned "
                             f"before classifiers were saved need fine-tuning again)")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as e:
        raise HeadstartError(f"{meta_file}: unreadable ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HeadstartError(f"{meta_file}: not a headstart classifier (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version", 0) > VERSION:
        raise HeadstartError(f"{meta_file}: format version {meta['version']} is newer than this headstart "
                             f"reads ({VERSION}); upgrade headstart")
    for key in ("modality", "labels", "model"):
        if key not in meta:
            raise HeadstartError(f"{meta_file}: no {key!r}")
    return folder, meta
