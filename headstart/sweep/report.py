"""The sweep report: report.html (self-contained, like compare's: PNG plots inline, no scripts, every
user string escaped) and report.md.  Plots: the metric by trial, the metric against each param (a
slice plot), and each trial's validation curve, where pruned trials show where they were stopped."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import yaml

from ..report_html import escape as _escape, fence as _fence, html_page, html_table as _html_table, img as _img, md as _md, md_table as _md_table
from ..transfer.report_plots import _render, short
from .config import RangeParam

COLOURS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "failed": "#d62728"}


def write_report(out: Path, *, sweep, rows: list[dict], best: Optional[dict], best_config: Optional[dict],
                 command: str) -> dict[str, Path]:
    header, table = _table(sweep, rows, best)
    headline = _headline(sweep, rows, best)
    best_yaml = yaml.safe_dump(best_config, sort_keys=False) if best_config is not None else None
    paths = {"html": out / "report.html", "md": out / "report.md"}
    paths["html"].write_text(_html(sweep, rows, header, table, headline, best_yaml, command), encoding="utf-8")
    paths["md"].write_text(_markdown(sweep, header, table, headline, best_yaml, command), encoding="utf-8")
    return paths


def table_lines(sweep, rows: list[dict], best: Optional[dict]) -> list[str]:
    """The trials table as fixed-width text, for the terminal."""
    header, table = _table(sweep, rows, best)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *table)]
    return ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
            for line in [header, *table]]


def _table(sweep, rows: list[dict], best: Optional[dict]) -> tuple[list[str], list[list[str]]]:
    keys = list(sweep.cfg.params)
    header = ["trial", *keys, "state", sweep.metric, "steps", "time"]
    table = []
    for r in rows:
        name = str(r["number"]) + (" default" if r["default"] else "") + (" best" if best is r else "")
        if r["state"] == "pruned" and r["last_value"] is not None:
            value = f"({r['last_value']:.4f} at step {r['last_step']})"
        else:
            value = "" if r["value"] is None else f"{r['value']:.4f}"
        state = r["state"] + (" (interrupted)" if r["interrupted"] else "")
        table.append([name, *(_value(r["params"].get(k)) for k in keys), state, value,
                      "" if r["steps"] is None else str(r["steps"]),
                      "" if r["seconds"] is None else f"{r['seconds']:.0f} s"])
    return header, table


def _headline(sweep, rows: list[dict], best: Optional[dict]) -> str:
    counts = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "failed")}
    done = f"{len(rows)} trials: {counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed."
    if best is None:
        return done + " No trial completed."
    line = f"{done} Best: trial {best['number']}, {sweep.metric} {best['value']:.4f}"
    default = next((r for r in rows if r["default"] and r["value"] is not None), None)
    if default is not None:
        line += (f"; the default config (trial {default['number']}) scored {default['value']:.4f}"
                 f" ({best['value'] - default['value']:+.4f})")
    return line + "."


# ---- HTML and Markdown ---------------------------------------------------------------------------
def _html(sweep, rows, header, table, headline, best_yaml, command) -> str:
    e = _escape
    title = f"Sweep: {sweep.kind} {sweep.cfg.base}"
    parts = [f"<h1>{e(title)}</h1>",
             f"<p class='meta'>{e(sweep.direction)} {e(sweep.metric)} over {e(', '.join(sweep.cfg.params))}; "
             f"{e(sweep.cfg.sampler)} sampler, {e(sweep.cfg.pruner)} pruner, seed {e(sweep.cfg.seed)}.</p>"]
    if command:
        parts.append(f"<pre>$ {e(command)}</pre>")
    parts += [f"<p class='headline'>{e(headline)}</p>", "<h2>Trials</h2>",
              _html_table(header, table, text_columns=(0, len(header) - 4)),
              "<p class='note'>A pruned trial shows the last validation value it reported, in brackets: "
              "it was stopped there because it was behind the median of earlier trials at that step.</p>"]
    if any(r["value"] is not None or r["last_value"] is not None for r in rows):
        parts += ["<h2>Metric by trial</h2>", _img(history_png(sweep, rows), "metric by trial"),
                  "<h2>Metric against each param</h2>", _img(slice_png(sweep, rows), "metric against each param")]
    if any(r["intermediate"] for r in rows):
        parts += ["<h2>Validation curves</h2>", _img(curves_png(sweep, rows), "validation curves")]
    if best_yaml is not None:
        reproduce = f"headstart {sweep.kind} {sweep.cfg.run_dir / 'best.yaml'}"
        parts += ["<h2>Best config (best.yaml)</h2>", f"<pre>{e(best_yaml)}</pre>",
                  f"<pre>$ {e(reproduce)}</pre>"]
    errors = [(r["number"], r["error"]) for r in rows if r["error"]]
    if errors:
        parts += ["<h2>Failed trials</h2>", _html_table(["trial", "error"], [[str(n), m] for n, m in errors], (0, 1))]
    parts += ["<h2>Sweep config</h2>", f"<pre>{e(json.dumps(sweep.cfg.model_dump(mode='json'), indent=2))}</pre>"]
    return html_page(title, "\n".join(parts))


def _markdown(sweep, header, table, headline, best_yaml, command) -> str:
    lines = [f"# Sweep: {_md(sweep.kind)} {_md(sweep.cfg.base)}", ""]
    if command:
        lines += [_fence(command), ""]
    lines += [_md(headline), "", *_md_table(header, table), "", "Plots are in report.html.", ""]
    if best_yaml is not None:
        lines += ["## Best config (best.yaml)", "", _fence(best_yaml, "yaml"), "",
                  _fence(f"headstart {sweep.kind} {sweep.cfg.run_dir / 'best.yaml'}"), ""]
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


# ---- plots ---------------------------------------------------------------------------------------
def _y(r: dict) -> Optional[float]:
    """A trial's point on a plot: its value, or for a pruned trial the last value it reported."""
    return r["value"] if r["value"] is not None else (r["last_value"] if r["state"] == "pruned" else None)


