"""A fine-tuned classifier as an ONNX model: ``headstart export RUN --format onnx --out DIR``.

    DIR/model.onnx          inputs named as headstart's batches name them, output ``logits`` (B, labels)
    DIR/classifier.json     labels and the input pipeline (tokenizer and max length, image size and mode,
    DIR/tokenizer.json      audio features and their normalisation), to preprocess as headstart does
    DIR/README.md           the inputs, their shapes and how to make them

Every classifier exports (word vectors and ResNets too, which transformers has no class for).  The batch
and, for texts and audio, the length are dynamic; images keep the size they were trained at.

Torch's TorchScript-based exporter (``dynamo=False``), not the dynamo one: it exports these models on
every torch from 2.4 to 2.13, needs only the ``onnx`` package, and takes the models as they are, while
``torch.export`` stops at shape-dependent Python branches (the CPU ``Linear`` kernel's size check) and
needs onnxscript.  Tracing turns such branches into constants, so the export is checked with
onnxruntime (when installed) on a batch of another size and length than the one traced.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import logging
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import HeadstartError
from .classifier import load_classifier

log = logging.getLogger(__name__)
OPSET = 17  # LayerNormalization is a native op from 17; onnxruntime 1.14+ runs it
TOLERANCE = 1e-4
# Which axes of each batch key vary between batches (the rest are fixed by the model).
DYNAMIC_AXES = {
    "inputs": {0: "batch", 1: "length"}, "padding_mask": {0: "batch", 1: "length"},
    "features": {0: "batch", 1: "length"}, "images": {0: "batch"},
    "subword_positions": {0: "subwords"}, "subword_buckets": {0: "subwords", 1: "ngrams"},
}


def export_onnx(source, out) -> Path:
    """Export the classifier of fine-tuning run ``source`` (or its classifier/ folder) to directory ``out``."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HeadstartError(f"{out}: already exists and is not empty; choose a new --out directory")
    if importlib.util.find_spec("onnx") is None:
        raise HeadstartError("--format onnx needs the onnx package: pip install 'headstart[onnx]' "
                             "(onnxruntime, in the same extra, checks the export)")
    classifier = load_classifier(source)
    if classifier.meta.get("head", {}).get("ngrams"):
        raise HeadstartError(f"{classifier.folder}: fine-tuned with ngrams: true, whose TF-IDF side runs in "
                             f"scikit-learn, not in the network; ONNX export takes classifiers without it")
    traced, checked = (_batch(classifier, examples) for examples in _examples(classifier))
    names = [key for key in traced if key != "labels"]
    unknown = sorted(set(names) - set(DYNAMIC_AXES))
    if unknown:  # a new batch key needs its dynamic axes named above
        raise HeadstartError(f"{classifier.folder}: no ONNX axes known for batch key(s) {', '.join(unknown)}")
    module = _Logits(_exportable(classifier.objective), names).eval()
    staging = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _trace(module, traced, names, staging / "model.onnx")
        gap = _check(staging / "model.onnx", module, checked, names)
        shutil.copyfile(classifier.folder / "classifier.json", staging / "classifier.json")
        for name in classifier.meta.get("files", []):
            shutil.copyfile(classifier.folder / name, staging / name)
        (staging / "README.md").write_text(_readme(classifier, traced, names, gap))
        if out.exists():
            out.rmdir()  # empty, checked above
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


class _Logits(nn.Module):
    """The classifier's ``logits(batch)`` with the batch's tensors as positional inputs, as ONNX wants."""

    def __init__(self, objective: nn.Module, names: list[str]):
        super().__init__()
        self.objective, self.names = objective, names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.objective.logits(dict(zip(self.names, tensors)))


class _RMSNorm(nn.Module):
    """``nn.RMSNorm`` in the ops it is made of: ONNX has no RMSNorm before opset 23, and torch's
    TorchScript exporter no translation of ``aten::rms_norm``."""

    def __init__(self, norm: nn.RMSNorm):
        super().__init__()
        self.weight, self.eps = norm.weight, norm.eps if norm.eps is not None else torch.finfo(torch.float32).eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x if self.weight is None else x * self.weight


def _exportable(objective: nn.Module) -> nn.Module:
    """A copy of ``objective`` with every ``nn.RMSNorm`` spelled out (the same function)."""
    objective = copy.deepcopy(objective)
    for parent in list(objective.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.RMSNorm):
                setattr(parent, name, _RMSNorm(child))
    return objective


def _examples(classifier) -> tuple[list, list]:
    """Inputs for the trace, and a batch of another size and length for the check.  Text includes a word
    outside any vocabulary, so a word-vector model with subword vectors traces its n-gram path."""
    meta, rng = classifier.meta, np.random.default_rng(0)
    if classifier.modality == "text":
        return (["qzxv fox", "a"],
                ["the quick brown fox jumps over the lazy dog and on", "b", "qzxv and wqpt are unseen words"])
    if classifier.modality == "images":
        shape = (meta["inputs"]["height"], meta["inputs"]["width"], meta["inputs"]["channels"])
        return ([rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2)],
                [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)])
    if classifier.modality == "audio":
        longest = classifier.objective.model.cfg.max_frames
        clips = [[min(n, longest) for n in (12, 9)], [min(n, longest) for n in (41, 7, 23)]]
        return tuple([rng.standard_normal((n, meta["inputs"]["n_mels"])).astype(np.float16) for n in lengths]
                     for lengths in clips)
    raise HeadstartError(f"{classifier.folder}: no ONNX export for modality {classifier.modality!r}")


