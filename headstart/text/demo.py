"""``headstart demo`` (text, the default): skip-gram word vectors on Python's own documentation, then the head
start on "which package is this docstring from?"; ``--gpt``: the same flow with a small GPT.  Offline."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from ..demo import demo_compare, demo_pretrain, fresh_demo_folder, print_demo_summary
from .generate import generate
from .neighbours import nearest_words
from .prepare import prepare_text
from .stdlib_corpus import write_stdlib_corpus, write_stdlib_task

log = logging.getLogger("headstart")

# Skip-gram on ~0.3 M words of documentation: 100 dimensions (the corpus is small), 20 passes.
DEMO_VECTORS = {
    "objective": {"name": "skipgram", "window": 5},
    "model": {"dim": 100},
    "train": {"steps": 20, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001, "eval_every": 5, "seed": 1337},
}
# The pre-trained vectors get the practitioner's linear probe (C cross-validated inside each budget); the
# same classifier from scratch trains its vectors in full, as fastText would; both see the same labels.
DEMO_VECTOR_COMPARE = {
    "budgets": [50, 200, "all"], "seeds": [0, 1, 2], "task": {},
    "strategy": {"name": "linear_probe", "solver": "lbfgs"},
    "train": {"batch_size": 16, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 10, "patience": 5},
    "recipes": {"scratch": {"strategy": {"name": "full"}, "epochs": 30, "refit": True}},
}
NEIGHBOUR_WORDS = ["socket", "thread", "parse"]

# A GPT small enough to learn visibly in ~3 minutes on 2 CPU cores (``--gpt``).
DEMO_CONFIG = {
    "model": {"preset": "gpt-nano", "context_length": 128, "d_model": 192, "n_head": 6,
              "positions": "rope", "qk_norm": True},
    "objective": {"name": "causal_lm"},
    "train": {"steps": 600, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 50,
              "betas": [0.9, 0.99], "weight_decay": 0.1, "eval_every": 150, "eval_batches": 20,
              "log_every": 25, "seed": 1337},
}
# Pre-trained vs scratch on "which package is this docstring from?": small budgets, three seeds.
DEMO_COMPARE = {"budgets": [50, "all"], "seeds": [0, 1, 2],
                "task": {"max_length": 64},
                "train": {"steps": 50, "batch_size": 16, "lr": 5e-4, "warmup_steps": 5, "eval_every": 25,
                          "log_every": 25}}



def _builtin_text(out: Path) -> tuple[Path, Path, Path]:
    """Steps 1: the corpus (Python's documentation, test docstrings left out) and the labeled task."""
    log.info("1/5  writing the built-in data: Python's own documentation, and a labeled task from it")
    train_file, test_file, test_texts = write_stdlib_task(out / "task")
    corpus = out / "corpus" / "python-docs.jsonl"
    docs, size = write_stdlib_corpus(corpus, exclude=test_texts)  # pre-training never sees test text
    log.info("     %d documents, %.1f MB -> %s; task: %s, %s", docs, size / 1e6, corpus, train_file, test_file)
    return corpus, train_file, test_file


def run_demo(out: Path = Path("headstart-demo"), steps: Optional[int] = None,
             finetune_steps: Optional[int] = None, seeds: Optional[list[int]] = None) -> dict:
    """Word vectors (the default demo).  ``steps``, ``finetune_steps`` and ``seeds`` shorten it (tests)."""
    out = fresh_demo_folder(out)
    t0 = time.perf_counter()
    corpus, train_file, test_file = _builtin_text(out)

    log.info("2/5  preparing: clean, deduplicate, count words (a word tokenizer), write token shards")
    data = out / "data"
    prepare_text([corpus], data, tokenizer="word", vocab_size=20000, lowercase=True, fmt="jsonl",
                 val_fraction=0.05, progress=False)

    log.info("3/5  pre-training skip-gram word vectors")
    config_file, result = demo_pretrain(out, data, DEMO_VECTORS, steps)

    log.info("4/5  nearest words in the vectors")
    neighbours = nearest_words(result.run_dir, NEIGHBOUR_WORDS)

    log.info("5/5  proving the head start: pre-trained vs scratch vs TF-IDF on the labeled task")
    task = {"train": str(train_file), "test": str(test_file)}
    compare_file, study = demo_compare(out, DEMO_VECTOR_COMPARE, result.run_dir, task, seeds, finetune_steps)
    shown = "; ".join(f"{word}: {', '.join(n for n, _ in near[:4])}" for word, near in neighbours.items() if near)
    print_demo_summary("headstart demo", t0, {
        "corpus": str(corpus), "prepared data": f"{data}  (manifest.json, token shards, tokenizer.json)",
        "configs": f"{config_file}, {compare_file}", "run": str(result.run_dir),
        "best checkpoint": str(result.best_checkpoint), "metrics": f"{result.run_dir / 'metrics.jsonl'}",
        "nearest words": shown}, result, study, headline=True)
    return {"corpus": corpus, "data": data, "config": config_file, "result": result, "neighbours": neighbours,
            "report": study["report"], "study": study["results"]}


def run_gpt_demo(out: Path = Path("headstart-demo-gpt"), steps: Optional[int] = None,
                 finetune_steps: Optional[int] = None, seeds: Optional[list[int]] = None) -> dict:
    """``steps``, ``finetune_steps`` and ``seeds`` shorten the demo (tests use them)."""
    out = fresh_demo_folder(out)
    t0 = time.perf_counter()
    corpus, train_file, test_file = _builtin_text(out)

    log.info("2/5  preparing: clean, deduplicate, train a BPE tokenizer, write token shards")
    data = out / "data"
    prepare_text([corpus], data, tokenizer="bpe", vocab_size=4096, fmt="jsonl", val_fraction=0.05,
                 progress=False)

    log.info("3/5  pre-training a small GPT (causal LM)")
    config_file, result = demo_pretrain(out, data, DEMO_CONFIG, steps, eval_at_end=False)

    log.info("4/5  sampling from the best checkpoint")
    sample = generate(result.run_dir, "The", max_new_tokens=80, temperature=0.8, seed=0)[0]

    log.info("5/5  proving the head start: pre-trained vs scratch vs TF-IDF on the labeled task")
    task = {"train": str(train_file), "test": str(test_file)}
    compare_file, study = demo_compare(out, DEMO_COMPARE, result.run_dir, task, seeds, finetune_steps)

    print_demo_summary("headstart demo --gpt", t0, {
        "corpus": str(corpus), "prepared data": f"{data}  (manifest.json, token shards, tokenizer.json)",
        "configs": f"{config_file}, {compare_file}", "run": str(result.run_dir),
        "best checkpoint": str(result.best_checkpoint),
        "metrics": f"{result.run_dir / 'metrics.jsonl'}  (tensorboard --logdir {result.run_dir})",
        "sample": repr(sample)}, result, study, headline=True)
    return {"corpus": corpus, "data": data, "config": config_file, "result": result, "sample": sample,
            "report": study["report"], "study": study["results"]}


def run_text_demo(out: Optional[Path] = None, steps: Optional[int] = None, gpt: bool = False) -> dict:
    """The text modality's registered demo (``headstart demo``, ``headstart demo --gpt``)."""
    if gpt:
        return run_gpt_demo(out or Path("headstart-demo-gpt"), steps=steps)
    return run_demo(out or Path("headstart-demo"), steps=steps)