def history_png(sweep, rows: list[dict]) -> bytes:
    def draw(figure):
        ax = figure.add_subplot()
        _points(ax, rows, lambda r: r["number"])
        done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
        if done:
            pick = max if sweep.direction == "maximize" else min
            xs, best, running = [], [], None
            for r in done:
                running = r["value"] if running is None else pick(running, r["value"])
                xs.append(r["number"]), best.append(running)
            ax.step(xs, best, where="post", color="#444", linewidth=1, label="best so far")
        ax.set_xlabel("trial")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(sweep.metric)
        ax.legend(loc="best", fontsize=8)
    return _render(draw, size=(8.5, 3.8))


def slice_png(sweep, rows: list[dict]) -> bytes:
    keys = list(sweep.cfg.params)
    columns = min(3, len(keys))
    lines = math.ceil(len(keys) / columns)

    def draw(figure):
        for i, key in enumerate(keys):
            ax = figure.add_subplot(lines, columns, i + 1)
            space = sweep.cfg.params[key]
            if isinstance(space, RangeParam):
                _points(ax, rows, lambda r: r["params"].get(key))
                if space.log:
                    ax.set_xscale("log")
            else:  # choices: one position each, labelled with the choice
                labels = [str(c) for c in space]
                default = str(sweep.default_values.get(key))
                labels += [] if default in labels else [default]  # the default trial's value, off the list
                _points(ax, rows, lambda r: labels.index(str(r["params"][key]))
                        if str(r["params"].get(key)) in labels else None)
                ax.set_xticks(range(len(labels)), [short(x) for x in labels])
            ax.set_xlabel(short(key))
            ax.set_ylabel(short(sweep.metric))
    return _render(draw, size=(4.2 * columns, 3.4 * lines))


def curves_png(sweep, rows: list[dict]) -> bytes:
    def draw(figure):
        ax = figure.add_subplot()
        for r in rows:
            if not r["intermediate"]:
                continue
            steps, values = zip(*sorted(r["intermediate"].items()))
            ax.plot(steps, values, linestyle="--" if r["state"] == "pruned" else "-",
                    color=COLOURS.get(r["state"], "#888"), alpha=0.7, marker=".",
                    linewidth=2.2 if r["default"] else 1)
        ax.set_xlabel("training step")
        ax.set_ylabel(sweep.metric)
        ax.set_title("Validation during each trial (dashed: pruned; thick: the default config)")
    return _render(draw, size=(8.5, 3.8))


def _points(ax, rows: list[dict], x_of) -> None:
    for state, colour in COLOURS.items():
        points = [(x_of(r), _y(r)) for r in rows if r["state"] == state]
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if points:
            xs, ys = zip(*points)
            ax.scatter(xs, ys, color=colour, s=28, label=state, marker="x" if state == "pruned" else "o", zorder=3)
    default = [(x_of(r), _y(r)) for r in rows if r["default"] and _y(r) is not None and x_of(r) is not None]
    if default:
        ax.scatter(*zip(*default), s=140, facecolors="none", edgecolors="#2ca02c", linewidths=1.5,
                   label="default", zorder=4)
