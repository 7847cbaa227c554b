"""`headstart recipe`: the pre-training config for the time a user has, written with its reasons."""
from __future__ import annotations

import yaml

from headstart.config import PretrainConfig
from test_pretrain_cli import prepared, run_cli  # noqa: F401  (prepared: a character-level corpus)
from test_word_vectors import word_data  # noqa: F401  (fixture: a corpus prepared with --tokenizer word)


def test_a_word_corpus_gets_skipgram_with_its_passes_fitted_to_the_budget(word_data, tmp_path):  # noqa: F811
    code, out = run_cli("recipe", word_data / "data", "--time-budget", "10m", "--out", tmp_path / "pre.yaml")
    assert code == 0, out
    config = PretrainConfig.model_validate(yaml.safe_load((tmp_path / "pre.yaml").read_text()))
    assert config.objective.name == "skipgram" and config.train.time_budget == 600
    assert config.model["dim"] == 100  # a small corpus: 100 dimensions, not 300
    assert "Text objectives at equal wall time" in out and f"headstart pretrain {tmp_path / 'pre.yaml'}" in out
    assert "beyond the longest budget measured" not in out
    # The reasons travel with the config, as comments.
    assert (tmp_path / "pre.yaml").read_text().startswith("# word vectors")


def test_cbow_when_too_few_skipgram_passes_fit(word_data, tmp_path, monkeypatch):  # noqa: F811
    from headstart.text import recipes
    monkeypatch.setattr(recipes, "WORDS_PER_SECOND", 1)  # a corpus far larger than the budget allows
    config, reasons = recipes.text_recipe(word_data / "data", "10m")
    assert config["objective"]["name"] == "cbow" and reasons[1].startswith("CBOW: fewer than 3 skip-gram passes")


def test_a_budget_or_device_beyond_the_measurements_is_flagged(word_data, tmp_path):  # noqa: F811
    code, out = run_cli("recipe", word_data / "data", "--time-budget", "3h", "--device", "cuda",
                        "--out", tmp_path / "pre.yaml")
    assert code == 0 and "beyond the longest budget measured (20 min)" in out and "measured on CPU only" in out


def test_subword_or_character_data_or_a_bad_duration_is_a_one_line_error(prepared, tmp_path):  # noqa: F811
    code, out = run_cli("recipe", prepared, "--time-budget", "20m", "--out", tmp_path / "pre.yaml")
    assert code == 2 and "--tokenizer word" in out and len(out.strip().splitlines()) == 1
    code, out = run_cli("recipe", prepared, "--time-budget", "twenty", "--out", tmp_path / "pre.yaml")
    assert code == 2 and "--time-budget twenty" in out
    assert not (tmp_path / "pre.yaml").exists()
