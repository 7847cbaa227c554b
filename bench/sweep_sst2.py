"""Issue #9, check 2: a learning-rate sweep for fine-tuning on SST-2 with 500 labels finds a setting at
least as good as the default, and the best-config file reproduces its score.

The checkpoint: text_transfer's pre-trained small BERT (/tmp/headstart-text-transfer/pretrain) once
that bench has finished it (its bench.json is there); otherwise --init, or failing both a quick masked-LM
pre-trained here on SST-2's unlabeled training sentences (said so in the output: much weaker).

Steps, each kept in --work so a re-run resumes:
1. the base config: fine-tune with 500 labels (seed 0), text_transfer's fine-tuning settings (lr 1e-3);
2. `headstart sweep`: train.lr (log 1e-4..3e-3) and train.warmup_steps, TPE, median pruning, the base
   config as trial 0;
3. `headstart finetune best.yaml` in a fresh process: its validation accuracy must equal the best trial's.

    python bench/sweep_sst2.py [--work /tmp/headstart-sweep-sst2] [--trials 8] [--steps 300]
    python bench/sweep_sst2.py --trials 3 --steps 40 --quick-pretrain-steps 60     # a smoke run
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"
TEXT_TRANSFER = Path("/tmp/headstart-text-transfer/pretrain")
FINETUNE = {"steps": 300, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 30, "eval_every": 25,
            "patience": 4, "log_every": 25, "seed": 0, "progress": False}


def pick_init(args) -> tuple[Path, str]:
    if args.init is not None:
        return args.init, f"{args.init} (--init)"
    if (TEXT_TRANSFER / "bench.json").exists():
        return TEXT_TRANSFER, f"{TEXT_TRANSFER} (text_transfer's pre-trained bert-micro)"
    return quick_pretrain(args.work, args.quick_pretrain_steps), (
        f"{args.work / 'quick-pretrain'} (a quick bert-nano masked LM, {args.quick_pretrain_steps} steps on SST-2's "
        f"unlabeled training sentences: text_transfer's checkpoint was not finished)")


def quick_pretrain(work: Path, steps: int) -> Path:
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    run_dir = work / "quick-pretrain"
    if (run_dir / "done").exists():
        return run_dir
    corpus = work / "sst2-unlabeled.txt"
    lines = (SHARED / "stsa.binary.train").read_text(encoding="utf-8").splitlines()
    corpus.write_text("\n".join(line.split(" ", 1)[1] for line in lines if " " in line.strip()) + "\n")
    data = work / "quick-data"
    if not data.exists():
        run([sys.executable, "-m", "headstart", "prepare", "text", str(corpus), "--out", str(data),
             "--doc-unit", "line", "--vocab-size", "4096", "--lowercase"])
    pretrain(PretrainConfig.model_validate({
        "run_dir": str(run_dir), "data": {"path": str(data), "seq_len": 64},
        "model": {"preset": "bert-nano", "context_length": 64}, "objective": {"name": "masked_lm"},
        "train": {"steps": steps, "batch_size": 32, "lr": 1e-3, "warmup_steps": min(50, steps // 5),
                  "eval_every": steps, "eval_batches": 5, "log_every": 50, "progress": False}}))
    (run_dir / "done").write_text("")
    return run_dir


def run(command: list[str]) -> str:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-sweep-sst2"))
    ap.add_argument("--init", type=Path, default=None, help="a pre-trained run to fine-tune (default: see above)")
    ap.add_argument("--trials", type=int, default=8, help="trials, the default config's included")
    ap.add_argument("--steps", type=int, default=FINETUNE["steps"], help="fine-tuning steps per trial")
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--quick-pretrain-steps", type=int, default=600)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    init, described = pick_init(args)

    train = {**FINETUNE, "steps": args.steps, "eval_every": min(FINETUNE["eval_every"], args.steps),
             "warmup_steps": min(FINETUNE["warmup_steps"], args.steps)}
    base = {"run_dir": str(args.work / "base"), "init": str(init),
            "task": {"train": str(SHARED / "stsa.binary.train"), "val": str(SHARED / "stsa.binary.dev"),
                     "test": str(SHARED / "stsa.binary.test"), "format": "label-first", "max_length": 64,
                     "budget": args.budget},
            "train": train}
    sweep = {"run_dir": str(args.work / "sweep"), "base": str(args.work / "base.yaml"), "metric": "val.accuracy",
             "trials": args.trials, "sampler": "tpe", "pruner": "median", "pruner_startup_trials": 3, "seed": 0,
             "params": {"train.lr": {"low": 1e-4, "high": 3e-3, "log": True},
                        "train.warmup_steps": {"low": 0, "high": min(60, args.steps), "step": 10}}}
    (args.work / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    (args.work / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))

    t0 = time.perf_counter()
    print(run([sys.executable, "-m", "headstart", "sweep", str(args.work / "sweep.yaml")]))
    sweep_seconds = time.perf_counter() - t0
    doc = json.loads((args.work / "sweep" / "trials.json").read_text())
    rows = {r["number"]: r for r in doc["trials"]}
    default, best = rows[doc["default"]], rows[doc["best"]]

    def scores(row) -> dict:
        return json.loads((Path(row["run_dir"]) / "results.json").read_text())

    # Reproduce in a fresh process, as a user would: the same command the sweep prints.
    best_yaml = args.work / "sweep" / "best.yaml"
    best_run = Path(yaml.safe_load(best_yaml.read_text())["run_dir"])
    shutil.rmtree(best_run, ignore_errors=True)  # from an earlier run, whose best may have been another trial
    run([sys.executable, "-m", "headstart", "finetune", str(best_yaml)])
    again = json.loads((best_run / "results.json").read_text())
    reproduced = again["val"]["accuracy"] == best["value"]

    summary = {"init": described, "budget": args.budget, "trials": len(rows), "steps": args.steps,
               "sweep_seconds": sweep_seconds,
               "states": {s: sum(r["state"] == s for r in rows.values()) for s in ("complete", "pruned", "failed")},
               "default": {"trial": default["number"], "params": default["params"], "val": scores(default)["val"]["accuracy"],
                           "test": scores(default)["test"]["accuracy"]},
               "best": {"trial": best["number"], "params": best["params"], "val": best["value"],
                        "test": scores(best)["test"]["accuracy"]},
               "reproduced": {"val": again["val"]["accuracy"], "test": again["test"]["accuracy"], "exact": reproduced},
               "command": f"headstart finetune {best_yaml}"}
    (args.work / "bench.json").write_text(json.dumps(summary, indent=1))
    print(f"\ncheckpoint: {described}")
    print(f"SST-2, {args.budget} labels, {len(rows)} trials of up to {args.steps} steps "
          f"({summary['states']}), {sweep_seconds / 60:.1f} min")
    for name in ("default", "best"):
        s = summary[name]
        print(f"{name:>8}: trial {s['trial']}  {s['params']}  val {100 * s['val']:.2f}%  test {100 * s['test']:.2f}%")
    print(f"best >= default on validation: {best['value'] >= default['value']}")
    print(f"best.yaml reproduced: val {100 * again['val']['accuracy']:.2f}%, test {100 * again['test']['accuracy']:.2f}% "
          f"-> {'exactly' if reproduced else 'NOT reproduced'}")
    print(f"reproduce: {summary['command']}")


if __name__ == "__main__":
    main()
