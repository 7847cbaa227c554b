"""What a head-start report may claim, from the accuracies of its arms.

A difference is claimed only when its seed-paired 95% interval excludes zero; "labels saved" only for
a significant head start.  Otherwise the report says the difference is not significant, with the
interval, so a reader sees why.  Every arm is paired seed by seed: seed i used the same labels in
every arm (``compare`` draws them so).
"""
from __future__ import annotations

from typing import Any, Optional

from .stats import labels_saved, mean_ci


def summarize(results: dict) -> dict:
    """Per budget: mean and 95% CI of each arm, pre-trained − scratch and pre-trained − baseline (paired),
    whether each is significant, and the labels saved where the head start is."""
    arms, budgets = arm_values(results), list(results["budgets"])
    given = {str(k): v for k, v in (results.get("labels_saved") or {}).items()}
    compare = "pretrained" in arms and "scratch" in arms
    rows = []
    for budget in budgets:
        key = str(budget)
        row: dict[str, Any] = {"budget": budget, "arms": {}}
        for arm, by_budget in arms.items():
            if by_budget.get(key):
                ci = mean_ci(by_budget[key])
                row["arms"][arm] = {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}
        if compare and arms["pretrained"].get(key) and arms["scratch"].get(key):
            row["delta"] = paired_delta(arms["pretrained"][key], arms["scratch"][key])
            if row["delta"]["significant"] and row["delta"]["mean"] > 0:
                needed = given[key] if key in given else _scratch_needs(arms, budgets, key)
                row["scratch_needs"] = needed
                row["labels_saved"] = None if needed is None else needed - budget
        if "pretrained" in arms and arms["pretrained"].get(key) and (arms.get("baseline") or {}).get(key):
            row["vs_baseline"] = paired_delta(arms["pretrained"][key], arms["baseline"][key])
        if accounting := (results.get("label_accounting") or {}).get(key) or (results.get("label_accounting") or {}).get(budget):
            row["accounting"] = accounting
        rows.append(row)
    return {"confidence": 0.95, "rows": rows}


def paired_delta(a: list[float], b: list[float]) -> dict:
    """Mean of a − b, with the seed-paired interval when both have the same seeds; significant when the
    interval excludes 0 (never with one seed, or unpaired)."""
    if len(a) == len(b):
        ci = mean_ci([x - y for x, y in zip(a, b)])
        significant = ci.n > 1 and (ci.low > 0 or ci.high < 0)
        return {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n, "paired": True, "significant": significant}
    mean = mean_ci(a).mean - mean_ci(b).mean
    return {"mean": mean, "low": None, "high": None, "n": None, "paired": False, "significant": False}


def _scratch_needs(arms: dict, budgets: list, key: str) -> Optional[float]:
    scratch_budgets = [b for b in budgets if arms["scratch"].get(str(b))]
    scratch_means = [mean_ci(arms["scratch"][str(b)]).mean for b in scratch_budgets]
    return labels_saved(scratch_budgets, scratch_means, mean_ci(arms["pretrained"][key]).mean)


def arm_values(results: dict) -> dict[str, dict[str, list[float]]]:
    """Arms with budget keys as strings; pretrained, scratch, baseline first, then the rest as given."""
    order = ["pretrained", "scratch", "baseline"]
    arms = results["arms"]
    names = [a for a in order if a in arms] + [a for a in arms if a not in order]
    return {arm: {str(budget): list(values) for budget, values in arms[arm].items()} for arm in names}


def labels_phrase(row: dict) -> str:
    """"100 labels (80 to train, 20 to validate)" or "100 training + 872 validation labels"."""
    accounting, budget = row.get("accounting"), row["budget"]
    if not accounting:
        return f"{budget:,} labels"
    if accounting["counted"]:
        return (f"{budget:,} labels ({accounting['train']:,} to train, {accounting['validation']:,} to validate "
                f"and choose the checkpoint)")
    return f"{accounting['train']:,} training + {accounting['validation']:,} validation labels"


def _difference(delta: dict, against: str) -> str:
    interval = f"{100 * delta['mean']:+.1f} points, 95% interval [{100 * delta['low']:+.1f}, {100 * delta['high']:+.1f}]" \
        if delta.get("low") is not None and delta.get("n", 0) > 1 else f"{100 * delta['mean']:+.1f} points, one seed"
    if not delta["significant"]:
        return f"the difference from {against} is not significant ({interval})"
    return f"pre-trained is {'ahead of' if delta['mean'] > 0 else 'behind'} {against} by {interval}"


def headline(summary: dict) -> Optional[str]:
    """One sentence at the smallest budget with both arms, where a head start matters most, claiming a
    head start (and labels saved) only when the paired interval excludes zero."""
    row = next((row for row in summary["rows"] if "delta" in row), None)
    if row is None:
        return None
    pre, scratch = row["arms"]["pretrained"]["mean"], row["arms"]["scratch"]["mean"]
    text = (f"With {labels_phrase(row)}, the pre-trained model reaches {100 * pre:.1f}% and the same model "
            f"from scratch {100 * scratch:.1f}%: {_difference(row['delta'], 'scratch')}")
    if "vs_baseline" in row:
        text += (f"; the baseline reaches {100 * row['arms']['baseline']['mean']:.1f}%: "
                 f"{_difference(row['vs_baseline'], 'the baseline')}")
    if not row["delta"]["significant"] or row["delta"]["mean"] <= 0:
        return text + ". No head start is claimed."
    needed = row.get("scratch_needs", "absent")
    if needed is None:
        return text + "; scratch does not reach that accuracy with any budget tried."
    if needed != "absent" and needed > row["budget"]:
        return text + f"; scratch needs about {needed:,.0f} labels ({needed / row['budget']:.1f}×) to match."
    return text + "."


def cost_headline(results: dict, summary: dict, duration) -> Optional[str]:
    """What pre-training cost, beside the labels it saves at the headline's budget (when it saves any)."""
    cost = (results.get("costs") or {}).get("pre-training")
    if not isinstance(cost, dict):
        return None
    energy, seconds = cost.get("energy_kwh"), cost.get("seconds")
    text = ("Pre-training cost: energy not recorded" if energy is None
            else f"Pre-training cost {energy:.3g} kWh ({cost.get('kind') or cost.get('source', '')})")
    if seconds is not None:
        text += f", {duration(seconds)} of wall time"
    row = next((row for row in summary["rows"] if "delta" in row), None)
    if row is not None and "scratch_needs" in row:
        if row["scratch_needs"] is None:
            beyond = results["budgets"][-1] - row["budget"]
            text += f"; with {row['budget']:,} labels it saves more than {beyond:,} labels"
        elif row["labels_saved"] > 0:
            text += f"; with {row['budget']:,} labels it saves about {row['labels_saved']:,.0f} labels"
    return text + "."
