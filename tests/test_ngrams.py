"""``ngrams: true``: a text classifier plus the TF-IDF baseline's own model, their logits summed, fitted on
the same labels; saved with the classifier, so it predicts as it scored."""
from __future__ import annotations

import json

import numpy as np
import pytest

import headstart
from headstart.errors import HeadstartError

from test_classifier import predict_cli
from test_vision_pretrain import digits  # noqa: F401  (fixture)
from test_word_vectors import BAD, FRAMES_BAD, FRAMES_GOOD, GOOD, skipgram_run, word_data  # noqa: F401  (fixture)

TESTS = [("great smiles", "pos"), ("awful frowns", "neg"), ("a smile", "pos"), ("poor and cold", "neg")]


def write_task(folder):
    rows = [{"text": f.format(w), "label": "pos"} for f in FRAMES_GOOD for w in GOOD] + \
           [{"text": f.format(w), "label": "neg"} for f in FRAMES_BAD for w in BAD]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in TESTS))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def ngram_config(init, folder, refit=False, **settings):
    from headstart.finetune.config import FinetuneConfig
    return FinetuneConfig.model_validate({
        "run_dir": str(folder / "ft"), "init": str(init), "ngrams": True, **settings,
        "task": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl"), "refit": refit},
        "train": {"batch_size": 4, "lr": 1e-2, "progress": False, "seed": 0}})


def finetune_with_ngrams(init, folder, refit=False, **settings):
    from headstart.finetune.run import finetune
    return finetune(ngram_config(init, folder, refit, **settings))


def labels_of_the_run(cfg):
    """The budget's labels in the order the run learned from them (saga's solution depends on the order)."""
    from headstart.finetune.task import budget_labels, split_task, task_modality
    train, val, _ = split_task(cfg, task_modality(cfg.task))
    labeled = budget_labels(train, val)
    return labeled.texts, np.asarray(labeled.labels)


@pytest.mark.parametrize("settings", [{"strategy": {"name": "linear_probe", "solver": "lbfgs"}},
                                      {"epochs": 5, "refit": True}])  # a bag of embeddings trained, then refitted
def test_the_classifiers_logits_are_its_own_plus_the_tfidf_models(skipgram_run, tmp_path, settings):  # noqa: F811
    from headstart.transfer.probes import fit_tfidf_logreg
    write_task(tmp_path)
    results = finetune_with_ngrams(skipgram_run, tmp_path, **settings)
    texts, labels = labels_of_the_run(ngram_config(skipgram_run, tmp_path, **settings))
    # The n-gram side learned from every label of the budget, validation ones too: as the baseline does.
    assert results["ngrams"]["labels"] == len(texts) and results["ngrams"]["terms"] > 0
    classifier = headstart.load_classifier(tmp_path / "ft")
    assert json.loads((tmp_path / "ft" / "classifier" / "classifier.json").read_text())["head"]["ngrams"] == "ngrams.json"
    both = classifier.logits(list(texts[:6]) + [t for t, _ in TESTS])
    vectorizer, model = fit_tfidf_logreg(texts, labels, seed=0)
    classifier.objective.sparse_head, classifier.backbone.ngrams = None, None  # the classifier's own half
    own = classifier.logits(list(texts[:6]) + [t for t, _ in TESTS])
    ngram_margin = model.decision_function(vectorizer.transform(list(texts[:6]) + [t for t, _ in TESTS]))
    assert np.allclose((both[:, 1] - both[:, 0]) - (own[:, 1] - own[:, 0]), ngram_margin, atol=1e-4)
    assert np.abs(ngram_margin).max() > 1  # and the n-gram half is far from nothing
    code, out = predict_cli(tmp_path / "ft", tmp_path / "test.jsonl", "--out", tmp_path / "p.jsonl")
    assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert np.mean([row["label"] == row["true_label"] for row in rows]) == results["test"]["accuracy"]


def test_a_classifier_with_ngrams_does_not_export_half_of_itself(skipgram_run, tmp_path):  # noqa: F811
    from headstart.classifier.onnx_export import export_onnx
    from headstart.hf.classifier_export import export_classifier
    write_task(tmp_path)
    finetune_with_ngrams(skipgram_run, tmp_path, strategy={"name": "linear_probe", "solver": "lbfgs"})
    for export in (export_onnx, export_classifier):
        with pytest.raises(HeadstartError, match="ngrams: true"):
            export(tmp_path / "ft", tmp_path / f"out-{export.__name__}")


def test_ngrams_on_an_image_task_is_refused_in_one_line(digits, tmp_path):  # noqa: F811
    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.run import finetune
    cfg = FinetuneConfig.model_validate({"run_dir": str(tmp_path / "ft"), "model": {"preset": "resnet-micro"},
                                         "task": {"train": str(digits)}, "ngrams": True})
    with pytest.raises(HeadstartError, match="ngrams: n-gram features are for text tasks; this task is images"):
        finetune(cfg)


def test_compare_gives_every_arm_ngrams_unless_its_recipe_says_otherwise(tmp_path):
    from headstart.compare import CompareConfig, _run_config
    cfg = CompareConfig.model_validate({
        "run_dir": str(tmp_path), "pretrained": str(tmp_path / "run"), "ngrams": True,
        "task": {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")},
        "also": {"vectors-only": str(tmp_path / "run")}, "recipes": {"vectors-only": {"ngrams": False}}})
    assert [_run_config(cfg, arm, 100, 0, tmp_path).ngrams for arm in cfg.arms()] == [True, True, False]
