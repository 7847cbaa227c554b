"""The head-start report: one self-contained ``report.html``, plus ``report.md`` and ``report.json``.

``write_report(out_dir, results)`` takes a JSON-serialisable dict.  Keys that are budgets may be ints or
strings (JSON object keys are strings); accuracies are fractions in [0, 1].

    title            str                              required
    task             {"name": str, "label_names": [str], "n_train": int, "n_test": int}   required
    budgets          [int, ...] increasing            required: labeled examples per run
    arms             {arm: {budget: [accuracy per seed]}}   required; arms such as "pretrained",
                     "scratch", "baseline".  Seed i must use the same labeled subset in every arm, so
                     pretrained - scratch is compared seed by seed (a paired interval).
    arm_notes        {arm: str}                       what an arm is, e.g. {"baseline": "TF-IDF + ..."}
    command          str                              the command line that produced the results
    configs          {name: any JSON}                 shown folded, verbatim
    calibration      {arm: {budget: [ECE or None per seed]}}   expected calibration error of each run's test
                     predictions (``finetune.evaluate``); None where a run did not record it (finished before
                     it was), and an arm without an entry (the baseline) shows "—"
    curves           {arm: {"steps": [int], "accuracy": [float], "budget": int?}}   validation learning curves
    label_accounting {budget: {"train": n, "validation": m, "counted": bool}}   how each budget's labels were
                     spent: counted = validation came out of the budget; else it was extra (task.val)
    labels_saved     {budget: float | None}           labels scratch needs to match pretrained's mean
                     accuracy at this budget (``stats.labels_saved``); None = more than the largest
                     budget.  Computed from ``arms`` when absent; shown only where the head start over
                     scratch is significant (``claims.summarize``).
    steps_to_target  {arm: int | None, "target": float}   first step reaching the target accuracy
    probes           {model: {probe: accuracy}}      e.g. {"pretrained": {"linear": .., "knn": ..},
                     "random_init": {...}}
    logme            {checkpoint: score}
    projection       {"points": [[x, y]], "labels": [int id into label_names, or str],
                     "method": "pca" | "umap"}
    costs            {stage: {"seconds": float, "energy_kwh": float | None, "co2_kg": float?, "kind": str?
                     ("measured" | "estimated" | "partly measured"), "source": str}}; a "pre-training" stage
                     also gives a headline: its cost beside the labels it saves
    contamination    {"corpus": str, "split": str, "file": str, "examples": int, "contaminated": [{"line": int,
                     "text": str, "document": str, "ngram": str, "short": bool}]}   (headstart.audit)

Every string from ``results`` is escaped in HTML (``html.escape``) and drawn as plain text in plots.
The HTML loads nothing: plots are base64 PNGs and a Content-Security-Policy forbids scripts and
remote content, so it opens offline and a hostile label name stays text.  ``report.json`` holds the
input plus a ``summary`` with every number the tables show.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from headstart.report_html import (escape as _escape, fence as _fence, html_page, html_table as _html_table,  # noqa: F401
                                   img as _img, json_safe as _json_safe, md as _md, md_table as _md_table, pct as _pct)
from headstart.transfer import report_plots as plots, semi_report
from headstart.transfer.probes import PROBE_PROTOCOL
from headstart.transfer.claims import arm_values as _arms, cost_headline, headline as _headline, summarize

REQUIRED = ("title", "task", "budgets", "arms")
def write_report(out_dir: Path, results: dict) -> dict[str, Path]:
    """Write report.html, report.md and report.json into ``out_dir``; returns their paths by format."""
    _check(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    if "calibration" in results:
        summary["calibration"] = _calibration_means(results)
    paths = {"html": out_dir / "report.html", "md": out_dir / "report.md", "json": out_dir / "report.json"}
    paths["html"].write_text(render_html(results, summary), encoding="utf-8")
    paths["md"].write_text(render_markdown(results, summary), encoding="utf-8")
    document = _json_safe({**results, "summary": summary})
    paths["json"].write_text(json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths


# ----------------------------------------------------------------------------------------------- HTML

def render_html(results: dict, summary: dict) -> str:
    e = _escape
    task = results["task"]
    parts = [f"<h1>{e(results['title'])}</h1>",
             f"<p class='meta'>Task <b>{e(task.get('name', ''))}</b>: {_count(task.get('n_train'))} "
             f"training and {_count(task.get('n_test'))} test examples, "
             f"{len(task.get('label_names', []))} labels.</p>"]
    if task.get("label_names"):
        parts.append("<p class='meta labels'>Labels: "
                     + ", ".join(f"<code>{e(n)}</code>" for n in task["label_names"]) + "</p>")
    if results.get("command"):
        parts.append(f"<pre>$ {e(results['command'])}</pre>")
    if headline := _headline(summary):
        parts.append(f"<p class='headline'>{e(headline)}</p>")
    if cost_line := cost_headline(results, summary, _duration):
        parts.append(f"<p class='headline'>{e(cost_line)}</p>")

    if contamination := results.get("contamination"):
        parts += [f"<h2>Contamination</h2><p class='headline'>{e(_contamination_line(contamination))}</p>",
                  *([_html_table(*_contamination_table(contamination), (1, 2, 3))] if contamination["contaminated"] else [])]
    parts += ["<h2>Accuracy by label budget</h2>", _html_table(*_summary_table(results, summary)),
              f"<p class='note'>{e(_TABLE_NOTE)}</p>",
              *[f"<p class='note'>{e(arm)}: {e(note)}</p>" for arm, note in (results.get("arm_notes") or {}).items()],
              _img(plots.label_efficiency_png(results["budgets"], _arms(results)), "label efficiency")]
    if "calibration" in results:
        parts += ["<h2>Calibration: expected calibration error (%)</h2>", _html_table(*_calibration_table(results)),
                  f"<p class='note'>{e(_CALIBRATION_NOTE)}</p>"]

    if zero_shot := results.get("zero_shot"):
        parts += ["<h2>Zero-shot (no labels)</h2>", _html_table(*_zero_shot_table(results)),
                  f"<p class='note'>{e(_zero_shot_note(zero_shot))}</p>"]
        if rows := _retrieval_rows(results):
            parts += [_html_table(["direction", "R@1", "R@5", "R@10"], rows),
                      f"<p class='note'>{e(_RETRIEVAL_NOTE)}</p>"]
    if curves := results.get("curves"):
        target = (results.get("steps_to_target") or {}).get("target")
        budgets = {curve.get("budget") for curve in curves.values()} - {None}
        at = f" ({_count(budgets.pop())} labels)" if len(budgets) == 1 else ""
        parts += [f"<h2>Learning curves{at}</h2>", _img(plots.learning_curves_png(curves, target), "learning curves")]
        if steps := _steps_rows(results):
            parts.append(_html_table(["arm", f"first step at ≥ {100 * target:.1f}% validation accuracy"], steps))
    if semi := results.get("semi_supervised"):
        png = semi_report.curves_png(semi)
        parts += ["<h2>Semi-supervised: what the unlabeled pool gave</h2>", _html_table(*semi_report.rows(semi)),
                  *([_img(png, "mask rate and pseudo-label accuracy over training")] if png else []),
                  f"<p class='note'>{e(semi_report.NOTE)}</p>"]
    if pretraining := results.get("pretraining_curves"):
        target = pretraining["target_loss"]
        parts += [f"<h2>Pre-training curves ({e(pretraining['objective'])})</h2>",
                  _img(plots.learning_curves_png(pretraining["curves"], target, key="loss", percent=False,
                                                 ylabel="validation loss"), "pre-training validation loss"),
                  _html_table(["run", f"first step at loss ≤ {target:.4g}", "wall time"], _pretraining_rows(pretraining)),
                  f"<p class='note'>{e(_PRETRAINING_NOTE)}</p>"]
    if probes := results.get("probes"):
        kinds = list(dict.fromkeys(k for scores in probes.values() for k in scores))
        parts += ["<h2>Frozen-feature probes</h2>",
                  _html_table(["model"] + kinds, [[m] + [_pct(s.get(k)) for k in kinds] for m, s in probes.items()]),
                  _img(plots.probes_png(probes), "probe accuracy")]
        parts += [f"<p class='note'>{e(k)}: {e(PROBE_PROTOCOL[k])}</p>" for k in kinds if k in PROBE_PROTOCOL]
    if logme := results.get("logme"):
        rows = [[name, f"{score:.4f}"] for name, score in sorted(logme.items(), key=lambda kv: -kv[1])]
        parts += ["<h2>LogME transferability</h2>", _html_table(["checkpoint", "LogME"], rows),
                  "<p class='note'>Evidence of a Bayesian linear model on frozen features, per example, "
                  "averaged over classes (You et al. 2021). Higher is better; compare checkpoints on the "
                  "same task only.</p>"]
    if projection := results.get("projection"):
        method = str(projection.get("method", "pca"))
        parts += [f"<h2>Test-set features projected to 2-D ({e(method.upper())})</h2>",
                  _img(plots.projection_png(projection["points"], projection["labels"],
                                            task.get("label_names", []), method), "2-D projection of features")]
    if costs := results.get("costs"):
        parts += ["<h2>Costs</h2>", _html_table(_COST_HEADER, _cost_rows(costs), (0, 4))]
    if configs := results.get("configs"):
        parts += ["<h2>Configuration</h2>", "<details><summary>resolved configs</summary>",
                  f"<pre>{e(json.dumps(_json_safe(configs), indent=2))}</pre></details>"]
    return html_page(results["title"], "\n".join(parts))


# ------------------------------------------------------------------------------------------- Markdown

def render_markdown(results: dict, summary: dict) -> str:
    m = _md
    task = results["task"]
    lines = [f"# {m(results['title'])}", "",
             f"Task **{m(task.get('name', ''))}**: {_count(task.get('n_train'))} training and "
             f"{_count(task.get('n_test'))} test examples, {len(task.get('label_names', []))} labels.", ""]
    if task.get("label_names"):
        lines += ["Labels: " + ", ".join(_md(name) for name in task["label_names"]), ""]
    if results.get("command"):
        lines += [_fence(results["command"]), ""]
    if headline := _headline(summary):
        lines += [m(headline), ""]
    if cost_line := cost_headline(results, summary, _duration):
        lines += [m(cost_line), ""]
    if contamination := results.get("contamination"):
        lines += ["## Contamination", "", m(_contamination_line(contamination)), "",
                  *(_md_table(*_contamination_table(contamination)) + [""] if contamination["contaminated"] else [])]
    lines += ["## Accuracy by label budget", "", *_md_table(*_summary_table(results, summary)), "",
              m(_TABLE_NOTE) + " Plots are in report.html.", ""]
    for arm, note in (results.get("arm_notes") or {}).items():
        lines += [f"{m(arm)}: {m(note)}", ""]
    if "calibration" in results:
        lines += ["## Calibration: expected calibration error (%)", "", *_md_table(*_calibration_table(results)), "",
                  m(_CALIBRATION_NOTE), ""]
    if zero_shot := results.get("zero_shot"):
        lines += ["## Zero-shot (no labels)", "", *_md_table(*_zero_shot_table(results)), "",
                  m(_zero_shot_note(zero_shot)), ""]
        if rows := _retrieval_rows(results):
            lines += [*_md_table(["direction", "R@1", "R@5", "R@10"], rows), "", m(_RETRIEVAL_NOTE), ""]
    if semi := results.get("semi_supervised"):
        lines += ["## Semi-supervised: what the unlabeled pool gave", "", *_md_table(*semi_report.rows(semi)), "",
                  m(semi_report.NOTE), ""]
    if pretraining := results.get("pretraining_curves"):
        target = pretraining["target_loss"]
        lines += [f"## Pre-training curves ({m(pretraining['objective'])})", "",
                  *_md_table(["run", f"first step at loss ≤ {target:.4g}", "wall time"], _pretraining_rows(pretraining)),
                  "", m(_PRETRAINING_NOTE), ""]
    if steps := _steps_rows(results):
        target = results["steps_to_target"]["target"]
        lines += ["## Steps to target", "",
                  *_md_table(["arm", f"first step at ≥ {100 * target:.1f}% validation accuracy"], steps), ""]
    if probes := results.get("probes"):
        kinds = list(dict.fromkeys(k for scores in probes.values() for k in scores))
        lines += ["## Frozen-feature probes", "",
                  *_md_table(["model"] + kinds, [[p] + [_pct(s.get(k)) for k in kinds] for p, s in probes.items()]), ""]
    if logme := results.get("logme"):
        rows = [[name, f"{score:.4f}"] for name, score in sorted(logme.items(), key=lambda kv: -kv[1])]
        lines += ["## LogME transferability", "", *_md_table(["checkpoint", "LogME"], rows), ""]
    if costs := results.get("costs"):
        lines += ["## Costs", "", *_md_table(_COST_HEADER, _cost_rows(costs)), ""]
    if configs := results.get("configs"):
        lines += ["## Configuration", "", _fence(json.dumps(_json_safe(configs), indent=2), "json"), ""]
    return "\n".join(lines)


def _contamination_line(c: dict) -> str:
    found = len(c["contaminated"])
    return (f"{'WARNING: ' if found else ''}{found} of {c['examples']} {c['split']} examples of {c['file']} occur in the "
            f"pre-training data {c['corpus']} (a shared 13-gram of lowercased words, or the whole example when it "
            f"is shorter){': the head start on them may be memory, not transfer' if found else ''}.")


def _contamination_table(c: dict) -> tuple[list[str], list[list[str]]]:
    rows = [[str(r["line"]), r["text"], r["document"], r["ngram"] + (" (whole example)" if r["short"] else "")]
            for r in c["contaminated"][:100]]
    return ["line", "example", "found in", "matching words"], rows


# ---------------------------------------------------------------------------------- shared content

_TABLE_NOTE = ("Accuracy in %, mean ± half-width of the 95% Student-t interval over seeds. Labels: all a run "
               "saw, train + validation (validation chose the checkpoint and learning rate). Δ: paired by seed "
               "(seed i used the same labels in every arm); n.s. = the interval includes 0, so no difference is "
               "claimed. “Scratch needs”: labels scratch needs to reach pre-trained's mean accuracy, "
               "interpolated linearly in log(budget), shown only for a significant head start; “more than "
               "all” when scratch never gets there.")


def _summary_table(results: dict, summary: dict) -> tuple[list[str], list[list[str]]]:
    arm_names = list(_arms(results))
    has_delta = any("delta" in row for row in summary["rows"])
    has_baseline = any("vs_baseline" in row for row in summary["rows"])
    has_saved = has_delta
    header = ["labels (train + val)"] + arm_names + (["Δ pre-trained − scratch"] if has_delta else []) \
        + (["Δ pre-trained − baseline"] if has_baseline else []) + (["scratch needs", "labels saved"] if has_saved else [])
    rows = []
    for row in summary["rows"]:
        accounting = row.get("accounting")
        spent = f" ({accounting['train']:,} + {accounting['validation']:,})" if accounting else ""
        cells = [f"{row['budget']:,}{spent}"] + [_pct_ci(row["arms"].get(arm)) for arm in arm_names]
        if has_delta:
            cells.append(_delta_cell(row.get("delta")))
        if has_baseline:
            cells.append(_delta_cell(row.get("vs_baseline")))
        if has_saved:
            if "scratch_needs" not in row:
                delta = row.get("delta")
                cells += ["—", "—" if delta is None else "none" if delta["significant"] else "n.s."]
            elif row["scratch_needs"] is None:
                largest = results["budgets"][-1]
                cells += [f"more than all ({largest:,})", f"> {largest - row['budget']:,}"]
            else:
                cells += [f"≈ {row['scratch_needs']:,.0f}", f"{row['labels_saved']:+,.0f}"]
        rows.append(cells)
    return header, rows


_CALIBRATION_NOTE = ("Expected calibration error (ECE) of each run's test predictions in %, mean over seeds: how far "
                     "the model's confidence in its top class is from how often that class is right, over 15 "
                     "equal-width confidence bins (Guo et al. 2017). Lower is better; accuracy does not show it. "
                     "—: not recorded (the baseline's probabilities are not kept; runs finished before ECE was "
                     "recorded).")


def _calibration_means(results: dict) -> dict[str, dict[str, float | None]]:
    """{arm: {budget: mean ECE over the seeds that recorded one, or None}}."""
    means = {}
    for arm, by_budget in results["calibration"].items():
        means[arm] = {}
        for budget, values in by_budget.items():
            recorded = [v for v in values if v is not None]
            means[arm][str(budget)] = sum(recorded) / len(recorded) if recorded else None
    return means


def _calibration_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """One row per arm, one column per budget: mean ECE in %, and how many seeds it is over when some
    runs did not record one."""
    means, rows = _calibration_means(results), []
    for arm in _arms(results):
        seeds = {str(b): v for b, v in (results["calibration"].get(arm) or {}).items()}
        cells = [arm]
        for budget in map(str, results["budgets"]):
            mean, values = means.get(arm, {}).get(budget), seeds.get(budget, [])
            recorded = sum(v is not None for v in values)
            cells.append(_pct(mean) + (f" ({recorded} of {len(values)} seeds)" if 0 < recorded < len(values) else ""))
        rows.append(cells)
    return ["arm"] + [f"{b:,} labels" for b in results["budgets"]], rows


_RETRIEVAL_NOTE = ("Recall@K on the pre-training run's validation pairs: the share of images whose own caption "
                   "is among the K nearest captions (i2t), and of captions whose own image is (t2i). Only the "
                   "partner counts, so pairs that share a caption bound R@1 below 100%.")
_PRETRAINING_NOTE = ("Validation loss of the pre-trained run and of the reference run (same objective and data), "
                     "at each evaluation. Unless set, the target is 90% of the reference's improvement: its final "
                     "loss plus a tenth of its drop since its first evaluation.")


def _zero_shot_table(results: dict) -> tuple[list[str], list[list[str]]]:
    zero_shot = results["zero_shot"]
    header = ["labels", "zero-shot (pre-trained)"]
    rows = [["0", _pct(zero_shot["accuracy"])]]
    smallest = next(iter(summarize(results)["rows"]), None)
    if smallest and "pretrained" in smallest["arms"]:  # the fine-tuned figure beside it, for scale
        header.append(f"fine-tuned with {smallest['budget']:,} labels")
        rows[0].append(_pct_ci(smallest["arms"]["pretrained"]))
    return header, rows


def _zero_shot_note(zero_shot: dict) -> str:
    templates = "; ".join(f"“{t}”" for t in zero_shot["templates"])
    return (f"Accuracy in % on the {zero_shot['n']:,} {zero_shot.get('split', 'test')} images, from the class "
            f"names alone: each class is the mean text embedding of the prompts {templates}, and each image "
            f"takes the nearest class.")


def _retrieval_rows(results: dict) -> list[list[str]]:
    retrieval = results.get("retrieval") or {}
    rows = []
    for direction, name in (("i2t", "image → text"), ("t2i", "text → image")):
        values = [retrieval.get(f"{direction}_R@{k}") for k in (1, 5, 10)]
        if any(v is not None for v in values):
            rows.append([name] + [_pct(v) for v in values])
    return rows


def _pretraining_rows(pretraining: dict) -> list[list[str]]:
    seconds = pretraining.get("seconds") or {}
    return [[name, "not reached" if step is None else f"{step:,}",
             "—" if seconds.get(name) is None else _duration(seconds[name])]
            for name, step in pretraining["steps_to_target"].items()]


def _steps_rows(results: dict) -> list[list[str]]:
    steps = results.get("steps_to_target") or {}
    if steps.get("target") is None:
        return []
    return [[arm, "not reached" if value is None else f"{value:,}"] for arm, value in steps.items()
            if arm != "target"]


_COST_HEADER = ["stage", "time", "energy (kWh)", "CO2e (g)", "source"]


def _cost_rows(costs: dict) -> list[list[str]]:
    rows = []
    for stage, cost in costs.items():
        seconds, energy, co2 = cost.get("seconds"), cost.get("energy_kwh"), cost.get("co2_kg")
        rows.append([stage, "—" if seconds is None else _duration(seconds),
                     "not recorded" if energy is None else f"{energy:.3g}",
                     "—" if co2 is None else f"{1000 * co2:.3g}", str(cost.get("source", ""))])
    return rows


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}" if minutes else f"{seconds:.1f} s"


def _delta_cell(delta: dict | None) -> str:
    if not delta:
        return "—"
    return _pct_ci(delta, signed=True) + ("" if delta["significant"] else " (n.s.)")


def _pct_ci(stat: dict | None, signed: bool = False) -> str:
    if not stat:
        return "—"
    mean = f"{100 * stat['mean']:+.1f}" if signed else f"{100 * stat['mean']:.1f}"
    if stat.get("low") is None:
        return mean
    if stat["n"] == 1:
        return f"{mean} (1 seed)"
    return f"{mean} ± {100 * (stat['high'] - stat['mean']):.1f}"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _check(results: dict) -> None:
    missing = [key for key in REQUIRED if key not in results]
    if missing:
        raise ValueError(f"results is missing {', '.join(missing)} (see headstart.transfer.report)")
    budgets = results["budgets"]
    if not budgets or any(not isinstance(b, int) or b <= 0 for b in budgets) or list(budgets) != sorted(set(budgets)):
        raise ValueError(f"results['budgets'] must be increasing positive integers, got {budgets}")
    known = {str(b) for b in budgets}
    for arm, by_budget in results["arms"].items():
        for budget, values in by_budget.items():
            if str(budget) not in known:
                raise ValueError(f"results['arms'][{arm!r}] has budget {budget}, not in results['budgets']")
            if any(not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
                raise ValueError(f"results['arms'][{arm!r}][{budget!r}] must be finite numbers, got {values}")
    for arm, by_budget in (results.get("calibration") or {}).items():
        for budget, values in by_budget.items():
            if str(budget) not in known:
                raise ValueError(f"results['calibration'][{arm!r}] has budget {budget}, not in results['budgets']")
            if any(v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v)) for v in values):
                raise ValueError(f"results['calibration'][{arm!r}][{budget!r}] must be finite numbers or None, "
                                 f"got {values}")


