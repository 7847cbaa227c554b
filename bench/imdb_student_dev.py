"""Development loop for self-training's student on IMDb, scored on the 5,000 TUNING reviews only (never the
scored ones): one seed, one fine-tuning run with a linear-probe teacher and a student of its own recipe.

    python bench/imdb_student_dev.py SEED EPOCHS LR [--dropout D] [--threshold T] [--max-pool N] [--patience P]

Needs ``bench/imdb_transfer.py``'s work folder (the skip-gram run and the tuning reviews) in --work.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_transfer import COMPARE  # noqa: E402
from imdb_vectors import IMDB, need_shared  # noqa: E402


def main() -> None:
    from headstart.finetune import finetune
    from headstart.finetune.config import FinetuneConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("epochs", type=float, help="the student's passes over labels + pseudo-labels")
    ap.add_argument("lr", type=float, help="the student's learning rate (it trains in full)")
    ap.add_argument("--dropout", type=float, default=None)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--max-pool", type=int, default=10_000)
    ap.add_argument("--patience", type=int, default=COMPARE["train"]["patience"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    args = ap.parse_args()
    need_shared()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tag = f"s{args.seed}-e{args.epochs:g}-lr{args.lr:g}-d{args.dropout}-t{args.threshold:g}-p{args.max_pool}"
    student = {"strategy": {"name": "full"}, "epochs": args.epochs, "lr": args.lr,
               **({"dropout": args.dropout} if args.dropout is not None else {})}
    cfg = FinetuneConfig.model_validate({
        "run_dir": str(args.work / "student-dev" / tag), "init": str(args.work / "imdb-skipgram"),
        "task": {"train": str(IMDB / "train.jsonl"), "test": str(args.work / "imdb-test-tuning.jsonl"), "budget": 100},
        "strategy": COMPARE["strategy"],
        "train": {**COMPARE["train"], "patience": args.patience, "seed": args.seed},
        "semi_supervised": {"method": "self_training", "unlabeled": str(IMDB / "unsup.jsonl"), "field": "text",
                            "max_pool": args.max_pool, "threshold": args.threshold, "student": student}})
    t0 = time.perf_counter()
    result = finetune(cfg)
    record = result["self_training"]
    print(f"{tag}: teacher {100 * record['teacher_test']['accuracy']:.2f}%, student {100 * result['test']['accuracy']:.2f}% "
          f"on the tuning reviews; {record['pseudo_labels']} pseudo-labels; {(time.perf_counter() - t0) / 60:.1f} min")
    print("reproduce: python bench/imdb_student_dev.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
