"""The demo: the main job on built-in data, start to finish (slow: a real, short pre-training)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from headstart.text.demo import run_demo, run_gpt_demo
from headstart.errors import HeadstartError


@pytest.mark.slow
def test_demo_trains_word_vectors_and_compares_them_with_scratch_and_tfidf(tmp_path, capsys):
    out = run_demo(tmp_path / "demo", steps=4, seeds=[0])
    manifest = json.loads((out["data"] / "manifest.json").read_text())
    assert manifest["tokenizer"]["kind"] == "word" and manifest["stats"]["kept"] > 500
    result = out["result"]
    assert result.step == 4 and (result.last_checkpoint / "model.safetensors").exists()
    near = out["neighbours"]["socket"]  # 4 passes are too few to expect sensible neighbours; the demo runs 20
    assert len(near) == 5 and "socket" not in dict(near) and all(-1 <= cos <= 1 for _, cos in near)
    study = out["study"]
    assert set(study["arms"]) == {"pretrained", "scratch", "baseline"} and study["budgets"][0] == 50
    assert study["label_accounting"][50] == {"train": 40, "validation": 10, "counted": True}
    printed = capsys.readouterr().out
    assert "verdict:" in printed and "nearest words:" in printed and out["report"]["html"].exists()
    # The demo ends by saying how to use the classifier it fine-tuned.
    use = next(line for line in printed.splitlines() if line.startswith("use it:")).split()
    assert use[2:4] == ["headstart", "predict"] and (Path(use[4]) / "classifier" / "classifier.json").exists()


@pytest.mark.slow
def test_gpt_demo_prepares_pretrains_and_samples_on_builtin_data(tmp_path, capsys):
    out = run_gpt_demo(tmp_path / "demo", steps=30, finetune_steps=4, seeds=[0])
    manifest = json.loads((out["data"] / "manifest.json").read_text())
    assert manifest["stats"]["kept"] > 500 and manifest["splits"]["val"]["tokens"] > 0
    result = out["result"]
    assert result.step == 30 and (result.last_checkpoint / "model.safetensors").exists()
    # 30 steps already beat a uniform guess over the 4096-token vocabulary (ln 4096 = 8.3).
    assert result.final_eval["loss"] < 8.0
    assert out["sample"].startswith("The") and len(out["sample"]) > 3
    assert set(out["study"]["arms"]) == {"pretrained", "scratch", "baseline"}
    assert out["report"]["html"].exists()
    printed = capsys.readouterr().out
    assert "best checkpoint:" in printed and "report:" in printed


def test_demo_will_not_delete_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(HeadstartError, match="was not made by the demo"):
        run_demo(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "precious"


@pytest.mark.slow  # builds the corpus twice: about a minute on 2 cores
def test_the_builtin_task_keeps_its_test_text_out_of_the_pretraining_corpus(tmp_path):
    from headstart.text.labeled import read_labeled
    from headstart.text.stdlib_corpus import TASK_PACKAGES, stdlib_documents, write_stdlib_task

    train_file, test_file, test_texts = write_stdlib_task(tmp_path)
    train, test = read_labeled(train_file), read_labeled(test_file)
    assert set(train.label_names) == set(TASK_PACKAGES) and len(test) > 100
    corpus = "\n\n".join(stdlib_documents(exclude=test_texts))
    assert test_texts and not any(text in corpus for text in test_texts)
    assert sum(text in corpus for text in train.texts[:50]) >= 45  # the task's own unlabeled text stays in
    # Not even a 13-word run of a test docstring: the stdlib repeats docstrings and pydoc quotes them
    # (75 of 370 test docstrings leaked that way before), and compare would warn of contamination.
    from headstart.audit.contamination import contamination
    from headstart.text.stdlib_corpus import write_stdlib_corpus
    write_stdlib_corpus(tmp_path / "corpus.jsonl", exclude=test_texts)
    assert contamination(tmp_path / "corpus.jsonl", test.texts) == []


@pytest.mark.slow
def test_image_demo_pretrains_simclr_on_the_bundled_digits_and_writes_the_report(tmp_path, capsys):
    from headstart.vision.demo import run_image_demo

    out = run_image_demo(tmp_path / "demo", steps=20, finetune_steps=5, seeds=[0])
    assert out["result"].step == 20 and "knn_accuracy" in out["result"].final_eval
    assert set(out["study"]["arms"]) == {"pretrained", "scratch", "baseline"}
    # Logistic regression on the 64 pixels of held-out digits: far above the 10% of chance.
    all_labels = out["study"]["budgets"][-1]
    assert all_labels > 1000 and min(out["study"]["arms"]["baseline"][all_labels]) > 0.8
    assert out["report"]["html"].exists() and "report:" in capsys.readouterr().out


@pytest.mark.slow
def test_audio_demo_pretrains_best_rq_on_synthetic_words_and_tests_on_unseen_speakers(tmp_path, capsys):
    from headstart.audio.demo import run_audio_demo

    out = run_audio_demo(tmp_path / "demo", steps=10, finetune_steps=5, seeds=[0])
    assert out["result"].step == 10 and "masked_accuracy" in out["result"].final_eval
    assert set(out["study"]["arms"]) == {"pretrained", "scratch", "baseline"}
    # The held-out speakers never reach pre-training or the fine-tuning pool.
    pool = json.loads((tmp_path / "demo" / "task-pool" / "manifest.json").read_text())
    test = json.loads((tmp_path / "demo" / "task-test" / "manifest.json").read_text())
    assert pool["stats"]["kept"] == 6 * 10 * 15 and test["stats"]["kept"] == 2 * 10 * 15
    assert out["report"]["html"].exists() and "unseen speakers" in capsys.readouterr().out
