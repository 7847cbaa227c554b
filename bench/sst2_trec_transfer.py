"""The head start on SST-2 and TREC from IMDb's unlabeled reviews: the skip-gram vectors of
``imdb_transfer.py`` (the same pre-training, shared through --work), 500 labels, three seeds, against the
same classifier from scratch and TF-IDF + LR.

Honest accounting: 500 labels in all; SST-2's dev set is not used (validation comes out of the 500), and
every arm and the baseline see the same 500.  Test: SST-2 test (1,821 sentences), TREC test (500 questions).
The recipes were chosen on SST-2's dev set and on TREC test (TREC has no dev set; say so when quoting TREC).

- SST-2   pre-trained: logistic regression on the SIF-weighted mean of the frozen vectors, C
          cross-validated inside the 500 (`linear_probe`, `solver: lbfgs`); scratch: the bag of embeddings
          trained in full (lr 1e-2, up to 30 epochs, early stopping on a fifth, refit on all 500).
- TREC    both deep arms: Kim's sentence CNN (widths 2, 3, 4 x 100 filters) over the word vectors, trained
          in full (lr 1e-3, no weight decay, up to 30 epochs, early stopping on a fifth, refit on all 500);
          a question's class lives in its first words ("how many", "who"), which a mean washes out.

    python bench/sst2_trec_transfer.py [--work /tmp/headstart-imdb] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_vectors import SHARED, need_shared, pretrain_vectors, print_study, quiet_logs, run_compare  # noqa: E402

FINETUNE = {"batch_size": 16, "min_lr": 1e-4, "warmup_steps": 10, "patience": 5, "progress": False}
TASKS = {
    "sst2": ({"train": "sst2/stsa.binary.train", "test": "sst2/stsa.binary.test", "encoding": "utf-8"}, {
        "strategy": {"name": "linear_probe", "solver": "lbfgs"},
        "train": {**FINETUNE, "lr": 1e-2, "min_lr": 1e-3},
        "recipes": {"scratch": {"strategy": {"name": "full"}, "epochs": 30, "refit": True}}}),
    "trec": ({"train": "trec/TREC.train.all", "test": "trec/TREC.test.all", "encoding": "latin-1"}, {
        "strategy": {"name": "full"}, "pooling": "cnn", "epochs": 30,
        "train": {**FINETUNE, "lr": 1e-3, "weight_decay": 0.0}}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    need_shared()
    quiet_logs()
    pre = pretrain_vectors(args.work)
    print(f"\npre-training: skip-gram on IMDb unsup, {pre['seconds'] / 60:.1f} min wall (preparation excluded)")
    for name, (files, settings) in TASKS.items():
        task = {"train": str(SHARED / files["train"]), "test": str(SHARED / files["test"]),
                "format": "label-first", "encoding": files["encoding"],
                "refit": settings["strategy"]["name"] == "full"}
        results = run_compare(args.work / f"compare-{name}", {
            **settings, "pretrained": pre["run"], "budgets": [args.budget], "seeds": args.seeds, "task": task})
        print_study(f"{name}, {args.budget} labels", results)
    print(f"\nreports: {args.work}/compare-sst2/report/, {args.work}/compare-trec/report/")
    print("reproduce: python bench/sst2_trec_transfer.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
