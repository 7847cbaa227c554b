"""`headstart export` of a fine-tuned classifier: transformers' GPT2/BertForSequenceClassification and
ViTForImageClassification, and ONNX for every kind; each checked against headstart's own logits on a
padded batch (transformers itself, onnxruntime itself), and what cannot be represented is refused."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from headstart.classifier import load_classifier
from headstart.models import TextTransformer, TransformerConfig
from headstart.models.presets import preset_fields
from headstart.models.vision_presets import vision_model_record
from headstart.models.vit import ViTConfig, VisionTransformer
from headstart.text.tokenizer import train_bpe

from test_audio_pipeline import MODEL as AUDIO_MODEL
from test_audio_pipeline import words  # noqa: F401  (fixture)
from test_finetune_cli import write_task
from test_hf_interop import save_checkpoint
from test_pretrain_cli import run_cli
from test_vision_pretrain import RESNET, digits  # noqa: F401  (fixture)
from test_word_vectors import BAD, FRAMES_BAD, FRAMES_GOOD, GOOD, word_data, write_pretrain  # noqa: F401  (fixture)

TOLERANCE = 1e-4
TEXTS = [f"the quick brown fox {i} jumps over the lazy dog" for i in range(200)]
# Of different lengths, so the batch is padded; none is the length of a batch seen when exporting.
PADDED = ["a fine fox", "the lazy dog sleeps badly in the grey rain", "lovely", "what a bad and lazy day"]
BERT_LAYOUT = {k: v for k, v in preset_fields("bert-classic-nano").items()
               if k not in ("n_layer", "n_head", "d_model", "context_length")}


# ---- fine-tuned runs, made small and fast ------------------------------------------------------
def perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Every parameter moved off its initial value, so a mis-mapped norm, bias or position shows."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def finetuned(tmp, task: str, **settings):
    """A fine-tuning run of two steps whose head is then randomised: a head two steps from its zero
    initialisation gives near-zero logits that any mapping would match."""
    config = {"run_dir": str(tmp / "ft"), "task": {"budget": 40, **json.loads(task)},
              "train": {"steps": 2, "batch_size": 8, "lr": 1e-3, "warmup_steps": 1, "eval_every": 2,
                        "log_every": 1, "progress": False}, **settings}
    (tmp / "ft.yaml").write_text(json.dumps(config))
    code, out = run_cli("finetune", tmp / "ft.yaml")
    assert code == 0, out
    weights = tmp / "ft" / "classifier" / "model.safetensors"
    tensors = load_file(str(weights))
    g = torch.Generator().manual_seed(1)
    for name in ("head.weight", "head.bias"):
        tensors[name] = tensors[name] + 0.5 * torch.randn(tensors[name].shape, generator=g)
    save_file(tensors, str(weights))
    return tmp / "ft"


def text_run(tmp, pooling="auto", **fields):
    tokenizer = train_bpe(TEXTS, vocab_size=300)
    cfg = TransformerConfig(vocab_size=tokenizer.get_vocab_size(), context_length=24, n_layer=2, n_head=2,
                            d_model=32, **fields)
    init = save_checkpoint(tmp / "pre", perturbed(TextTransformer(cfg)), cfg.model_dump(mode="json"), tokenizer)
    write_task(tmp)
    return finetuned(tmp, json.dumps({"train": str(tmp / "train.tsv"), "test": str(tmp / "test.tsv")}),
                     init=str(init), pooling=pooling)


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    return text_run(tmp_path_factory.mktemp("gpt"), bias=True)  # pooling auto: the last token


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    return text_run(tmp_path_factory.mktemp("bert"), pooling="first", **BERT_LAYOUT)


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory, digits):  # noqa: F811
    tmp = tmp_path_factory.mktemp("vit")
    cfg = ViTConfig(image_size=(8, 8), patch_size=2, channels=1, n_layer=2, n_head=2, d_model=32)
    init = save_checkpoint(tmp / "pre", perturbed(VisionTransformer(cfg)), vision_model_record(cfg))
    return finetuned(tmp, json.dumps({"train": str(digits), "test": {"path": str(digits), "split": "val"}}),
                     init=str(init))


def headstart_logits(run, inputs) -> torch.Tensor:
    classifier = load_classifier(run)
    data = classifier.io.data(list(inputs), [0] * len(inputs))
    batch = next(iter(classifier.backbone.batches(data, len(inputs)).in_order()))
    with torch.no_grad():
        return classifier.objective.logits(batch), batch


# ---- Hugging Face --------------------------------------------------------------------------------
@pytest.mark.parametrize("run, architecture", [("gpt_run", "GPT2ForSequenceClassification"),
                                               ("bert_run", "BertForSequenceClassification")])
def test_a_text_classifier_exports_to_transformers_with_the_same_logits_on_a_padded_batch(
        request, tmp_path, run, architecture):
    transformers = pytest.importorskip("transformers")
    run = request.getfixturevalue(run)
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 0, out

    model = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(model).__name__ == architecture
    assert model.config.id2label == {0: "0", 1: "1"} and model.config.label2id == {"0": 0, "1": 1}
    encoded = tokenizer(PADDED, padding=True, truncation=True, return_tensors="pt")
    ours, batch = headstart_logits(run, PADDED)
    assert torch.equal(encoded["input_ids"], batch["inputs"])  # same tokens, same pad id, padded on the right
    with torch.no_grad():
        theirs = model(**encoded).logits
    assert (theirs - ours).abs().max() < TOLERANCE
    assert torch.equal(theirs.argmax(-1), ours.argmax(-1))


def test_a_vit_classifier_exports_to_vit_for_image_classification(vit_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    assert run_cli("export", vit_run / "classifier", "--out", tmp_path / "hf")[0] == 0  # the folder itself

    model = transformers.AutoModelForImageClassification.from_pretrained(tmp_path / "hf").eval()
    assert type(model).__name__ == "ViTForImageClassification" and len(model.config.id2label) == 10
    pixels = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    ours, batch = headstart_logits(vit_run, list(pixels))
    with torch.no_grad():
        theirs = model(pixel_values=batch["images"]).logits
    assert (theirs - ours).abs().max() < TOLERANCE
    assert torch.equal(theirs.argmax(-1), ours.argmax(-1))


@pytest.mark.parametrize("settings, expected", [
    ({"pooling": "mean", **BERT_LAYOUT}, "pooling: mean cannot be represented in transformers' "
                                         "BertForSequenceClassification"),
    ({"pooling": "max", "causal": True}, "fine-tune with pooling: last"),
    ({"pooling": "first", "causal": False}, "model.norm_position=pre"),
])
def test_a_text_classifier_transformers_cannot_compute_is_refused_naming_the_fix(tmp_path, settings, expected):
    pooling = settings.pop("pooling")
    run = text_run(tmp_path, pooling=pooling, **settings)
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and expected in out and "--format onnx" in out and "\n" not in out.strip()
    assert not (tmp_path / "hf").exists()


def test_a_mean_pooled_vit_is_refused_naming_pool_cls(tmp_path, digits):  # noqa: F811
    cfg = ViTConfig(image_size=(8, 8), patch_size=2, channels=1, n_layer=1, n_head=2, d_model=32, pool="mean")
    init = save_checkpoint(tmp_path / "pre", perturbed(VisionTransformer(cfg)), vision_model_record(cfg))
    run = finetuned(tmp_path, json.dumps({"train": str(digits)}), init=str(init))
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and "model.pool=mean" in out and "pool: cls" in out and "--format onnx" in out


def test_an_existing_non_empty_out_is_refused(gpt_run, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    for fmt in ("hf", "onnx"):
        code, out = run_cli("export", gpt_run, "--out", tmp_path / "taken", "--format", fmt)
        assert code == 2 and "already exists and is not empty" in out
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


def test_a_pretraining_run_is_not_exported_as_onnx(gpt_run, tmp_path):
    code, out = run_cli("export", gpt_run.parent / "pre", "--out", tmp_path / "onnx", "--format", "onnx")
    assert code == 2 and "fine-tune it first" in out and "--format hf" in out


# ---- ONNX -----------------------------------------------------------------------------------------
def onnx_logits(folder, batch: dict) -> np.ndarray:
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(["logits"], {name: batch[name].numpy() for name in names})[0]


def assert_onnx_matches(run, tmp_path, inputs):
    pytest.importorskip("onnx")
    code, out = run_cli("export", run, "--format", "onnx", "--out", tmp_path / "onnx")
    assert code == 0, out
    meta = json.loads((tmp_path / "onnx" / "classifier.json").read_text())
    assert meta["labels"] == load_classifier(run).labels
    ours, batch = headstart_logits(run, inputs)
    theirs = onnx_logits(tmp_path / "onnx", batch)
    assert np.abs(theirs - ours.numpy()).max() < TOLERANCE
    assert (theirs.argmax(-1) == ours.numpy().argmax(-1)).all()
    return tmp_path / "onnx"


@pytest.mark.parametrize("run", ["gpt_run", "bert_run"])
def test_a_text_classifier_exports_to_onnx_with_dynamic_batch_and_length(request, tmp_path, run):
    out = assert_onnx_matches(request.getfixturevalue(run), tmp_path, PADDED + ["a fine and lovely day it is"])
    assert (out / "tokenizer.json").exists() and "`padding_mask`" in (out / "README.md").read_text()


def test_the_onednn_cpu_linear_stays_out_of_the_onnx_graph(gpt_run, tmp_path, monkeypatch):
    kernels = importlib.import_module("headstart.kernels.linear")
    if kernels._ONEDNN_LINEAR is None:
        pytest.skip("this torch has no oneDNN linear")
    monkeypatch.setattr(kernels, "_LINEAR", kernels._ONEDNN_LINEAR)
    monkeypatch.setattr(kernels, "MIN_PRODUCT", 0)  # every product takes it while tracing
    assert_onnx_matches(gpt_run, tmp_path, PADDED)


def test_an_image_classifier_exports_to_onnx(vit_run, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (7, 8, 8, 1), dtype=np.uint8)
    assert_onnx_matches(vit_run, tmp_path, list(pixels))


def test_a_resnet_classifier_exports_to_onnx_but_not_to_transformers(tmp_path, digits):  # noqa: F811
    run = finetuned(tmp_path, json.dumps({"train": str(digits)}), model=yaml.safe_load(RESNET))
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and "a ResNet classifier has no transformers equivalent" in out and "--format onnx" in out
    pixels = np.random.default_rng(1).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    assert_onnx_matches(run, tmp_path, list(pixels))


def test_an_audio_classifier_exports_to_onnx_but_not_to_transformers(tmp_path, words):  # noqa: F811
    run = finetuned(tmp_path, json.dumps({"train": str(words / "labeled")}), model=yaml.safe_load(AUDIO_MODEL))
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and "an audio classifier has no transformers equivalent" in out
    rng = np.random.default_rng(2)
    clips = [rng.standard_normal((n, 24)).astype(np.float16) for n in (33, 5, 18, 60, 2)]
    assert_onnx_matches(run, tmp_path, clips)


def test_a_word_vector_classifier_exports_to_onnx_with_its_subword_inputs(tmp_path, word_data):  # noqa: F811
    assert run_cli("pretrain", write_pretrain(word_data, "cbow", "{dim: 16, subword_buckets: 500}", "cbow-onnx"))[0] == 0
    rows = [{"text": f.format(w), "label": "pos"} for f in FRAMES_GOOD for w in GOOD] + \
           [{"text": f.format(w), "label": "neg"} for f in FRAMES_BAD for w in BAD]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = finetuned(tmp_path, json.dumps({"train": str(tmp_path / "train.jsonl")}), init=str(word_data / "cbow-onnx"))
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and "a word-vector classifier has no transformers equivalent" in out and "--format onnx" in out

    out = assert_onnx_matches(run, tmp_path, ["great smiles", "so awful : i frowned , grumpily", "", "ok"])
    _, unseen = headstart_logits(run, ["greatly smiling", "so awful"])
    assert "subword_positions" in unseen  # words outside the vocabulary go through their n-grams
    assert "ft_ngram_hashes" in (out / "README.md").read_text()
    known = ["great smiles", "awful frowns"]  # no unseen word: the n-gram inputs are empty
    ours, batch = headstart_logits(run, known)
    assert "subword_positions" not in batch
    batch |= {"subword_positions": torch.zeros(0, dtype=torch.int64),
              "subword_buckets": torch.zeros(0, 1, dtype=torch.int64)}
    assert np.abs(onnx_logits(out, batch) - ours.numpy()).max() < TOLERANCE
