"""Free Spoken Digits, unseen speakers, restated for semi-supervised learning (issue #22): recordings of the
new speakers, unlabeled, are what a deployment has; pre-training and semi-supervision may use them.

1. data      the 3,000 clips; the 2 unseen speakers of ``bench/fsdd_transfer.py`` (drawn once with seed 0).
             Each unseen speaker's takes 0-24 are unlabeled data (their labels are only ever used to
             report the pseudo-labels' accuracy); takes 25-49 are the test set (500 clips).  The 4
             training speakers' clips carry the labels: 50 (5 a digit) per seed, validation included.
2. pretrain  BEST-RQ on audio-tiny (``fsdd_transfer.py``'s recipe) over the training speakers' clips and
             the unseen speakers' takes 0-24, all without labels.
3. compare   pre-trained, scratch, and both again with ``semi_supervised`` on the unseen speakers' takes
             0-24 (consistency training: the clean clip teaches a pitch-, speed- and SpecAugment-noised
             copy; or self-training: a teacher's pseudo-labels, by default propagated over the pool's
             k-NN graph in the pre-trained encoder's features and balanced across digits, teach a
             student), logistic regression on pooled log-mels; 3 seeds; every arm searches the learning
             rate on validation drawn from the 50 labels.

Goal: pre-trained (+ semi-supervised where it helps) >= scratch + 15 points, paired interval excluding 0.

    python bench/fsdd_semi.py [--work /tmp/headstart-fsdd-semi] [--semi consistency|self_training]
                              [--pseudo-labels graph|teacher] [--rounds 1] [--unseen SPEAKER SPEAKER]
                              [--seeds 0 1 2] [--finetune-steps 300]

Steps already done in --work (prepared folders, the pre-training run, finished fine-tuning runs) are reused.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fsdd_transfer import (AUDIO, FINETUNE, LR_SEARCH, PATTERN, RECORDINGS, pretrain_once,  # noqa: E402
                           shorten_finetune, speakers_split)

UNLABELED_TAKES = range(0, 25)  # each unseen speaker's takes 0-24: unlabeled; 25-49: the test set
# Consistency training sees 3 unlabeled clips per labeled one; its loss needs more steps than labels alone.
SEMI_TRAIN = {"steps": 600, "patience": 8}


def write_splits(work: Path, unseen: list[str] | None = None) -> tuple[dict[str, Path], list[str]]:
    from headstart.audio.prepare import prepare_audio

    files = sorted(RECORDINGS.glob("*.wav"))
    train_speakers, test_speakers = speakers_split(files)
    if unseen:  # a replication on other speakers
        speakers = sorted({f.stem.split("_")[1] for f in files})
        unknown = [s for s in unseen if s not in speakers]
        if unknown:
            raise SystemExit(f"--unseen: no speaker {unknown[0]!r} in {RECORDINGS} ({', '.join(speakers)})")
        train_speakers, test_speakers = [s for s in speakers if s not in unseen], sorted(unseen)
    folders = {name: work / name for name in ("pretrain-data", "task-pool", "unlabeled", "task-held-out")}
    if all((f / "manifest.json").exists() for f in folders.values()):
        return folders, test_speakers

    def group(f: Path) -> str:
        _, speaker, take = f.stem.split("_")
        if speaker in train_speakers:
            return "train-speakers"
        return "unseen-unlabeled" if int(take) in UNLABELED_TAKES else "unseen-test"

    for f in files:
        links = work / "clips" / group(f)
        links.mkdir(parents=True, exist_ok=True)
        if not (links / f.name).exists():
            (links / f.name).symlink_to(f)
    clips = work / "clips"
    common = dict(**AUDIO, overwrite=True, progress=False)
    prepare_audio([clips / "train-speakers", clips / "unseen-unlabeled"], folders["pretrain-data"], val_fraction=0.05,
                  **common)
    prepare_audio([clips / "train-speakers"], folders["task-pool"], val_fraction=0.0, label_from_name=PATTERN, **common)
    # The unlabeled clips keep their labels only so that the report can say how often pseudo-labels were right.
    prepare_audio([clips / "unseen-unlabeled"], folders["unlabeled"], val_fraction=0.0, label_from_name=PATTERN,
                  **common)
    prepare_audio([clips / "unseen-test"], folders["task-held-out"], val_fraction=0.0, label_from_name=PATTERN,
                  **common)
    return folders, test_speakers


def compare_once(args, folders: dict[str, Path], pre: dict) -> dict:
    from headstart.compare import CompareConfig, compare

    semi_train = {"train": SEMI_TRAIN} if args.semi == "consistency" else {}
    semi = {"method": args.semi, "unlabeled": str(folders["unlabeled"]), "ratio": 3}
    if args.semi == "self_training":
        semi.update(pseudo_labels=args.pseudo_labels, rounds=args.rounds)
    cfg = CompareConfig.model_validate({
        "run_dir": str(args.work / compare_name(args)), "pretrained": pre["checkpoint"],
        "task": {"train": str(folders["task-pool"]), "test": str(folders["task-held-out"])},
        "budgets": [args.budget], "seeds": args.seeds, "train": FINETUNE, "lr_search": LR_SEARCH,
        "probe_examples": args.budget,
        "recipes": {"pretrained+semi": semi_train, "scratch+semi": semi_train},
        "semi_supervised": semi})
    return compare(cfg, command=" ".join(sys.argv))["results"]


def neighbourhoods(folders: dict[str, Path], pre: dict) -> dict[str, dict[int, float]]:
    """How often a pool clip's nearest neighbours (cosine, mean-pooled encoder features) say the same digit,
    under the pre-trained encoder and under a random one: what graph pseudo-labels rest on.  The pool's own
    labels are read for this report only."""
    from headstart.engine.rng import seed_everything
    from headstart.finetune.config import DataRef, FinetuneConfig
    from headstart.finetune.graph_labels import neighbour_agreement
    from headstart.finetune.task import task_modality

    cfg = FinetuneConfig.model_validate({"run_dir": "/nonexistent", "init": pre["checkpoint"],
                                         "task": {"train": str(folders["task-pool"])}, "train": FINETUNE})
    modality = task_modality(cfg.task)
    pool = modality.read_pool(DataRef(path=folders["unlabeled"]), cfg.task, "text", [str(d) for d in range(10)])
    seed_everything(0)
    pretrained = modality.backbone(cfg)
    out = {}
    for name, backbone in (("pre-trained", pretrained), ("random", pretrained.with_fresh_weights())):
        features = backbone.features(pool, 10)
        out[name] = {k: neighbour_agreement(features, pool.labels, k) for k in (1, 10)}
    return out


def compare_name(args) -> str:
    if args.semi == "consistency":
        return "compare-consistency"
    return "compare-self_training" + ("" if args.pseudo_labels == "teacher" else f"-{args.pseudo_labels}") + (
        f"-r{args.rounds}" if args.rounds > 1 else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-fsdd-semi"))
    ap.add_argument("--steps", type=int, default=1000, help="pre-training steps (64 clips each)")
    ap.add_argument("--budget", type=int, default=50, help="labels (5 per digit), validation included")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--semi", choices=["consistency", "self_training"], default="consistency")
    ap.add_argument("--pseudo-labels", choices=["teacher", "graph"], default="graph",
                    help="self_training: the teacher's predictions, or those propagated over the pool's k-NN graph "
                         "and balanced across digits")
    ap.add_argument("--rounds", type=int, default=1, help="self_training: teacher-student rounds")
    ap.add_argument("--unseen", nargs=2, metavar="SPEAKER", help="the 2 unseen speakers (default: those "
                    "fsdd_transfer.py drew); another pair replicates the result on voices never looked at")
    ap.add_argument("--finetune-steps", type=int, default=FINETUNE["steps"], help="lower it for a smoke test")
    args = ap.parse_args()
    shorten_finetune(args.finetune_steps)
    SEMI_TRAIN.update(steps=max(SEMI_TRAIN["steps"] * args.finetune_steps // 300, 1))
    from headstart.transfer.claims import paired_delta
    from headstart.transfer.stats import mean_ci

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    folders, test_speakers = write_splits(args.work, args.unseen)
    pre = pretrain_once(args.work, folders["pretrain-data"], args.steps)
    results = compare_once(args, folders, pre)
    per_seed = {arm: results["arms"][arm][args.budget] for arm in results["arms"]}
    arms = {arm: mean_ci(accuracies) for arm, accuracies in per_seed.items()}
    best = max(("pretrained", "pretrained+semi"), key=lambda arm: arms[arm].mean)
    deltas = {f"{a} - {b}": paired_delta(per_seed[a], per_seed[b])
              for a, b in ((best, "scratch"), ("pretrained+semi", "pretrained"), ("scratch+semi", "scratch"))}
    (args.work / f"summary-{compare_name(args).removeprefix('compare-')}.json").write_text(json.dumps({
        "test_speakers": test_speakers, "pretrain": pre, "per_seed": per_seed, "deltas": deltas,
        "arms": {arm: dataclasses.asdict(ci) for arm, ci in arms.items()}, "probes": results["probes"]}, indent=1))

    print(f"\npre-training: {pre['seconds'] / 60:.1f} min wall (preparation excluded), validation {pre['final_eval']}")
    for name, shares in neighbourhoods(folders, pre).items():
        print(f"unlabeled clips whose nearest / 10 nearest neighbours say the same digit, {name} encoder: "
              f"{shares[1]:.1%} / {shares[10]:.1%}")
    print(f"{args.budget} labels (validation included), test: takes 25-49 of unseen speakers "
          f"{', '.join(test_speakers)}; mean over seeds {args.seeds} [95% interval]:")
    for arm, ci in arms.items():
        seeds = ", ".join(f"{100 * a:.1f}" for a in per_seed[arm])
        print(f"  {arm:18} {100 * ci.mean:5.1f} [{100 * ci.low:5.1f}, {100 * ci.high:5.1f}]   ({seeds})")
    for name, d in deltas.items():
        print(f"  {name:28} {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
              f"{'' if d['significant'] else ' (not significant)'}")
    d = deltas[f"{best} - scratch"]
    met = d["significant"] and d["mean"] >= 0.15
    print(f"goal (best pre-trained arm >= scratch + 15 points, interval excluding 0): {'met' if met else 'NOT met'}")
    print(f"\nreport: {args.work / compare_name(args) / 'report' / 'report.html'}")
    print("reproduce: python bench/fsdd_semi.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
