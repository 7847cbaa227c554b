"""The compare report's semi-supervised section: what each +semi arm drew from the unlabeled pool.

A failing semi-supervised run shows first in its pseudo-labels: how many unlabeled examples were confident
enough to teach (the mask rate, or self-training's kept pseudo-labels) and, when the pool has labels of its
own (a benchmark's), how often those pseudo-labels were right and, for self-training, how often its teacher's
own first choices were (what the keeping rule and the graph added is the difference).  Per +semi arm and budget,
means over seeds; and, for consistency training, both over the steps of the largest budget's first seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.metrics import read_metrics

NOTE = ("Mask rate: the share of unlabeled examples in a batch whose prediction was confident enough to teach "
        "(consistency training, FixMatch). Pseudo-labels: the pool examples self-training's teacher labelled "
        "most confidently (with graph pseudo-labels, its scores first spread over the pool's neighbourhood "
        "graph), balanced across classes, that its student trained on. Pseudo-label accuracy is measured "
        "against the pool's own labels where it has them; they are never trained on. Teacher's pool accuracy: how "
        "often self-training's teacher's first choice is right over the whole pool, before any is kept. No pool "
        "example counts as a label.")


def semi_study(runs: dict, budgets: list[int], seeds: list[int]) -> Optional[dict]:
    """``runs``: {(arm, budget, seed): (results.json dict, run folder)} of the +semi arms."""
    if not runs:
        return None
    arms = sorted({arm for arm, _, _ in runs})
    table = {}
    for arm in arms:
        for budget in budgets:
            rows = [_figures(*runs[arm, budget, seed]) for seed in seeds if (arm, budget, seed) in runs]
            table[f"{arm}|{budget}"] = {key: _mean([row.get(key) for row in rows])
                                        for key in ("pool", "pseudo_labels", "mask_rate", "teacher_accuracy", "pseudo_accuracy")}
    curves = {}
    for arm in arms:
        key = (arm, budgets[-1], seeds[0])
        if key in runs:
            logged = [row for row in read_metrics(Path(runs[key][1]), "train") if "mask_rate" in row]
            if logged:
                curves[arm] = {"steps": [row["step"] for row in logged], "mask_rate": [row["mask_rate"] for row in logged],
                               "pseudo_accuracy": [row.get("pseudo_accuracy") for row in logged]}
    return {"arms": arms, "budgets": budgets, "table": table, "curves": curves, "budget_of_curves": budgets[-1]}


def _figures(result: dict, run_dir) -> dict:
    if "self_training" in result:
        record = result["self_training"]
        return {"pool": record["pool"], "pseudo_labels": record["pseudo_labels"],
                "teacher_accuracy": record.get("teacher_pool_accuracy"), "pseudo_accuracy": record.get("pseudo_accuracy")}
    semi = result.get("semi_supervised") or {}
    logged = [row for row in read_metrics(Path(run_dir), "train") if "mask_rate" in row]
    last = logged[-max(1, len(logged) // 5):]  # the last fifth of training: where the pool ended up
    return {"pool": semi.get("pool"), "mask_rate": _mean([row["mask_rate"] for row in last]),
            "pseudo_accuracy": _mean([row.get("pseudo_accuracy") for row in last])}


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def rows(study: dict) -> tuple[list[str], list[list[str]]]:
    header = ["arm", "labels", "pool", "pseudo-labels kept", "mask rate, last fifth (%)", "teacher's pool accuracy (%)",
              "pseudo-label accuracy (%)"]
    out = []
    for arm in study["arms"]:
        for budget in study["budgets"]:
            f = study["table"][f"{arm}|{budget}"]
            out.append([arm, f"{budget:,}", _count(f["pool"]), _count(f["pseudo_labels"]), _pct(f["mask_rate"]),
                        _pct(f["teacher_accuracy"]), _pct(f["pseudo_accuracy"])])
    return header, out


def curves_png(study: dict) -> Optional[bytes]:
    if not study["curves"]:
        return None
    from .report_plots import _render

    def draw(figure):
        axes = figure.subplots()
        for arm, curve in study["curves"].items():
            axes.plot(curve["steps"], [100 * v for v in curve["mask_rate"]], label=f"{arm}: mask rate")
            known = [(s, v) for s, v in zip(curve["steps"], curve["pseudo_accuracy"]) if v is not None]
            if known:
                axes.plot(*zip(*[(s, 100 * v) for s, v in known]), linestyle="--", label=f"{arm}: pseudo-label accuracy")
        axes.set_xlabel("step")
        axes.set_ylabel("%")
        axes.set_ylim(0, 100)
        axes.legend(fontsize=8)
    return _render(draw, (6.4, 3.2))


def _count(value) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}"
