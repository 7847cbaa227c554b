"""The head start on SST-2 and TREC: pre-train a small BERT on Gutenberg for under 20 minutes on 2 CPU
cores, then fine-tune it with 500 labels, against the same model from scratch and TF-IDF.

Steps (each is skipped when its output already exists in --work, so an interrupted run resumes):
1. corpus   the 17 Gutenberg books plus the *unlabeled* training sentences of SST-2 and TREC (labels
            stripped; the issue allows the task's own unlabeled training text, never dev or test text);
2. prepare  `headstart prepare text`: one sentence a document, lowercased byte-level BPE, 8192 ids;
3. pretrain `headstart pretrain`: masked LM, bert-micro with rotary positions and QK-norm,
            checkpoints at 1/4, 1/2, 3/4 and all of the steps;
4. compare  `headstart compare` per task: 500 labels, 3 seeds, pre-trained vs scratch vs TF-IDF,
            probes, LogME of every checkpoint, report;
            Both arms get the same learning-rate search (3e-4, 1e-3; the better on validation counts);
5. rank     the 1/4, 1/2 and 3/4 checkpoints are fine-tuned too (lr 1e-3, same seeds), and Kendall's
            tau between the LogME scores of all five inits (random, 1/4, 1/2, 3/4, final; computed
            before fine-tuning) and their fine-tuned accuracy at lr 1e-3 is reported.

    python bench/text_transfer.py [--work /tmp/headstart-text-transfer] [--steps 1500] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TASKS = {  # name: (train, validation for early stopping, test, encoding)
    "sst2": ("sst2/stsa.binary.train", "sst2/stsa.binary.dev", "sst2/stsa.binary.test", "utf-8"),
    "trec": ("trec/TREC.train.all", None, "trec/TREC.test.all", "latin-1"),  # val: 10% of train
}
PRETRAIN = {
    "model": {"preset": "bert-micro", "positions": "rope", "qk_norm": True},  # 4 layers, 256 dims, context 128
    "objective": {"name": "masked_lm", "mask_prob": 0.2},
    "train": {"batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100, "betas": [0.9, 0.98],
              "weight_decay": 0.01, "eval_batches": 10, "log_every": 50, "keep_last": 5, "progress": False},
}
FINETUNE = {"steps": 300, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 30, "eval_every": 25,
            "patience": 4, "log_every": 25}
LR_SEARCH = [3e-4, 1e-3]  # compare: each arm, budget and seed keeps the better rate on validation


def write_unlabeled_corpus(out: Path) -> None:
    """The tasks' training sentences without their labels, one a line."""
    out.mkdir(parents=True, exist_ok=True)
    for name, (train, _, _, encoding) in TASKS.items():
        lines = (SHARED / train).read_text(encoding=encoding).splitlines()
        texts = [line.split(" ", 1)[1].strip() for line in lines if " " in line.strip()]
        (out / f"{name}-train-unlabeled.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")


