"""A classifier fine-tuned from a rotary decoder exports as LlamaForSequenceClassification (Qwen3 with
QK-norm), reading the last token, where that is exact: its score layer has no bias."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from test_classifier_export import PADDED, headstart_logits, text_run
from test_hf_modern import MODERN
from test_pretrain_cli import run_cli

transformers = pytest.importorskip("transformers")
TOLERANCE = 1e-4


def without_head_bias(run):
    """The run with its classifier head's bias set to zero (as a head trained without one would be)."""
    weights = run / "classifier" / "model.safetensors"
    tensors = load_file(str(weights))
    tensors["head.bias"] = torch.zeros_like(tensors["head.bias"])
    save_file(tensors, str(weights))
    return run


@pytest.mark.parametrize("fields, architecture", [({}, "LlamaForSequenceClassification"),
                                                  ({"qk_norm": True}, "Qwen3ForSequenceClassification")])
def test_a_rotary_classifier_without_head_bias_exports_with_the_same_logits(tmp_path, fields, architecture):
    run = text_run(tmp_path, **MODERN, **fields)  # pooling auto: the last token
    code, out = run_cli("export", run, "--out", tmp_path / "refused")
    assert code == 2 and "head's bias" in out and "--format onnx" in out and "\n" not in out.strip()

    without_head_bias(run)
    assert run_cli("export", run, "--out", tmp_path / "hf")[0] == 0
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(model).__name__ == architecture
    encoded = tokenizer(PADDED, padding=True, truncation=True, return_tensors="pt")
    ours, batch = headstart_logits(run, PADDED)
    assert torch.equal(encoded["input_ids"], batch["inputs"])  # same tokens, same pad id, padded on the right
    with torch.no_grad():
        theirs = model(**encoded).logits
    assert (theirs - ours).abs().max() < TOLERANCE


def test_a_rotary_classifier_pooling_the_mean_is_refused(tmp_path):
    run = without_head_bias(text_run(tmp_path, pooling="mean", **MODERN))
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and "pooling: mean" in out and "pooling: last" in out and "\n" not in out.strip()
