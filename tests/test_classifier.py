"""Use what you fine-tuned: a fine-tuning run is a classifier that loads on its own and predicts on new
texts, image files and sound files exactly as it scored its test set."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import headstart
from headstart.errors import HeadstartError

from test_audio_pipeline import MODEL as AUDIO_MODEL
from test_audio_pipeline import words  # noqa: F401  (fixture)
from test_finetune_cli import write_finetune_config, write_task
from test_pretrain_cli import run_cli, write_config
from test_vision_pretrain import RESNET, digits, text  # noqa: F401  (fixture)
from test_word_vectors import BAD, FRAMES_BAD, FRAMES_GOOD, GOOD, skipgram_run, word_data  # noqa: F401  (fixture)


def predict_cli(*args):
    from headstart import cli
    cli._register_classifier_commands()
    return run_cli("predict", *args)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, text):  # noqa: F811
    """A tiny masked LM fine-tuned with LoRA on a toy sentiment task: LoRA is merged into the classifier."""
    tmp = tmp_path_factory.mktemp("text-run")
    assert run_cli("pretrain", write_config(tmp, text, "masked_lm"))[0] == 0
    write_task(tmp, test_rows=[(1, "a fine fox"), (0, "a lazy dog"), (1, "lovely day"), (0, "bad slow dog")])
    code, out = run_cli("finetune", write_finetune_config(tmp, tmp / "run-masked_lm", name="lora", lora_rank=2))
    assert code == 0, out
    return tmp


def test_a_finetuned_run_loads_on_its_own_and_predicts(text_run, tmp_path):
    moved = tmp_path / "moved"  # the pre-training run and the task files are not needed any more
    shutil.copytree(text_run / "ft" / "classifier", moved)
    classifier = headstart.load_classifier(moved)
    assert classifier.labels == ["0", "1"] and classifier.modality == "text"
    probs = classifier.predict_proba(["a fine fox", "a lazy dog", ""])
    assert probs.shape == (3, 2) and np.allclose(probs.sum(1), 1.0)
    assert classifier.predict(["a fine fox", "a lazy dog"]) == [classifier.labels[i] for i in probs[:2].argmax(1)]
    meta = json.loads((moved / "classifier.json").read_text())
    assert meta["trained"]["strategy"] == "lora" and "lora" not in " ".join(
        __import__("safetensors.torch", fromlist=["load_file"]).load_file(str(moved / "model.safetensors")))


def test_predict_on_the_test_file_gives_the_runs_test_accuracy(text_run, tmp_path):
    results = json.loads((text_run / "ft" / "results.json").read_text())
    code, out = predict_cli(text_run / "ft", text_run / "test.tsv", "--out", tmp_path / "preds.jsonl", "--top-k", "2")
    assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "preds.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(len(row["top_k"]) == 2 and row["true_label"] in "01" for row in rows)
    accuracy = np.mean([row["label"] == row["true_label"] for row in rows])
    assert accuracy == results["test"]["accuracy"]
    assert f"accuracy {accuracy:.4f} on 4 labeled inputs" in out


@pytest.mark.parametrize("name, content, options, texts", [
    ("plain.txt", "a fine fox\n\nlazy dog\n", [], ["a fine fox", "lazy dog"]),
    ("sst.txt", "1 a fine fox\n0 lazy dog\n", [], ["a fine fox", "lazy dog"]),  # label-first: labels known
    ("reviews.jsonl", '{"review": "a fine fox"}\n{"review": "lazy dog"}\n', ["--field", "review"],
     ["a fine fox", "lazy dog"]),
])
def test_predict_reads_every_text_format(text_run, tmp_path, name, content, options, texts):
    (tmp_path / name).write_text(content)
    code, out = predict_cli(text_run / "ft", tmp_path / name, "--out", tmp_path / "p.jsonl", *options)
    assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    expected = headstart.load_classifier(text_run / "ft").predict_proba(texts)
    assert [row["probability"] for row in rows] == pytest.approx(expected.max(1).tolist(), abs=1e-6)
    assert ("true_label" in rows[0]) == (name == "sst.txt")


def test_unreadable_lines_are_skipped_counted_and_named(text_run, tmp_path):
    (tmp_path / "mixed.jsonl").write_bytes(b'{"text": "a fine fox"}\n{"text": \n{"text": "caf\xe9"}\n{"text": "dog"}\n')
    code, out = predict_cli(text_run / "ft", tmp_path / "mixed.jsonl", "--out", tmp_path / "p.jsonl")
    assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [("skipped" in row) for row in rows] == [False, True, True, False]
    assert "predicted 2 inputs, skipped 2" in out and "mixed.jsonl:2" in out and "mixed.jsonl:3" in out


def test_a_pretraining_run_or_an_image_is_not_a_text_classifier(text_run, tmp_path):
    code, out = predict_cli(text_run / "run-masked_lm", text_run / "test.tsv", "--out", tmp_path / "p.jsonl")
    assert code == 2 and "a pre-training run, not a classifier; fine-tune it first" in out
    from PIL import Image
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")
    code, out = predict_cli(text_run / "ft", tmp_path / "digit.png", "--out", tmp_path / "p.jsonl")
    assert code == 2 and "digit.png" in out and "text" in out and "\n" not in out.strip()


def test_a_classifier_whose_weights_do_not_fit_is_refused(text_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(text_run / "ft" / "classifier", broken)
    meta = json.loads((broken / "classifier.json").read_text())
    meta["labels"] = ["0", "1", "2"]  # the head has two outputs
    (broken / "classifier.json").write_text(json.dumps(meta))
    with pytest.raises(HeadstartError, match="model.safetensors: weights do not fit"):
        headstart.load_classifier(broken)


def finetuned_from_scratch(tmp, model: str, folder, budget: int, train: str):
    """``tmp/ft``: ``model`` fine-tuned from scratch on a prepared folder, tested on its val split."""
    config = tmp / "ft.yaml"
    config.write_text(f"""
