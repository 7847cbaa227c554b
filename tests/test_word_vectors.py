"""Word vectors: a word-level corpus, skip-gram / CBOW pre-training (gensim), and a bag-of-embeddings
classifier fine-tuned on them, as `headstart prepare text --tokenizer word`, `pretrain` and `finetune` run."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from headstart.finetune.config import FinetuneConfig
from headstart.finetune.run import finetune
from headstart.text.pretrained import load_word_vectors
from headstart.text.word_bags import WordBagEncoder
from test_pretrain_cli import run_cli

# Two families of words that share contexts within a family: skip-gram should place "good" nearer
# "great" (same contexts) than "awful" (the other family's).
GOOD, BAD = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dreadful"]
FRAMES_GOOD = ["{} joy , warm smiles", "{} and happy , bright", "so {} : i smiled , glad"]
FRAMES_BAD = ["{} gloom , cold frowns", "{} and boring , grey", "so {} : i left , sad"]


NAMES = "ann bob cy dee eve fay gus hal ida jo kim lee max ned oli pam rex sue tom ula".split()
THINGS = "film plot cast score ending scene script pace set tone".split()


def write_corpus(path, n=1500, seed=0):
    """``n`` distinct-enough lines (deduplication would drop repeats): a name, a thing, and a frame of
    one family with one of its words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        family, frames = (GOOD, FRAMES_GOOD) if rng.random() < 0.5 else (BAD, FRAMES_BAD)
        frame = rng.choice(frames).format(rng.choice(family))
        lines.append(f"{rng.choice(NAMES)} thought the {rng.choice(THINGS)} : {frame}".capitalize())
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def word_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("words")
    write_corpus(root / "corpus.txt")
    code, out = run_cli("prepare", "text", root / "corpus.txt", "--out", root / "data", "--tokenizer", "word",
                        "--vocab-size", "200", "--lowercase", "--doc-unit", "line", "--workers", "0")
    assert code == 0, out
    assert "(word tokenizer)" in out
    return root


def write_pretrain(root, name="skipgram", model="{dim: 16}", run="run"):
    config = root / f"{name}-{run}.yaml"
    config.write_text(f"""
run_dir: {root / run}
data: {{path: {root / 'data'}}}
objective: {{name: {name}, window: 3, sample: 0}}
model: {model}
train: {{steps: 4, batch_size: 1, lr: 0.025, min_lr: 0.0001, eval_every: 2, seed: 3}}
""")
    return config


@pytest.fixture(scope="module")
def skipgram_run(word_data):
    code, out = run_cli("pretrain", write_pretrain(word_data))
    assert code == 0, out
    return word_data / "run"


def centred_cosine(vectors, a: str, b: str, tokenizer) -> float:
    """Cosine after removing the mean vector: skip-gram vectors share a common direction."""
    vectors = vectors - vectors.mean(0)
    x, y = vectors[tokenizer.token_to_id(a)], vectors[tokenizer.token_to_id(b)]
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def test_a_word_tokenizer_keeps_words_whole_and_folds_case(word_data):
    from headstart.text.tokenizer import load_tokenizer
    tokenizer = load_tokenizer(word_data / "data" / "tokenizer.json")
    assert tokenizer.encode("So GREAT: I smiled, glad").tokens == ["so", "great", ":", "i", "smiled", ",", "glad"]
    assert tokenizer.encode("so zebra").tokens == ["so", "<unk>"]


def test_skipgram_places_words_of_shared_contexts_together(skipgram_run):
    model, tokenizer, checkpoint, state = load_word_vectors(skipgram_run)
    rows = [json.loads(line) for line in (skipgram_run / "metrics.jsonl").read_text().splitlines()]
    val = {r["step"]: r["loss"] for r in rows if r["split"] == "val"}
    assert sorted(val) == [2, 4] and all(loss > 0 for loss in val.values())
    # The best checkpoint is the pass with the lowest held-out skip-gram loss.
    assert state["trained_by"] == "gensim" and checkpoint.name == f"step_{min(val, key=val.get):06d}"
    vectors = model.words.weight.detach().numpy()
    cosine = lambda a, b: centred_cosine(vectors, a, b, tokenizer)  # noqa: E731
    assert cosine("good", "great") > cosine("good", "awful") + 0.3
    assert cosine("awful", "dreadful") > cosine("awful", "lovely") + 0.3


