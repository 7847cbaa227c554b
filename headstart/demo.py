"""What every ``headstart demo`` shares: its output folder, its pre-training and compare runs, its closing summary.

Each modality's own demo (``text/demo.py``, the default; ``vision/demo.py``; ``audio/demo.py``) registers
itself and builds on these.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Optional

import yaml

from .compare import compare, load_compare_config
from .config import load_pretrain_config
from .pretrain import pretrain
from .transfer.claims import headline as report_headline, summarize

log = logging.getLogger("headstart")
MARKER = ".headstart-demo"


def fresh_demo_folder(out) -> Path:
    """Create ``out``, emptying it first only if an earlier demo made it."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            from .errors import HeadstartError
            raise HeadstartError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)  # a previous demo's outputs: start afresh
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `headstart demo`; safe to delete\n")
    return out


def demo_compare(out: Path, settings: dict, pretrained, task: dict, seeds: Optional[list[int]],
                 finetune_steps: Optional[int]) -> tuple[Path, dict]:
    """Write the demo's compare config (``settings`` plus where things are) and run it."""
    compare_file = out / "compare.yaml"
    study_config = {**settings, "run_dir": str(out / "compare"), "pretrained": str(pretrained),
                    "task": {**settings.get("task", {}), **task}, "seeds": seeds or settings["seeds"]}
    if finetune_steps:  # tests shorten the demo
        study_config["train"] = {**settings["train"], "steps": finetune_steps, "eval_every": finetune_steps,
                                 "warmup_steps": 1}
        study_config["recipes"] = {arm: {k: v for k, v in recipe.items() if k != "epochs"}
                                   for arm, recipe in settings.get("recipes", {}).items()}
    compare_file.write_text(yaml.safe_dump(study_config, sort_keys=False))
    return compare_file, compare(load_compare_config(compare_file), command=f"headstart compare {compare_file}")


def demo_pretrain(out: Path, data: Path, settings: dict, steps: Optional[int], *, eval_at_end: bool = True):
    """Write the demo's pre-training config (``settings`` on ``data``; ``steps`` shortens it) and run it.
    Returns ``(config_file, result)``."""
    config = {"run_dir": str(out / "run"), "data": {"path": str(data)}, **settings}
    if steps:
        config["train"] = {**config["train"], "steps": steps,
                           "warmup_steps": min(config["train"].get("warmup_steps", 0), steps),
                           **({"eval_every": steps} if eval_at_end else {})}
    config_file = out / "pretrain.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_file, pretrain(load_pretrain_config(config_file))


def print_demo_summary(title: str, started: float, lines: dict[str, str], result, study: dict,
                       accuracy_note: str = "", headline: bool = False) -> None:
    """The closing lines every demo prints: where things are, validation, test accuracy, the report, and
    (``headline``) the report's verdict: a head start claimed only where its paired interval excludes 0."""
    print("\n=== %s: done in %.1f min ===" % (title, (time.perf_counter() - started) / 60))
    for key, value in lines.items():
        print(f"{key + ':':17} {value}")
    print("validation:       " + ", ".join(f"{k} {v:.3f}" for k, v in result.final_eval.items()))
    print(f"test accuracy:    {accuracy_summary(study['results'])}{accuracy_note}")
    if headline and (verdict := report_headline(summarize(study["results"]))):
        print(f"verdict:          {verdict}")
    print(f"report:           {study['report']['html']}")
    classifier = best_classifier(Path(study["report"]["html"]).parent.parent, study["results"])
    if classifier is not None:
        print(f"use it:           headstart predict {classifier} FILE --out preds.jsonl   "
              f"(or headstart.load_classifier(\"{classifier}\") in Python)")


def best_classifier(compare_dir: Path, results: dict) -> Optional[Path]:
    """The pre-trained arm's classifier at the largest budget, first seed, best validation (of the
    learning rates tried): the one a user would keep."""
    budget, seed = results["budgets"][-1], results["configs"]["compare"]["seeds"][0]
    runs = sorted((compare_dir / "runs").glob(f"pretrained-{budget}-s{seed}*"))
    scored = [(json.loads((r / "results.json").read_text())["val"]["accuracy"], r) for r in runs
              if (r / "results.json").is_file() and (r / "classifier").is_dir()]
    return max(scored)[1] if scored else None


def accuracy_summary(results: dict) -> str:
    """"50 labels: pretrained 92.7%, scratch 88.6%, baseline 84.5%; ..." (mean over seeds)."""
    return "; ".join(f"{budget} labels: " + ", ".join(f"{arm} {100 * sum(v[budget]) / len(v[budget]):.1f}%"
                                                      for arm, v in results["arms"].items())
                     for budget in results["budgets"])