def pretrain_once(work: Path, steps: int) -> dict:
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    run_dir = work / "pretrain"
    done = run_dir / "bench.json"
    if done.exists():
        return json.loads(done.read_text())
    cfg = json.loads(json.dumps(PRETRAIN))
    cfg["train"].update(steps=steps, eval_every=steps // 4, warmup_steps=min(100, steps))
    cfg.update(run_dir=str(run_dir), data={"path": str(work / "data")})
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate(cfg))
    summary = {"seconds": time.perf_counter() - t0, "final_eval": result.final_eval,
               "checkpoints": [str(run_dir / "checkpoints" / f"step_{s:06d}") for s in
                               (steps // 4, steps // 2, 3 * steps // 4, steps)]}
    done.write_text(json.dumps(summary, indent=1))
    return summary


def task_config(name: str) -> dict:
    train, val, test, encoding = TASKS[name]
    return {"train": str(SHARED / train), "val": str(SHARED / val) if val else None, "test": str(SHARED / test),
            "format": "label-first", "encoding": encoding, "max_length": 64}


def compare_task(work: Path, name: str, checkpoints: list[str], budget: int, seeds: list[int]) -> dict:
    from headstart.compare import CompareConfig, compare

    cfg = CompareConfig.model_validate({
        "run_dir": str(work / f"compare-{name}"), "pretrained": checkpoints[-1], "task": task_config(name),
        "budgets": [budget], "seeds": seeds, "train": FINETUNE, "lr_search": LR_SEARCH, "rank": checkpoints[:-1],
        "probe_examples": budget})
    return compare(cfg, command=" ".join(sys.argv))["results"]


def finetune_checkpoint(work: Path, name: str, checkpoint: str, budget: int, seed: int) -> float:
    """Test accuracy of ``checkpoint`` fine-tuned at FINETUNE's fixed learning rate ("pretrained" and
    "scratch" stand for the compare's runs at that rate)."""
    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.run import finetune

    if checkpoint in ("pretrained", "scratch"):
        from headstart.compare import run_dir_of

        run = run_dir_of(work / f"compare-{name}", checkpoint, budget, seed, FINETUNE["lr"])
        return json.loads((run / "results.json").read_text())["test"]["accuracy"]
    run_dir = work / f"rank-{name}" / f"{Path(checkpoint).name}-s{seed}"
    done = run_dir / "results.json"
    if done.exists():
        return json.loads(done.read_text())["test"]["accuracy"]
    cfg = FinetuneConfig.model_validate({"run_dir": str(run_dir), "init": checkpoint,
                                         "task": {**task_config(name), "budget": budget},
                                         "train": {**FINETUNE, "seed": seed, "progress": False}})
    return finetune(cfg)["test"]["accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-text-transfer"))
    ap.add_argument("--steps", type=int, default=1500, help="pre-training steps (32 x 128 tokens each)")
    ap.add_argument("--budget", type=int, default=500, help="labels for fine-tuning")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--finetune-steps", type=int, default=FINETUNE["steps"], help="lower it for a smoke test")
    args = ap.parse_args()
    FINETUNE.update(steps=args.finetune_steps, warmup_steps=min(FINETUNE["warmup_steps"], args.finetune_steps),
                    eval_every=min(FINETUNE["eval_every"], args.finetune_steps))
    if not SHARED.is_dir():
        sys.exit(f"needs the shared data sets at {SHARED}")
    import dataclasses
    import logging

    from headstart.text.prepare import prepare_text
    from headstart.transfer.stats import kendall_tau, mean_ci

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    if not (args.work / "data" / "manifest.json").exists():
        write_unlabeled_corpus(args.work / "corpus")
        prepare_text([SHARED / "gutenberg", args.work / "corpus"], args.work / "data", tokenizer="bpe",
                     vocab_size=8192, lowercase=True, doc_unit="line", val_fraction=0.02, overwrite=True,
                     progress=False)
    pre = pretrain_once(args.work, args.steps)
    print(f"\npre-training: {pre['seconds'] / 60:.1f} min wall (preparation excluded), "
          f"validation {pre['final_eval']}")

    summary = {"pretrain": pre, "tasks": {}}
    for name in TASKS:
        results = compare_task(args.work, name, pre["checkpoints"], args.budget, args.seeds)
        arms = {arm: mean_ci(results["arms"][arm][args.budget]) for arm in ("pretrained", "scratch", "baseline")}
        # The ranking, all at FINETUNE's fixed learning rate: random init (step 0), the 1/4, 1/2 and 3/4
        # checkpoints, the final one.
        ranked = ["scratch", *pre["checkpoints"][:-1], "pretrained"]
        accuracy = [float(np.mean([finetune_checkpoint(args.work, name, c, args.budget, seed) for seed in args.seeds]))
                    for c in ranked]
        logme = [results["logme"]["random_init"],
                 *[next(v for k, v in results["logme"].items() if k.endswith(Path(c).name)) for c in ranked[1:-1]],
                 results["logme"]["pretrained"]]
        summary["tasks"][name] = {
            "arms": {arm: dataclasses.asdict(ci) for arm, ci in arms.items()},
            "probes": results["probes"], "ranking": {"logme": logme, "accuracy": accuracy,
                                                     "kendall_tau": kendall_tau(logme, accuracy)}}
    (args.work / "summary.json").write_text(json.dumps(summary, indent=1))

    print(f"\n{args.budget} labels, mean test accuracy over seeds {args.seeds} (95% interval):")
    print(f"{'task':6} {'pre-trained':>22} {'scratch':>22} {'TF-IDF + LR':>22}")
    for name, task in summary["tasks"].items():
        print(f"{name:6} " + " ".join(f"{100 * a['mean']:6.1f} [{100 * a['low']:5.1f}, {100 * a['high']:5.1f}]"
                                      .rjust(22) for a in task["arms"].values()))
    print("\nLogME (before fine-tuning) vs fine-tuned accuracy, checkpoints at 0, 1/4, 1/2, 3/4, 1 of the steps:")
    for name, task in summary["tasks"].items():
        r = task["ranking"]
        print(f"{name:6} LogME {np.round(r['logme'], 3).tolist()}  accuracy {np.round(r['accuracy'], 3).tolist()}"
              f"  Kendall tau {r['kendall_tau']:.2f}")
    print(f"\nsummary: {args.work / 'summary.json'}; reports: {args.work}/compare-*/report/")
    print("reproduce: python bench/text_transfer.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
