"""``headstart demo``: the main job on the embedded default data, start to finish, offline.

The default is the recipe that transfers best at a laptop's compute (BENCHMARKS.md, "Text objectives at
equal wall time"): skip-gram word vectors on Python's documentation, then a linear probe on them against
the same classifier from scratch and TF-IDF.  ``--gpt`` runs the same flow with a small GPT instead,
which at this compute gives no head start.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Optional

import yaml

from .compare import compare, load_compare_config
from .config import load_pretrain_config
from .pretrain import pretrain
from .text.generate import generate
from .text.neighbours import nearest_words
from .transfer.claims import headline as report_headline, summarize
from .text.prepare import prepare_text
from .text.stdlib_corpus import write_stdlib_corpus, write_stdlib_task

log = logging.getLogger("headstart")
MARKER = ".headstart-demo"

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


def fresh_demo_folder(out) -> Path:
    """Create ``out``, emptying it first only if an earlier demo made it."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            from .errors import HeadstartError
            raise HeadstartError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)  # a previous demo's outputs: start afresh
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `headstart demo`; safe to delete\n")
    return out


def demo_compare(out: Path, settings: dict, pretrained, task: dict, seeds: Optional[list[int]],
                 finetune_steps: Optional[int]) -> tuple[Path, dict]:
    """Write the demo's compare config (``settings`` plus where things are) and run it."""
    compare_file = out / "compare.yaml"
    study_config = {**settings, "run_dir": str(out / "compare"), "pretrained": str(pretrained),
                    "task": {**settings.get("task", {}), **task}, "seeds": seeds or settings["seeds"]}
    if finetune_steps:  # tests shorten the demo
        study_config["train"] = {**settings["train"], "steps": finetune_steps, "eval_every": finetune_steps,
                                 "warmup_steps": 1}
        study_config["recipes"] = {arm: {k: v for k, v in recipe.items() if k != "epochs"}
                                   for arm, recipe in settings.get("recipes", {}).items()}
    compare_file.write_text(yaml.safe_dump(study_config, sort_keys=False))
    return compare_file, compare(load_compare_config(compare_file), command=f"headstart compare {compare_file}")


def demo_pretrain(out: Path, data: Path, settings: dict, steps: Optional[int], *, eval_at_end: bool = True):
    """Write the demo's pre-training config (``settings`` on ``data``; ``steps`` shortens it) and run it.
    Returns ``(config_file, result)``."""
    config = {"run_dir": str(out / "run"), "data": {"path": str(data)}, **settings}
    if steps:
        config["train"] = {**config["train"], "steps": steps,
                           "warmup_steps": min(config["train"].get("warmup_steps", 0), steps),
                           **({"eval_every": steps} if eval_at_end else {})}
    config_file = out / "pretrain.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_file, pretrain(load_pretrain_config(config_file))


def print_demo_summary(title: str, started: float, lines: dict[str, str], result, study: dict,
                       accuracy_note: str = "", headline: bool = False) -> None:
    """The closing lines every demo prints: where things are, validation, test accuracy, the report, and
    (``headline``) the report's verdict: a head start claimed only where its paired interval excludes 0."""
    print("\n=== %s: done in %.1f min ===" % (title, (time.perf_counter() - started) / 60))
    for key, value in lines.items():
        print(f"{key + ':':17} {value}")
    print("validation:       " + ", ".join(f"{k} {v:.3f}" for k, v in result.final_eval.items()))
    print(f"test accuracy:    {accuracy_summary(study['results'])}{accuracy_note}")
    if headline and (verdict := report_headline(summarize(study["results"]))):
        print(f"verdict:          {verdict}")
    print(f"report:           {study['report']['html']}")
    classifier = best_classifier(Path(study["report"]["html"]).parent.parent, study["results"])
    if classifier is not None:
        print(f"use it:           headstart predict {classifier} FILE --out preds.jsonl   "
              f"(or headstart.load_classifier(\"{classifier}\") in Python)")


def best_classifier(compare_dir: Path, results: dict) -> Optional[Path]:
    """The pre-trained arm's classifier at the largest budget, first seed, best validation (of the
    learning rates tried): the one a user would keep."""
    budget, seed = results["budgets"][-1], results["configs"]["compare"]["seeds"][0]
    runs = sorted((compare_dir / "runs").glob(f"pretrained-{budget}-s{seed}*"))
    scored = [(json.loads((r / "results.json").read_text())["val"]["accuracy"], r) for r in runs
              if (r / "results.json").is_file() and (r / "classifier").is_dir()]
    return max(scored)[1] if scored else None


def accuracy_summary(results: dict) -> str:
    """"50 labels: pretrained 92.7%, scratch 88.6%, baseline 84.5%; ..." (mean over seeds)."""
    return "; ".join(f"{budget} labels: " + ", ".join(f"{arm} {100 * sum(v[budget]) / len(v[budget]):.1f}%"
                                                      for arm, v in results["arms"].items())
                     for budget in results["budgets"])


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
