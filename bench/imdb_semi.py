"""Semi-supervised fine-tuning on IMDb: does the unlabeled pool add to what pre-training gives at 100 labels?

The protocol of ``bench/imdb_transfer.py`` (skip-gram vectors pre-trained on the 50,000 unlabeled reviews;
19,706 scored test reviews; a budget of N is N labels in all), with ``semi_supervised`` self-training on
the same unlabeled reviews (at most ``--max-pool`` of them, a seeded subset): a teacher fine-tuned on the
N labels pseudo-labels the pool; the confident ones (>= 0.9), balanced across classes, join the labels
for a student trained the same way.  Four arms and the baseline on the same labels:

* pretrained / pretrained+semi: logistic regression on the frozen SIF-mean vectors, C cross-validated
  (``--method consistency``: pretrained+semi trains that head by gradient instead, 30 epochs, early stopping
  on a fifth of the budget, then refitted on all of it, with UDA's consistency loss on the pool);
* scratch / scratch+semi: the same bag of embeddings trained in full (scratch+semi under self-training: 5
  epochs, its training set being the labels plus thousands of pseudo-labels);
* baseline: TF-IDF + logistic regression on the N labels.

``--ngrams``: every deep arm with ``ngrams: true`` (its logits plus the TF-IDF baseline's model, fitted on
its labels; a self-training student's n-gram side is fitted on the labels and the pseudo-labels).

    python bench/imdb_semi.py [--work /tmp/headstart-imdb] [--budgets 100] [--seeds 0 1 2] [--max-pool 10000]
                              [--ngrams]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_transfer import COMPARE  # noqa: E402
from imdb_vectors import IMDB, need_shared, pretrain_vectors, print_outcome, quiet_logs, run_compare, split_test  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    ap.add_argument("--budgets", type=int, nargs="+", default=[100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--max-pool", type=int, default=10_000)
    ap.add_argument("--method", default="self_training", choices=["self_training", "consistency"])
    ap.add_argument("--ngrams", action="store_true")
    args = ap.parse_args()
    need_shared()
    quiet_logs()
    _, scored = split_test(args.work)
    pre = pretrain_vectors(args.work)
    print(f"\npre-training: skip-gram on IMDb unsup, {pre['seconds'] / 60:.1f} min wall", flush=True)
    if args.method == "self_training":  # the student's training set is the labels plus thousands of pseudo-labels
        recipes = {**COMPARE["recipes"], "scratch+semi": {**COMPARE["recipes"]["scratch"], "epochs": 5}}
    else:  # consistency trains by gradient: the pre-trained arm's head by the engine, on the frozen vectors
        recipes = {**COMPARE["recipes"], "pretrained+semi": {"strategy": {"name": "linear_probe"}, "epochs": 30,
                                                             "refit": True}}
    compare_dir = args.work / f"compare-imdb-{args.method}{'-ngrams' if args.ngrams else ''}"
    results = run_compare(compare_dir, {
        **COMPARE, "recipes": recipes, "ngrams": args.ngrams, "pretrained": pre["run"], "budgets": args.budgets, "seeds": args.seeds,
        "task": {"train": str(IMDB / "train.jsonl"), "test": str(scored)},
        "semi_supervised": {"method": args.method, "unlabeled": str(IMDB / "unsup.jsonl"), "field": "text",
                            "max_pool": args.max_pool}})
    print_outcome(scored, results, compare_dir, "imdb_semi.py")


if __name__ == "__main__":
    main()