def test_cbow_with_subwords_gives_an_unseen_word_the_mean_of_its_ngram_vectors(word_data):
    code, out = run_cli("pretrain", write_pretrain(word_data, "cbow", "{dim: 16, subword_buckets: 5000}", "cbow"))
    assert code == 0, out
    model, tokenizer, _, _ = load_word_vectors(word_data / "cbow")
    encoder = WordBagEncoder(tokenizer, 5000, model.cfg.min_n, model.cfg.max_n)
    ids, unseen = encoder.encode(["greatest smiles"])[0]
    assert ids[0] == tokenizer.token_to_id("<unk>") and list(unseen) == [0]  # "greatest" is outside the vocabulary
    from gensim.models.fasttext import ft_ngram_hashes
    assert unseen[0] == tuple(ft_ngram_hashes("greatest", 3, 6, 5000))  # hashed exactly as gensim hashed it
    buckets = torch.tensor([list(unseen[0])])
    states = model.hidden_states(torch.tensor([ids]), None, {"positions": torch.tensor([0]), "buckets": buckets})
    expected = model.subwords.weight[buckets[0]].mean(0)
    assert torch.allclose(states[0, 0], expected) and torch.allclose(states[0, 1], model.words.weight[ids[1]])


def test_word_vectors_fine_tune_as_a_bag_of_embeddings_classifier(tmp_path, skipgram_run):
    rows = [{"text": f.format(w), "label": "pos"} for f in FRAMES_GOOD for w in GOOD] + \
           [{"text": f.format(w), "label": "neg"} for f in FRAMES_BAD for w in BAD]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text(json.dumps({"text": "great smiles", "label": "pos"}) + "\n"
                                         + json.dumps({"text": "awful frowns", "label": "neg"}) + "\n")
    cfg = FinetuneConfig.model_validate({
        "run_dir": str(tmp_path / "ft"), "init": str(skipgram_run), "pooling": "mean_max", "epochs": 30,
        "task": {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl"), "refit": True},
        "train": {"batch_size": 4, "lr": 1e-2, "progress": False}})
    results = finetune(cfg)
    assert results["labels"] == 19 and results["validation_labels"] == 5  # a fifth of the 24 validates
    assert results["refit"]["labels"] == 24  # then every label trains, for the epochs validation chose
    assert results["test"]["accuracy"] == 1.0
    assert (tmp_path / "ft" / "refit" / "checkpoints").is_dir()


def test_pretraining_word_vectors_on_characters_is_a_one_line_error(tmp_path):
    write_corpus(tmp_path / "corpus.txt", n=50)
    code, out = run_cli("prepare", "text", tmp_path / "corpus.txt", "--out", tmp_path / "data", "--tokenizer", "char",
                        "--doc-unit", "line", "--workers", "0")
    assert code == 0, out
    code, out = run_cli("pretrain", write_pretrain(tmp_path))
    assert code == 2 and "needs words: prepare it with --tokenizer word" in out
    code, out = run_cli("pretrain", write_pretrain(tmp_path, model="{dim: 16, vocab_size: 9}", run="other"))
    assert code == 2 and "model.vocab_size: set by the prepared data's word tokenizer" in out


def test_a_time_budget_spent_after_the_first_pass_stops_there(word_data):
    config = write_pretrain(word_data, run="budget")
    code, out = run_cli("pretrain", config, "--set", "train.time_budget=0.001")
    assert code == 0, out
    _, _, checkpoint, state = load_word_vectors(word_data / "budget")
    assert checkpoint.name == "step_000001" and state["step"] == 1  # 4 passes asked, one fitted the budget
