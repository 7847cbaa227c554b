"""The head start on IMDb (ULMFiT's benchmark): skip-gram vectors pre-trained on the 50,000 unlabeled
reviews, then 100, 500 and 1,000 labels, against the same classifier from scratch and TF-IDF + LR.

Honest accounting: a budget of N is N labels in all; each arm's validation (the scratch arm's early
stopping, the probe's cross-validated C, the baseline's C) comes out of the same N.  The figures are on
IMDb's test reviews less the 5,000 used to choose the recipes and less the 294 that also occur in the
unlabeled reviews pre-training reads: 19,706.

1. prepare   `headstart prepare text unsup.jsonl --tokenizer word --vocab-size 100000 --lowercase`;
2. pretrain  skip-gram, 300 dimensions, 10 passes (gensim; time printed);
3. compare   pre-trained: logistic regression on the SIF-weighted mean of the frozen vectors, C chosen by
             5-fold cross-validation inside the budget (`strategy: {name: linear_probe, solver: lbfgs}`),
             plus the baseline's n-gram model (`ngrams: true`: its logits added);
             scratch: the same bag of embeddings trained in full, lr 1e-2, up to 30 epochs, early stopping
             on a fifth of the budget, then refitted on all N for the chosen epochs, plus the n-gram model;
             vectors-only: the pre-trained arm without the n-gram model;
             baseline: TF-IDF of word 1-2-grams + logistic regression, C cross-validated inside the budget.
             With ngrams, pre-trained minus baseline is what the pre-trained vectors add to n-grams.

    python bench/imdb_transfer.py [--work /tmp/headstart-imdb] [--budgets 100 500 1000] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_vectors import IMDB, need_shared, pretrain_vectors, print_outcome, quiet_logs, run_compare, split_test  # noqa: E402

COMPARE = {
    "strategy": {"name": "linear_probe", "solver": "lbfgs"},
    "train": {"batch_size": 16, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 10, "patience": 5, "progress": False},
    "recipes": {"scratch": {"strategy": {"name": "full"}, "epochs": 30, "refit": True}},
    "probe_examples": 1000,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    ap.add_argument("--budgets", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    need_shared()
    quiet_logs()
    _, scored = split_test(args.work)
    pre = pretrain_vectors(args.work)
    print(f"\npre-training: skip-gram on IMDb unsup, {pre['seconds'] / 60:.1f} min wall (preparation excluded); "
          f"held-out loss {pre['final_eval']}")
    compare_dir = args.work / "compare-imdb-ngrams"
    results = run_compare(compare_dir, {
        **COMPARE, "pretrained": pre["run"], "budgets": args.budgets, "seeds": args.seeds, "ngrams": True,
        "also": {"vectors-only": pre["run"]}, "recipes": {**COMPARE["recipes"], "vectors-only": {"ngrams": False}},
        "task": {"train": str(IMDB / "train.jsonl"), "test": str(scored)}})
    print_outcome(scored, results, compare_dir, "imdb_transfer.py")


if __name__ == "__main__":
    main()
