"""Shared by the IMDb-pre-trained text benches: split IMDb's test set, prepare the 50,000 unlabeled
reviews with a word tokenizer, pre-train skip-gram vectors on them.  Each step is skipped when its output
already exists under ``work``, so a bench that stops resumes, and several benches share one pre-training.

Not a bench itself: ``imdb_transfer.py`` and ``text_transfer.py`` import it.
"""
from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMDB = SHARED / "imdb"
TUNING_REVIEWS = 5000  # test reviews the recipes were chosen on (random.Random(0)); never scored here

# Skip-gram, 300 dimensions, 10 passes: on IMDb's reviews 20 passes scored the same as 10, CBOW the same
# as skip-gram, fastText subwords 1 point worse (measured on the tuning reviews, BENCHMARKS.md).
VECTORS = {
    "objective": {"name": "skipgram", "window": 5, "negative": 5},
    "model": {"dim": 300},
    "train": {"steps": 10, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001, "eval_every": 5, "keep_last": 1,
              "seed": 1337},
}


def quiet_logs() -> None:
    """headstart's progress lines, without gensim's per-second ones."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("gensim", "smart_open"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def need_shared() -> None:
    if not (IMDB / "unsup.jsonl").exists():
        sys.exit(f"needs ../shared/data/imdb (the Large Movie Review Dataset); not found at {IMDB}")


def split_test(work: Path) -> tuple[Path, Path]:
    """(tuning reviews, scored reviews): IMDb's 25,000 test reviews, the 5,000 the recipes were tuned on
    (``random.Random(0)``'s shuffle) set apart so that no figure this bench prints comes from them.  Test
    reviews that also occur in the unlabeled reviews (IMDb's ``unsup`` repeats some; headstart's
    contamination check finds them) are dropped from the scored ones, so pre-training never saw a review
    it is scored on."""
    from headstart.audit.contamination import contamination

    tuning, scored = work / "imdb-test-tuning.jsonl", work / "imdb-test-scored.jsonl"
    if not scored.exists():
        work.mkdir(parents=True, exist_ok=True)
        # split("\n"), not splitlines(): reviews hold \x1c-\x1e and \u2028, which splitlines() breaks on
        lines = [line for line in (IMDB / "test.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
        order = list(range(len(lines)))
        random.Random(0).shuffle(order)
        kept = sorted(order[TUNING_REVIEWS:])
        seen = contamination(IMDB / "unsup.jsonl", [json.loads(lines[i])["text"] for i in kept], fmt="jsonl")
        dropped = {kept[hit["index"]] for hit in seen}
        print(f"scored test reviews: {len(kept) - len(dropped):,} ({len(dropped)} dropped: they occur in unsup)")
        tuning.write_text("".join(lines[i] + "\n" for i in sorted(order[:TUNING_REVIEWS])), encoding="utf-8")
        scored.write_text("".join(lines[i] + "\n" for i in kept if i not in dropped), encoding="utf-8")
    return tuning, scored


def prepare_unsup(work: Path, tokenizer: str = "word", vocab_size: int = 100_000) -> Path:
    """``headstart prepare text unsup.jsonl --tokenizer word --vocab-size 100000 --lowercase`` (or another
    tokenizer), into ``work/imdb-words`` (``imdb-bpe``, ...); skipped when already there."""
    from headstart.text.prepare import prepare_text

    data = work / ("imdb-words" if tokenizer == "word" else f"imdb-{tokenizer}")
    if not (data / "manifest.json").exists():
        prepare_text([IMDB / "unsup.jsonl"], data, tokenizer=tokenizer, vocab_size=vocab_size, lowercase=True,
                     fmt="jsonl", val_fraction=0.02, progress=False)
    return data


def pretrain_vectors(work: Path) -> dict:
    """Skip-gram on the prepared reviews; ``{"run": ..., "seconds": ..., "final_eval": ...}``."""
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    data = prepare_unsup(work)
    run_dir = work / "imdb-skipgram"
    done = run_dir / "bench.json"
    if done.exists():
        return json.loads(done.read_text())
    config = {**json.loads(json.dumps(VECTORS)), "run_dir": str(run_dir), "data": {"path": str(data)}}
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate(config))
    summary = {"run": str(run_dir), "seconds": time.perf_counter() - t0, "final_eval": result.final_eval,
               "checkpoint": str(result.last_checkpoint)}
    done.write_text(json.dumps(summary, indent=1))
    return summary


def run_compare(run_dir: Path, settings: dict) -> dict:
    """``headstart compare`` with ``settings`` (resumes: reads the results when the report exists)."""
    from headstart.compare import CompareConfig, compare

    report = run_dir / "report" / "report.json"
    if report.exists():
        return json.loads(report.read_text())
    compare(CompareConfig.model_validate({"run_dir": str(run_dir), **settings}))
    return json.loads(report.read_text())


def print_outcome(scored: Path, results: dict, compare_dir: Path, script: str) -> None:
    """The study on the scored reviews, where its report is, and the command that reproduces it."""
    reviews = sum(1 for line in scored.open(encoding="utf-8") if line.strip())
    print_study(f"IMDb, {reviews:,} scored test reviews", results)
    print(f"\nreport: {compare_dir / 'report' / 'report.html'}")
    print(f"reproduce: python bench/{script} " + " ".join(sys.argv[1:]))


def print_study(title: str, results: dict) -> None:
    """Mean test accuracy per arm and budget, then pre-trained minus scratch and minus the baseline with
    their seed-paired 95% intervals (a difference is claimed only when its interval excludes 0)."""
    from headstart.transfer.claims import paired_delta
    from headstart.transfer.stats import mean_ci

    arms = results["arms"]
    print(f"\n{title}: mean test accuracy (%) over {len(next(iter(arms['pretrained'].values())))} seeds, "
          "then pre-trained minus each other arm with its paired 95% interval")
    print(f"{'labels':>7} " + " ".join(f"{arm:>12}" for arm in arms) + "   " +
          "   ".join(f"{'pre - ' + arm:>26}" for arm in arms if arm != "pretrained"))
    for budget in arms["pretrained"]:
        means = " ".join(f"{100 * mean_ci(arms[arm][budget]).mean:12.1f}" for arm in arms)
        deltas = []
        for arm in (a for a in arms if a != "pretrained"):
            d = paired_delta(arms["pretrained"][budget], arms[arm][budget])
            deltas.append(f"{100 * d['mean']:+6.1f} [{100 * d['low']:+5.1f}, {100 * d['high']:+5.1f}]"
                          f"{'' if d['significant'] else ' n.s.'}".rjust(26))
        print(f"{budget:>7} {means}   " + "   ".join(deltas))


def probe(run_dir: Path, checkpoint: str, task: dict, budget: int, seed: int) -> float:
    """Test accuracy of logistic regression on the frozen, mean-pooled features of ``checkpoint``, C
    cross-validated inside ``budget`` labels (``linear_probe`` with ``solver: lbfgs``); resumes."""
    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.run import finetune

    if (run_dir / "results.json").exists():
        return json.loads((run_dir / "results.json").read_text())["test"]["accuracy"]
    config = {"run_dir": str(run_dir), "init": checkpoint, "task": {**task, "budget": budget},
              "strategy": {"name": "linear_probe", "solver": "lbfgs"}, "pooling": "mean",
              "train": {"steps": 1, "warmup_steps": 0, "batch_size": 32, "seed": seed, "progress": False}}
    return finetune(FinetuneConfig.model_validate(config))["test"]["accuracy"]


def tfidf(task: dict, budget: int, seed: int) -> float:
    """TF-IDF + LR on exactly the labels ``probe`` sees for the same budget and seed."""
    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.task import budget_labels, split_task, task_modality

    cfg = FinetuneConfig.model_validate({"run_dir": "unused", "task": {**task, "budget": budget},
                                         "model": {}, "train": {"steps": 1, "warmup_steps": 0, "seed": seed}})
    modality = task_modality(cfg.task)
    pool, val, test = split_task(cfg, modality)
    return modality.baseline(budget_labels(pool, val), test, seed)
