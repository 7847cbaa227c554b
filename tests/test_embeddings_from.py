"""model.embeddings_from: a text transformer whose token embeddings start from a skip-gram run's vectors."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from headstart.config import PretrainConfig, validate
from headstart.engine.rng import seed_everything
from headstart.errors import HeadstartError
from headstart.pretrain import build_setup
from headstart.text.pretrained import load_word_vectors
from test_pretrain_cli import run_cli
from test_word_vectors import write_corpus, write_pretrain

PAIRS = [("good", "great"), ("good", "awful"), ("bad", "dreadful"), ("film", "plot"), ("ann", "bob")]


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    """A prepared word-level corpus (root/data) and a 16-d skip-gram run on it (root/run)."""
    root = tmp_path_factory.mktemp("seeded")
    write_corpus(root / "corpus.txt", n=800)
    code, out = run_cli("prepare", "text", root / "corpus.txt", "--out", root / "data", "--tokenizer", "word",
                        "--vocab-size", "200", "--lowercase", "--doc-unit", "line", "--workers", "0")
    assert code == 0, out
    code, out = run_cli("pretrain", write_pretrain(root))
    assert code == 0, out
    return root


def transformer_config(root, source, d_model=16, objective="masked_lm", data="data", run="lm", steps=2) -> dict:
    model = {"preset": "bert-nano", "n_layer": 1, "n_head": 2, "d_model": d_model, "context_length": 32}
    if source is not None:
        model["embeddings_from"] = str(source)
    return {"run_dir": str(root / run), "data": {"path": str(root / data)}, "model": model,
            "objective": {"name": objective},
            "train": {"steps": steps, "batch_size": 2, "lr": 1e-3, "eval_every": 2, "eval_batches": 1, "seed": 5}}


def initial_embeddings(root, source, **kw):
    """The token table a fresh run starts with, built as ``pretrain`` builds it (seed, setup, fresh start)."""
    cfg = PretrainConfig.model_validate(transformer_config(root, source, **kw))
    seed_everything(cfg.train.seed)
    setup = build_setup(cfg)
    line = setup.fresh_start() if setup.fresh_start is not None else None
    model = setup.objective.model
    return model.tok_emb.weight.detach().numpy().copy(), line, model


def cosine(x, y) -> float:
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


@pytest.fixture(scope="module")
def word_table(vectors):
    model, tokenizer, _, _ = load_word_vectors(vectors / "run")
    table = model.words.weight.detach().numpy()
    seen = np.any(table != 0, axis=1)
    return table, seen, tokenizer


@pytest.mark.parametrize("objective", ["masked_lm", "causal_lm", "electra"])
def test_equal_widths_copy_the_centred_vectors_at_the_init_scale(vectors, word_table, objective):
    table, seen, tokenizer = word_table
    seeded, line, model = initial_embeddings(vectors, vectors / "run", objective=objective)
    fresh, no_line, _ = initial_embeddings(vectors, None, objective=objective)
    assert no_line is None
    centred = table - table[seen].mean(0)  # skip-gram vectors share a direction; the copy drops it
    for a, b in PAIRS:
        i, j = tokenizer.token_to_id(a), tokenizer.token_to_id(b)
        assert cosine(seeded[i], seeded[j]) == pytest.approx(cosine(centred[i], centred[j]), abs=1e-5)
    # Words of one family end up nearer each other than the other family's, as in the vectors.
    t = tokenizer.token_to_id
    assert cosine(seeded[t("good")], seeded[t("great")]) > cosine(seeded[t("good")], seeded[t("awful")])
    # Rows the vectors never saw (the special tokens at least) keep the same random init as a run without
    # embeddings_from; copied rows have its scale.
    assert (~seen).sum() >= 4 and np.array_equal(seeded[~seen], fresh[~seen])
    assert not np.allclose(seeded[seen], fresh[seen])
    assert np.sqrt(np.mean(seeded[seen] ** 2)) == pytest.approx(fresh.std(), rel=1e-3)
    assert line.startswith(f"token embeddings from {vectors / 'run' / 'checkpoints' / 'step_'}")
    assert line.endswith(f": {seen.sum()} of {len(table)} rows copied (16 dims)")
    assert model.lm_head.weight is model.tok_emb.weight  # tied: the output embedding starts seeded too


def test_a_narrower_transformer_gets_the_vectors_principal_components(vectors, word_table):
    table, seen, tokenizer = word_table
    seeded, line, _ = initial_embeddings(vectors, vectors / "run", d_model=8)
    assert line.endswith(f"{seen.sum()} of {len(table)} rows copied (16 -> 8 dims by PCA)")
    rows = seeded[seen].astype(np.float64)
    # PCA scores: uncorrelated columns, in decreasing order of variance.
    gram = rows.T @ rows
    off_diagonal = gram - np.diag(np.diag(gram))
    assert np.abs(off_diagonal).max() < 1e-4 * np.diag(gram).max()
    assert np.all(np.diff(np.diag(gram)) <= 1e-9)
    # ... and the 8 of them keep most of how words relate: the copied rows' similarities follow the
    # centred vectors' closely.
    centred = table[seen] - table[seen].mean(0)
    full, kept = centred @ centred.T, rows @ rows.T
    assert np.corrcoef(full.ravel(), kept.ravel())[0, 1] > 0.95
    t = tokenizer.token_to_id
    assert cosine(seeded[t("good")], seeded[t("great")]) > cosine(seeded[t("good")], seeded[t("awful")])


def test_a_wider_transformer_gets_the_vectors_zero_padded(vectors, word_table):
    table, seen, tokenizer = word_table
    seeded, line, _ = initial_embeddings(vectors, vectors / "run", d_model=32)
    assert line.endswith("(16 -> 32 dims, zero-padded)")
    assert np.all(seeded[seen][:, 16:] == 0)
    centred = table - table[seen].mean(0)
    i, j = tokenizer.token_to_id("good"), tokenizer.token_to_id("great")
    assert cosine(seeded[i], seeded[j]) == pytest.approx(cosine(centred[i], centred[j]), abs=1e-5)
    # Same row norms as the random rows: the first steps see embeddings of the usual size.
    fresh = initial_embeddings(vectors, None, d_model=32)[0]
    norms = np.linalg.norm(seeded[seen], axis=1)
    assert np.mean(norms ** 2) == pytest.approx(np.mean(np.linalg.norm(fresh, axis=1) ** 2), rel=0.05)


def test_a_seeded_run_logs_records_its_source_and_resumes_without_it(vectors, tmp_path, caplog):
    source = tmp_path / "vectors"
    shutil.copytree(vectors / "run", source)
    config = tmp_path / "lm.yaml"
    config.write_text(json.dumps(transformer_config(vectors, source, run=str(tmp_path / "lm"))))
    with caplog.at_level(logging.INFO, logger="headstart"):
        code, out = run_cli("pretrain", config)
    assert code == 0, out
    assert "token embeddings from " in caplog.text and "rows copied (16 dims)" in caplog.text
    state = json.loads((tmp_path / "lm" / "checkpoints" / "step_000002" / "state.json").read_text())
    assert state["config"]["embeddings_from"] == str(source)
    assert "embeddings_from" not in state["config"]["model"]  # the architecture alone: checkpoints load as before
    # A resume takes the weights from its checkpoint: the vectors may be gone by then.
    shutil.rmtree(source)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        code, out = run_cli("pretrain", config, "--resume", "--set", "train.steps=4")
    assert code == 0, out
    assert "token embeddings from" not in caplog.text
    assert (tmp_path / "lm" / "checkpoints" / "step_000004").exists()
    # A transformer run is not word vectors.
    other = tmp_path / "other.yaml"
    other.write_text(json.dumps(transformer_config(vectors, tmp_path / "lm", run=str(tmp_path / "other"))))
    code, out = run_cli("pretrain", other)
    assert code == 2 and "\n" not in out.strip()
    assert out.startswith("model.embeddings_from: ") and "is a masked_lm run, not word vectors" in out


def test_a_data_tokenizer_with_other_ids_is_a_one_line_error(vectors, tmp_path):
    tokenizer = json.loads((vectors / "run" / "checkpoints").glob("step_*/tokenizer.json").__next__().read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["good"], vocab["bad"] = vocab["bad"], vocab["good"]
    (tmp_path / "swapped.json").write_text(json.dumps(tokenizer))
    code, out = run_cli("prepare", "text", vectors / "corpus.txt", "--out", tmp_path / "data", "--tokenizer",
                        tmp_path / "swapped.json", "--doc-unit", "line", "--workers", "0")
    assert code == 0, out
    config = tmp_path / "lm.yaml"
    config.write_text(json.dumps(transformer_config(vectors, vectors / "run", data=str(tmp_path / "data"),
                                                    run=str(tmp_path / "lm"))))
    code, out = run_cli("pretrain", config)
    assert code == 2 and "\n" not in out.strip()
    assert f"vocabularies differ: 2 of {len(vocab)} words map to other ids" in out
    assert str(tmp_path / "data" / "tokenizer.json") in out and "prepare the data with --tokenizer" in out
    assert not (tmp_path / "lm" / "checkpoints").exists()


@pytest.mark.parametrize("change, message", [
    ({"model": {"embeddings_from": "DATA"}}, "no checkpoint found"),
    ({"objective": {"name": "skipgram"}, "model": {"embeddings_from": "RUN"}},
     "objective skipgram trains word vectors, from scratch"),
    ({"objective": {"name": "simclr"}, "model": {"embeddings_from": "RUN"}}, "objective simclr trains an image model"),
    ({"init": "RUN", "model": {"embeddings_from": "RUN"}}, "init already holds the token embeddings"),
    ({"model": {"embeddings_from": 3}}, "expected the path of a skipgram or cbow run, got 3"),
])
def test_embeddings_from_where_it_cannot_apply_is_a_one_line_error(vectors, tmp_path, change, message):
    data = transformer_config(vectors, None, run=str(tmp_path / "lm"))
    for key, value in change.items():
        value = json.loads(json.dumps(value).replace('"RUN"', json.dumps(str(vectors / "run")))
                           .replace('"DATA"', json.dumps(str(vectors / "data"))))
        data[key] = value if key != "model" else {**data["model"], **value}
    if "init" in change or data["objective"]["name"] != "masked_lm":
        data["model"] = change["model"]  # the other checks would speak first about the transformer fields
    with pytest.raises(HeadstartError) as error:
        cfg = validate(PretrainConfig, data, "config.yaml")
        seed_everything(0)
        build_setup(cfg).fresh_start()
    text = str(error.value)
    assert "\n" not in text and "model.embeddings_from: " in text and message in text, text


def test_embeddings_from_alone_takes_the_objectives_default_model(vectors):
    cfg = PretrainConfig.model_validate({"run_dir": "r", "data": {"path": "d"}, "objective": {"name": "masked_lm"},
                                         "model": {"embeddings_from": str(vectors / "run")},
                                         "train": {"steps": 1, "batch_size": 1, "lr": 1e-3}})
    assert cfg.architecture == {"preset": "gpt-nano"} and cfg.embeddings_from == vectors / "run"