run_dir: {tmp / "ft"}
model: {model}
task: {{train: {folder}, test: {{path: {folder}, split: val}}, budget: {budget}}}
train: {train}
""")
    code, out = run_cli("finetune", config)
    assert code == 0, out
    return tmp


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, digits):  # noqa: F811
    return finetuned_from_scratch(tmp_path_factory.mktemp("images"), RESNET, digits, 200,
                                  "{steps: 30, batch_size: 32, lr: 2.0e-2, warmup_steps: 3, eval_every: 10}")


def test_image_files_predict_as_their_prepared_copies_scored(image_run, digits, tmp_path):  # noqa: F811
    """The validation split of the digits, written as PNG files in class folders, plus one corrupt file:
    the corrupt one is skipped and named, the rest give the run's test accuracy."""
    from PIL import Image
    from headstart.vision.arrays import ImageArrays
    val = ImageArrays(digits, "val")
    pixels, labels = val.read(np.arange(len(val)))
    for i, (image, label) in enumerate(zip(pixels, labels)):
        (tmp_path / "val" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(tmp_path / "val" / str(label) / f"{i:04d}.png")
    (tmp_path / "val" / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, out = predict_cli(image_run / "ft", tmp_path / "val", "--out", tmp_path / "p.jsonl")
    assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    scored = [row for row in rows if "skipped" not in row]
    assert len(scored) == len(val) and "skipped 1 (" in out and "broken.png" in out
    accuracy = np.mean([row["label"] == row["true_label"] for row in scored])
    assert accuracy == json.loads((image_run / "ft" / "results.json").read_text())["test"]["accuracy"]
    classifier = headstart.load_classifier(image_run / "ft")
    first = tmp_path / "val" / str(labels[0]) / "0000.png"
    row = next(row for row in scored if row["input"] == str(first))
    assert classifier.predict([pixels[0], first]) == [row["label"]] * 2  # an array, or its file


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory, words):  # noqa: F811
    return finetuned_from_scratch(tmp_path_factory.mktemp("audio"), AUDIO_MODEL, words / "labeled", 24,
                                  "{steps: 8, batch_size: 8, lr: 3.0e-3, warmup_steps: 1, eval_every: 4}")


def test_sound_files_predict_as_their_prepared_copies_scored(audio_run, words, tmp_path):  # noqa: F811
    """Each prepared validation clip's probabilities equal those of its sound file read afresh, and a
    corrupt file among them is skipped and named."""
    from headstart.audio.arrays import AudioArrays
    from headstart.audio.prepare import find_audio_files
    from headstart.modality.splits import is_val
    val = AudioArrays(words / "labeled", "val")
    val_files = [f.path for f in find_audio_files([words / "wav"]) if is_val(f.relative, 0.25)]
    assert len(val_files) == len(val)
    classifier = headstart.load_classifier(audio_run / "ft")
    clips, _ = val.read(np.arange(len(val)))
    assert np.allclose(classifier.predict_proba(val_files), classifier.probabilities(list(clips)), atol=1e-6)
    for f in val_files:
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    code, out = predict_cli(audio_run / "ft", tmp_path, "--out", tmp_path / "p.jsonl")
    assert code == 0 and f"predicted {len(val)} inputs, skipped 1 (" in out and "corrupt.wav" in out, out


def evaluate_cli(*args):
    from headstart import cli
    cli._register_classifier_commands()
    return run_cli("evaluate", *args)


def test_evaluate_writes_metrics_calibration_and_a_report(text_run, tmp_path):
    results = json.loads((text_run / "ft" / "results.json").read_text())
    code, out = evaluate_cli(text_run / "ft", "--test", text_run / "test.tsv", "--out", tmp_path / "eval")
    assert code == 0, out
    evaluation = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert evaluation["accuracy"] == results["test"]["accuracy"] and evaluation["n"] == 4
    assert evaluation["ece"] == pytest.approx(results["test"]["ece"], abs=1e-6)
    assert evaluation["log_loss"] == pytest.approx(results["test"]["loss"], abs=1e-5)
    assert sum(map(sum, evaluation["confusion_matrix"]["counts"])) == 4
    for name in ("evaluation.html", "confusion_matrix.png", "reliability.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 0
    assert "report: " in out and "ECE" in out


def test_evaluate_refuses_data_of_another_modality(image_run, text_run, tmp_path):
    code, out = evaluate_cli(image_run / "ft", "--test", text_run / "test.tsv", "--out", tmp_path / "eval")
    assert code == 2 and "text data, but" in out and "classifies images" in out


@pytest.mark.parametrize("settings", [{"pooling": "mean_max", "epochs": 20},
                                      {"strategy": {"name": "linear_probe", "solver": "lbfgs"}}])
def test_word_vector_classifiers_predict_as_they_scored(skipgram_run, tmp_path, settings):
    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.run import finetune
    rows = [{"text": f.format(w), "label": "pos"} for f in FRAMES_GOOD for w in GOOD] + \
           [{"text": f.format(w), "label": "neg"} for f in FRAMES_BAD for w in BAD]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tests = [("great smiles", "pos"), ("awful frowns", "neg"), ("a smile", "pos")]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in tests))
    results = finetune(FinetuneConfig.model_validate({
        "run_dir": str(tmp_path / "ft"), "init": str(skipgram_run), **settings,
        "task": {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")},
        "train": {"batch_size": 4, "lr": 1e-2, "progress": False}}))
    code, out = predict_cli(tmp_path / "ft", tmp_path / "test.jsonl", "--out", tmp_path / "p.jsonl")
    assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert np.mean([row["label"] == row["true_label"] for row in rows]) == results["test"]["accuracy"]


def test_a_corrupt_file_among_a_thousand_good_ones_is_counted_and_the_rest_predicted(image_run, digits, tmp_path):  # noqa: F811
    from PIL import Image
    from headstart.vision.arrays import ImageArrays
    train = ImageArrays(digits, "train")
    pixels, _ = train.read(np.arange(1000))
    for i, image in enumerate(pixels):
        Image.fromarray(image[..., 0]).save(tmp_path / f"{i:04d}.png")
    (tmp_path / "0500-truncated.png").write_bytes((tmp_path / "0500.png").read_bytes()[:40])
    code, out = predict_cli(image_run / "ft", tmp_path, "--out", tmp_path / "p.jsonl", "--batch-size", "32")
    assert code == 0 and "predicted 1000 inputs, skipped 1 (" in out and "0500-truncated.png" in out, out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 1001 and rows[500]["input"].endswith("0500-truncated.png") and "skipped" in rows[500]
