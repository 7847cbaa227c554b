"""The head start on Free Spoken Digits for unseen speakers: BEST-RQ pre-training on the unlabeled clips
of 4 speakers, fine-tuning with 5 labels per digit, testing on 2 speakers never heard before.

1. data      the 3,000 clips split by speaker: 2 test speakers drawn once with seed 0, 4 training
             speakers.  Training speakers' clips without labels -> `headstart prepare audio` for
             pre-training (5% of them give its validation loss); with labels (from the file names)
             -> the task's pool; the test speakers' clips -> the held-out set.  8 kHz, 40 mel bins.
2. pretrain  `headstart pretrain`: BEST-RQ on audio-tiny; wall time measured (preparation excluded).
3. compare   `headstart compare`: 50 labels (5 per digit) from the pool, 3 seeds, pre-trained vs scratch
             vs logistic regression on pooled log-mels; the 10% of the pool held out for early stopping
             is from the training speakers too; both arms search the learning rate; test on the unseen
             speakers; probes; report.  Run twice: fine-tuning with SpecAugment (task.augment) and
             without, because the two arms prefer different recipes; the goal is judged on each
             arm's better one.
4. --all-labels  scratch trained on every labeled clip of the training speakers: how far labels alone
             carry to unseen speakers, the scale against which the +15-point goal can be read.

    python bench/fsdd_transfer.py [--work /tmp/headstart-fsdd] [--steps 1000] [--seeds 0 1 2] [--all-labels]

Steps already done in --work (prepared folders, the pre-training run) are reused.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RECORDINGS = SHARED / "fsdd" / "recordings"
PATTERN = "{label}_{speaker}_{take}"
AUDIO = {"sample_rate": 8000, "n_mels": 40}
PRETRAIN = {
    "model": {"preset": "audio-tiny", "max_frames": 1000},
    "objective": {"name": "best_rq", "mask_prob": 0.05, "mask_span": 10, "codebook_size": 1024},
    "train": {"batch_size": 64, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100, "weight_decay": 0.01,
              "eval_batches": 2, "log_every": 50, "keep_last": 2, "progress": False},
}
FINETUNE = {"steps": 300, "batch_size": 16, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 20, "eval_every": 25,
            "patience": 4, "log_every": 25}
LR_SEARCH = [3e-4, 1e-3, 3e-3]
# --all-labels: scratch trained on every labeled clip of the training speakers, the reference that says
# how far labels alone carry to unseen speakers.  Longer than FINETUNE: 1,800 labels need more steps.
ALL_LABELS = {"steps": 1500, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 50, "eval_every": 100,
              "patience": 5, "log_every": 100, "progress": False}


def speakers_split(files: list[Path]) -> tuple[list[str], list[str]]:
    speakers = sorted({f.stem.split("_")[1] for f in files})
    test = sorted(np.random.default_rng(0).permutation(speakers)[:2].tolist())
    return [s for s in speakers if s not in test], test


def write_splits(work: Path) -> tuple[dict[str, Path], list[str]]:
    from headstart.audio.prepare import prepare_audio

    files = sorted(RECORDINGS.glob("*.wav"))
    train_speakers, test_speakers = speakers_split(files)
    folders = {name: work / name for name in ("pretrain-data", "task-pool", "task-held-out")}
    if all((f / "manifest.json").exists() for f in folders.values()):
        return folders, test_speakers
    for group, speakers in (("train-speakers", train_speakers), ("test-speakers", test_speakers)):
        links = work / "clips" / group
        links.mkdir(parents=True, exist_ok=True)
        for f in files:
            if f.stem.split("_")[1] in speakers and not (links / f.name).exists():
                (links / f.name).symlink_to(f)
    common = dict(**AUDIO, overwrite=True, progress=False)
    prepare_audio([work / "clips" / "train-speakers"], folders["pretrain-data"], val_fraction=0.05, **common)
    prepare_audio([work / "clips" / "train-speakers"], folders["task-pool"], val_fraction=0.0,
                  label_from_name=PATTERN, **common)
    prepare_audio([work / "clips" / "test-speakers"], folders["task-held-out"], val_fraction=0.0,
                  label_from_name=PATTERN, **common)
    return folders, test_speakers


def shorten_finetune(steps: int) -> None:
    """FINETUNE with ``steps`` (a smoke test lowers them), and exit if the recordings are not there."""
    FINETUNE.update(steps=steps, warmup_steps=min(FINETUNE["warmup_steps"], steps),
                    eval_every=min(FINETUNE["eval_every"], steps))
    if not RECORDINGS.is_dir():
        sys.exit(f"needs the Free Spoken Digit recordings at {RECORDINGS}")


def pretrain_once(work: Path, data: Path, steps: int) -> dict:
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    run_dir = work / "pretrain"
    done = run_dir / "bench.json"
    if done.exists():
        summary = json.loads(done.read_text())
        if summary.get("steps", steps) != steps:
            sys.exit(f"{run_dir} was pre-trained for {summary['steps']} steps, not {steps}: use another --work")
        return summary
    cfg = json.loads(json.dumps(PRETRAIN))
    cfg["train"].update(steps=steps, eval_every=max(1, steps // 5), warmup_steps=min(100, steps))
    cfg.update(run_dir=str(run_dir), data={"path": str(data)})
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate(cfg))
    summary = {"steps": steps, "seconds": time.perf_counter() - t0, "final_eval": result.final_eval,
               "checkpoint": str(result.last_checkpoint)}  # the last: nothing is selected
    done.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-fsdd"))
    ap.add_argument("--steps", type=int, default=1000, help="pre-training steps (64 clips each)")
    ap.add_argument("--budget", type=int, default=50, help="labels for fine-tuning (5 per digit)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--finetune-steps", type=int, default=FINETUNE["steps"], help="lower it for a smoke test")
    ap.add_argument("--recipes", nargs="+", choices=("augment", "plain"), default=["augment", "plain"],
                    help="fine-tuning recipes to compare the arms under: with SpecAugment (task.augment) or without")
    ap.add_argument("--all-labels", action="store_true",
                    help="also train scratch on every labeled clip of the training speakers (the labels-only reference)")
    args = ap.parse_args()
    shorten_finetune(args.finetune_steps)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    folders, test_speakers = write_splits(args.work)
    pre = pretrain_once(args.work, folders["pretrain-data"], args.steps)
    summaries = {recipe: compare_once(args, folders, pre, recipe == "augment") for recipe in args.recipes}
    reference = all_labels_reference(args, folders) if args.all_labels else None
    (args.work / "summary.json").write_text(json.dumps({"test_speakers": test_speakers, "pretrain": pre,
                                                        "recipes": summaries, "all_labels": reference}, indent=1))

    print(f"\npre-training: {pre['seconds'] / 60:.1f} min wall (preparation excluded), validation {pre['final_eval']}")
    print(f"{args.budget} labels, test accuracy on unseen speakers {', '.join(test_speakers)}, mean over seeds "
          f"{args.seeds} [95% interval]; lr chosen on validation per seed, and the step it peaked at:")
    names = {"pretrained": "pre-trained (BEST-RQ)", "scratch": "scratch", "baseline": "LR on pooled log-mels"}
    for recipe, summary in summaries.items():
        print(f" fine-tuning {'with SpecAugment' if recipe == 'augment' else 'without augmentation'}:")
        for arm, ci in summary["arms"].items():
            chosen = "  ".join(f"{lr:g}@{step}" for lr, step in summary["chosen"].get(arm, []))
            print(f"  {names[arm]:24} {100 * ci['mean']:5.1f} [{100 * ci['low']:5.1f}, {100 * ci['high']:5.1f}]  {chosen}")
        d = summary["delta"]
        print(f"  pre-trained - scratch, paired by seed: {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, "
              f"{100 * d['high']:+.1f}]")
    best = {arm: max(s["arms"][arm]["mean"] for s in summaries.values()) for arm in ("pretrained", "scratch")}
    print(f" each arm's better recipe: pre-trained {100 * best['pretrained']:.1f}, scratch {100 * best['scratch']:.1f}: "
          f"{100 * (best['pretrained'] - best['scratch']):+.1f} points  (goal: >= +15)")
    if reference is not None:
        ci = reference["accuracy"]
        print(f" scratch with all {reference['labels']:,} labels of the training speakers (plain recipe, "
              f"{ALL_LABELS['steps']} steps): {100 * ci['mean']:.1f} [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]; "
              f"the goal asks pre-trained with {args.budget} labels to reach {100 * best['scratch'] + 15:.1f}")
    first = next(iter(summaries.values()))
    print(f"frozen features, {args.budget} labels:  " + "  ".join(
        f"{model} linear {100 * p['linear']:.1f} kNN {100 * p['knn']:.1f}" for model, p in first["probes"].items())
          + "  LogME " + "  ".join(f"{model} {v:.3f}" for model, v in first["logme"].items()))
    print(f"\nsummary: {args.work / 'summary.json'}; reports: {args.work}/compare*/report/report.html")
    print("reproduce: python bench/fsdd_transfer.py " + " ".join(sys.argv[1:]))


def all_labels_reference(args, folders: dict[str, Path]) -> dict:
    """Scratch fine-tuned on the whole pool (less the 10% early-stopping split), once per seed; test accuracy
    on the unseen speakers with its interval.  Finished seeds are read back from their results.json."""
    from headstart.finetune import FinetuneConfig, finetune
    from headstart.transfer.stats import mean_ci

    results = []
    for seed in args.seeds:
        run_dir = args.work / "all-labels" / f"seed{seed}"
        done = run_dir / "results.json"
        if not done.exists():
            finetune(FinetuneConfig.model_validate({
                "run_dir": str(run_dir), "model": PRETRAIN["model"],
                "task": {"train": str(folders["task-pool"]), "test": str(folders["task-held-out"])},
                "train": {**ALL_LABELS, "seed": seed}}))
        results.append(json.loads(done.read_text()))
    accuracies = [result["test"]["accuracy"] for result in results]
    return {"labels": results[0]["labels"], "per_seed": accuracies, "accuracy": dataclasses.asdict(mean_ci(accuracies))}


def compare_once(args, folders: dict[str, Path], pre: dict, augment: bool) -> dict:
    from headstart.compare import CompareConfig, compare, run_dir_of
    from headstart.transfer.stats import mean_ci

    cfg = CompareConfig.model_validate({
        "run_dir": str(args.work / ("compare" if augment else "compare-no-augment")), "pretrained": pre["checkpoint"],
        "task": {"train": str(folders["task-pool"]), "test": str(folders["task-held-out"]), "augment": augment},
        "budgets": [args.budget], "seeds": args.seeds, "train": FINETUNE, "lr_search": LR_SEARCH,
        "probe_examples": args.budget})
    results = compare(cfg, command=" ".join(sys.argv))["results"]
    chosen = {}  # per arm and seed: the learning rate validation chose, and the step its best checkpoint was at
    for arm in ("pretrained", "scratch"):
        for seed in args.seeds:
            runs = [(json.loads((run_dir_of(cfg.run_dir, arm, args.budget, seed, lr) / "results.json").read_text()), lr)
                    for lr in LR_SEARCH]
            result, lr = max(runs, key=lambda r: r[0]["val"]["accuracy"])  # max keeps the first of ties, as compare
            chosen.setdefault(arm, []).append((lr, result["best_step"]))
    return {"arms": {arm: dataclasses.asdict(mean_ci(results["arms"][arm][args.budget]))
                     for arm in ("pretrained", "scratch", "baseline")},
            "per_seed": {arm: results["arms"][arm][args.budget] for arm in ("pretrained", "scratch", "baseline")},
            "delta": json.loads((Path(cfg.run_dir) / "report" / "report.json").read_text())["summary"]["rows"][0]["delta"],
            "chosen": chosen, "probes": results["probes"], "logme": results["logme"]}


if __name__ == "__main__":
    main()
