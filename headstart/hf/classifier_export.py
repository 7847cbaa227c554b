"""A fine-tuned classifier as a transformers directory: causal text models as
``GPT2ForSequenceClassification`` (rotary ones as ``Llama``/``Qwen3ForSequenceClassification``), BERT-layout ones as ``BertForSequenceClassification``, CLS-pooled ViTs
as ``ViTForImageClassification``, with the labels as ``id2label``.

Each mapping gives transformers' logits within float32 rounding of headstart's (tests/test_classifier_export.py
checks them against transformers itself).  What transformers cannot compute is refused with the setting
that would make it exportable, or ``--format onnx``, which exports every classifier.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..classifier import load_classifier
from ..errors import HeadstartError
from ..models import TextTransformer
from ..models.vit import VisionTransformer
from ..tokenizer import special_token_ids
from . import bert, gpt2, llama, vit
from .common import StateReader
from .directory import BERT_HINT, check_new_directory, refuse, tokenizer_files, write_directory

ONNX_HINT = "; export it with --format onnx instead"
# How far a remapped head may be from headstart's on the check's inputs, relative to the logits' scale
# (1 or the largest logit): float32 rounding of two ways of computing the same product is ~1e-7.
HEAD_TOLERANCE = 1e-5


def export_classifier(source, out) -> Path:
    """Export the classifier of fine-tuning run ``source`` (or its classifier/ folder) to ``out``."""
    out = Path(out)
    check_new_directory(out)
    classifier = load_classifier(source)
    if classifier.meta.get("head", {}).get("ngrams"):
        raise HeadstartError(f"{classifier.folder}: fine-tuned with ngrams: true, whose TF-IDF side has no "
                             f"transformers equivalent; export a classifier fine-tuned without it")
    model = classifier.objective.model
    if isinstance(model, TextTransformer):
        files, architecture, notes = _text_files(classifier)
    elif isinstance(model, VisionTransformer):
        files, architecture, notes = _vit_files(classifier)
    else:
        kind = {"WordVectorModel": "a word-vector", "ResNet": "a ResNet", "AudioEncoder": "an audio"}.get(
            type(model).__name__, f"a {type(model).__name__}")
        why = (" (transformers' ResNet starts with ImageNet's 7x7 stride-2 convolution and max-pool; headstart's "
               "small-image ResNet with one 3x3 convolution)" if kind == "a ResNet" else "")
        raise HeadstartError(f"{classifier.folder}: {kind} classifier has no transformers equivalent{why}"
                             f"{ONNX_HINT}")
    labels = classifier.labels
    files["config.json"].update(architectures=[architecture], num_labels=len(labels),
                                id2label={str(i): name for i, name in enumerate(labels)},
                                label2id={name: i for i, name in enumerate(labels)},
                                problem_type="single_label_classification")
    write_directory(out, files, _readme(classifier, architecture, out, notes))
    return out


def _text_files(classifier) -> tuple[dict, str, str]:
    objective, folder = classifier.objective, classifier.folder
    cfg = objective.model.cfg
    if cfg.causal and cfg.positions == "rope":
        return _llama_files(classifier)
    if cfg.causal:
        mapping, architecture, wanted, reads = gpt2, "GPT2ForSequenceClassification", "last", "the last token"
        hint = ONNX_HINT
    else:
        mapping, architecture, wanted, reads = bert, "BertForSequenceClassification", "first", "the first token"
        hint = f"{BERT_HINT}, or export it with --format onnx"
    # The masked-LM transform sits in the language-model head, which a classifier drops.
    refuse(folder, architecture, [p for p in mapping.unsupported(cfg) if not p.startswith("model.mlm_transform=")],
           hint)
    if objective.pooling != wanted or objective.conv is not None or not isinstance(objective.norm, nn.Identity):
        raise HeadstartError(f"{folder}: pooling: {objective.pooling} cannot be represented in transformers' "
                             f"{architecture}, which classifies {reads}; fine-tune with pooling: {wanted} to "
                             f"export it there, or export it with --format onnx instead")
    tensors, notes = (_gpt2_tensors if cfg.causal else _bert_tensors)(folder, objective, architecture)
    tokenizer = classifier.backbone.tokenizer
    files = {"config.json": mapping.hf_config(cfg, special_token_ids(tokenizer)), "model.safetensors": tensors,
             **tokenizer_files(tokenizer, cfg, classifier.backbone.max_length)}
    return files, architecture, notes


def _llama_files(classifier) -> tuple[dict, str, str]:
    objective, folder = classifier.objective, classifier.folder
    cfg, state = objective.model.cfg, objective.model.state_dict()
    architecture = llama.architecture(cfg).replace("ForCausalLM", "ForSequenceClassification")
    problems = llama.unsupported(cfg, state)
    refuse(folder, architecture, problems, llama.nearest(problems) + ", or export it with --format onnx")
    if objective.pooling != "last" or objective.conv is not None or not isinstance(objective.norm, nn.Identity):
        raise HeadstartError(f"{folder}: pooling: {objective.pooling} cannot be represented in transformers' "
                             f"{architecture}, which classifies the last token; fine-tune with pooling: last to "
                             f"export it there, or export it with --format onnx instead")
    bias = objective.head.bias
    if bias is not None and bias.detach().abs().max() > 0:
        raise HeadstartError(f"{folder}: the classifier head's bias cannot be represented in transformers' "
                             f"{architecture} (its score layer has no bias, and RMSNorm none to fold it into)"
                             f"{ONNX_HINT}")
    tokenizer = classifier.backbone.tokenizer
    files = {"config.json": llama.hf_config(cfg, special_token_ids(tokenizer)),
             "model.safetensors": llama.classifier_to_hf(state, cfg, objective.head.weight),
             **tokenizer_files(tokenizer, cfg, classifier.backbone.max_length)}
    notes = ("The classifier reads the last token that is not the pad token (`config.pad_token_id`): pad on the "
             "right, as the tokenizer does.")
    return files, architecture, notes


def _gpt2_tensors(folder, objective, architecture: str) -> tuple[dict, str]:
    cfg, state = objective.model.cfg, objective.model.state_dict()
    weight, bias = objective.head.weight.detach(), objective.head.bias.detach()
    get = StateReader(state)  # the head reads the final norm's output
    gamma, beta = get("stack.norm.weight"), get.bias("stack.norm.bias", cfg.d_model)
    tensors = gpt2.classifier_to_hf(state, cfg, weight, bias)
    moved = tensors["transformer.ln_f.bias"]
    _check_head(folder, architecture, weight, bias, gamma, beta, lambda n: (gamma * n + moved) @ weight.T,
                "the head's bias cannot be moved into GPT-2's final norm (its weight has too few independent rows "
                "for its labels)")
    return tensors, ("GPT-2's `score` layer has no bias: headstart's head bias is folded into "
                     "`transformer.ln_f.bias`, which feeds nothing else here, so the logits are the same. The "
                     "classifier reads the last token that is not the pad token (`config.pad_token_id`): pad on "
                     "the right, as the tokenizer does.")


def _bert_tensors(folder, objective, architecture: str) -> tuple[dict, str]:
    cfg, state = objective.model.cfg, objective.model.state_dict()
    weight, bias = objective.head.weight.detach(), objective.head.bias.detach()
    get = StateReader(state)  # post-norm: the head reads the last block's second norm
    last = f"stack.blocks.{cfg.n_layer - 1}.norm2"
    gamma, beta = get(f"{last}.weight"), get.bias(f"{last}.bias", cfg.d_model)
    scale = bert.pooler_scale(weight, gamma, beta, target=HEAD_TOLERANCE / 10)
    tensors = bert.classifier_to_hf(state, cfg, weight, bias, scale)
    dense, head = tensors["bert.pooler.dense.weight"], tensors["classifier.weight"]
    _check_head(folder, architecture, weight, bias, gamma, beta,
                lambda n: torch.tanh((gamma * n + beta) @ dense.T) @ head.T + bias,
                "the scaled-identity pooler is not exact enough")
    return tensors, (f"BERT's pooler (dense + tanh on the first token) is a scaled identity here ({scale:.3g}·I, "
                     f"with the classifier's weight divided by {scale:.3g}): headstart's `pooling: first` head has "
                     f"no pooler, and tanh(s·x)/s equals x to float32 precision for this s. Run it in float32: half "
                     f"precision cannot hold both scales.")


def _vit_files(classifier) -> tuple[dict, str, str]:
    objective, folder = classifier.objective, classifier.folder
    cfg = objective.model.cfg
    architecture = "ViTForImageClassification"
    hint = "; it classifies the CLS token: pre-train the ViT with pool: cls, or" if cfg.pool != "cls" else ";"
    refuse(folder, architecture, vit.unsupported(cfg), f"{hint} export it with --format onnx")
    tensors = vit.classifier_to_hf(objective.model.state_dict(), cfg, objective.head.weight, objective.head.bias)
    files = {"config.json": vit.hf_config(cfg), "model.safetensors": tensors,
             "preprocessor_config.json": vit.image_processor_config(cfg)}
    inputs = classifier.meta.get("inputs", {})
    notes = (f"headstart fits an image to {cfg.image_size[0]}x{cfg.image_size[1]} by resizing it to cover that "
             f"size, then cropping the centre (bicubic), in mode {inputs.get('mode', '?')}; ViTImageProcessor "
             f"resizes without cropping, so crop first for the same predictions. Pixels are scaled to [0, 1] and "
             f"not normalised.")
    return files, architecture, notes


def _check_head(folder, architecture: str, weight, bias, gamma, beta, exported, problem: str) -> None:
    """Refuse unless ``exported(n)``, the exported layers on the normalised vector n, equals the head's
    W (γ⊙n + β) + b, in float32 as both run: on random n and the extreme ones (a coordinate at ±√(D−1))."""
    width = len(gamma)
    generator = torch.Generator().manual_seed(0)
    n = torch.randn(256, width, generator=generator, dtype=torch.float64)
    extreme = torch.eye(width, dtype=torch.float64)  # normalised below: √(D−1) at one coordinate
    n = torch.cat([n, extreme, -extreme])
    n = (n - n.mean(1, keepdim=True)) / n.std(1, unbiased=False, keepdim=True)
    n = n.float()
    with torch.no_grad():
        ours = (gamma * n + beta) @ weight.T + bias
        gap = float((exported(n) - ours).abs().max())
    if gap > HEAD_TOLERANCE * max(1.0, float(ours.abs().max())):
        raise HeadstartError(f"{folder}: {problem} (logits off by {gap:.1e}), so it cannot be represented in "
                             f"transformers' {architecture}{ONNX_HINT}")


def _readme(classifier, architecture: str, out: Path, notes: str) -> str:
    labels = ", ".join(f"{i}: {name}" for i, name in enumerate(classifier.labels))
    images = architecture.startswith("ViT")
    loader = "AutoModelForImageClassification" if images else "AutoModelForSequenceClassification"
    preprocess = "AutoImageProcessor" if images else "AutoTokenizer (`truncation=True, padding=True`)"
    return (f"# {architecture} exported by headstart\n\n"
            f"A fine-tuned classifier from `{classifier.folder}`. Labels (`id2label`): {labels}.\n\n"
            f"```python\nfrom transformers import {loader}\nmodel = {loader}.from_pretrained(\"{out}\")\n```\n\n"
            f"Preprocess with {preprocess}.\n\n{notes}\n")