def _batch(classifier, examples: list) -> dict[str, torch.Tensor]:
    data = classifier.io.data(examples, [0] * len(examples))
    return next(iter(classifier.backbone.batches(data, len(examples)).in_order()))


@contextmanager
def _plain_linear():
    """headstart's CPU ``Linear`` may take a oneDNN path, an ``autograd.Function`` the exporter cannot
    translate; ``F.linear`` is the same product and exports as MatMul/Gemm."""
    kernels = importlib.import_module("..kernels.linear", __package__)  # not the function of that name
    saved, kernels._LINEAR = kernels._LINEAR, None
    try:
        yield
    finally:
        kernels._LINEAR = saved


def _trace(module: nn.Module, batch: dict, names: list[str], path: Path) -> None:
    options = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    axes = {name: DYNAMIC_AXES[name] for name in names} | {"logits": {0: "batch"}}
    # The tracer warns of every shape check it turns into a constant; the check below is what shows
    # the graph right for other shapes.  torch 2.9+ also warns that this exporter is deprecated.
    with _plain_linear(), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(batch[name] for name in names), str(path), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=OPSET, **options)


def _check(path: Path, module: nn.Module, batch: dict, names: list[str]):
    """The largest difference between onnxruntime's logits and headstart's on ``batch``; None without
    onnxruntime.  Refuses an export that differs by more than ``TOLERANCE``."""
    try:
        import onnxruntime
    except ImportError:
        log.warning("onnxruntime is not installed, so the ONNX model was not checked against headstart's logits "
                    "(pip install 'headstart[onnx]')")
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(["logits"], {name: batch[name].numpy() for name in names})[0]
    with torch.no_grad():
        ours = module(*(batch[name] for name in names)).numpy()
    gap = float(np.abs(theirs - ours).max())
    if not gap <= TOLERANCE:
        raise HeadstartError(f"{path.parent}: the ONNX model's logits differ from headstart's by {gap:.1e} on a "
                             f"batch of {len(ours)} (more than {TOLERANCE:g}); please report it with classifier.json")
    log.info("onnxruntime's logits are within %.1e of headstart's on a batch of %d", gap, len(ours))
    return gap


def _readme(classifier, batch: dict, names: list[str], gap) -> str:
    meta = classifier.meta
    rows = []
    for name in names:
        axes = DYNAMIC_AXES[name]
        dims = ", ".join(axes.get(i, str(size)) for i, size in enumerate(batch[name].shape))
        rows.append(f"| `{name}` | {str(batch[name].dtype).removeprefix('torch.')} | ({dims}) |")
    checked = ("" if gap is None else
               f"onnxruntime's logits were within {gap:.1e} of headstart's on a batch of another size and length "
               f"than the one traced.\n\n")
    return (f"# headstart classifier as ONNX\n\nFrom `{classifier.folder}`. Output `logits`: (batch, "
            f"{len(classifier.labels)}), columns in the order of `labels` in classifier.json "
            f"({', '.join(classifier.labels)}); softmax gives probabilities.\n\n{checked}"
            f"| input | type | shape |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
            + PREPARATION[classifier.modality](meta) + "\n")


def _text(meta: dict) -> str:
    head = meta["model"]
    words = head.get("kind") == "word_vectors"
    text = (f"`inputs`: token ids from tokenizer.json (`tokenizers.Tokenizer.from_file`), each text cut at "
            f"{meta['inputs']['max_length']} tokens" if meta["inputs"].get("max_length") else
            "`inputs`: token ids from tokenizer.json (`tokenizers.Tokenizer.from_file`)")
    text += (", right-padded to the longest with the tokenizer's pad token; an empty text is one "
             f"{'unknown' if words else 'end-of-text'} token. `padding_mask`: true on real tokens.")
    if words and head.get("subword_buckets"):
        text += (f"\n\n`subword_positions` / `subword_buckets`: words the tokenizer maps to its unknown token get "
                 f"the mean of their character n-gram vectors (fastText). `subword_positions` holds their flat "
                 f"positions (row × length + position); `subword_buckets` their n-gram buckets, "
                 f"`gensim.models.fasttext.ft_ngram_hashes(word, {head.get('min_n', 3)}, {head.get('max_n', 6)}, "
                 f"{head['subword_buckets']})` of the normalised word, padded with -1. When every word is known, "
                 f"pass empty int64 arrays of shapes (0,) and (0, 1).")
    return text


def _images(meta: dict) -> str:
    inputs = meta["inputs"]
    return (f"`images`: float32 pixels / 255 in [0, 1], channels first, {inputs['height']}x{inputs['width']} in "
            f"mode {inputs['mode']}: headstart resizes an image to cover that size, then crops the centre (bicubic).")


def _audio(meta: dict) -> str:
    inputs = meta["inputs"]
    return (f"`features`: log-mel frames ({inputs['n_mels']} mels, {inputs['sample_rate']} Hz, {inputs['win_ms']} ms "
            f"windows every {inputs['hop_ms']} ms, as `headstart prepare audio` computes them), each mel bin less "
            f"`feature_mean` and divided by `feature_std` (classifier.json), zero where padded. `padding_mask`: true "
            f"on real frames.")


PREPARATION = {"text": _text, "images": _images, "audio": _audio}
