"""The report's figures, as PNG bytes: label efficiency, learning curves, probes, 2-D projection.

Figures are built with ``matplotlib.figure.Figure`` and rendered by the Agg canvas that ``savefig``
picks for PNG, never through pyplot: writing a report from a notebook must not change the notebook's
backend or leave figures open.  Every text is drawn with math parsing off, so a label name such as
``$\\x{$`` is shown as typed instead of being parsed (or failing to parse) as mathtext.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from headstart.transfer.stats import mean_ci

ARM_COLOURS = {"pretrained": "#1f77b4", "scratch": "#ff7f0e", "baseline": "#7f7f7f",
               "random_init": "#d62728"}
_OTHER_COLOURS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
_PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False, "font.size": 10}
_MAX_LEGEND_CLASSES = 20
_MAX_LABEL_CHARS = 32


def arm_colour(arm: str, position: int) -> str:
    return ARM_COLOURS.get(arm, _OTHER_COLOURS[position % len(_OTHER_COLOURS)])


def short(text: str) -> str:
    """A label cut to fit a legend or an axis: the full text is in the report's tables."""
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_LABEL_CHARS else text[:_MAX_LABEL_CHARS - 1] + "…"


def label_efficiency_png(budgets: Sequence[int], arms: Mapping[str, Mapping[str, list[float]]]) -> bytes:
    """Accuracy (%) against label budget on a log axis: mean line, 95% CI band, one dot per seed."""
    def draw(figure):
        ax = figure.add_subplot()
        for position, (arm, by_budget) in enumerate(arms.items()):
            colour = arm_colour(arm, position)
            xs, means, lows, highs = [], [], [], []
            for budget in budgets:
                values = by_budget.get(str(budget))
                if not values:
                    continue
                ci = mean_ci(values)
                xs.append(budget)
                means.append(100 * ci.mean), lows.append(100 * ci.low), highs.append(100 * ci.high)
                ax.scatter([budget] * len(values), 100 * np.asarray(values), s=16, color=colour,
                           alpha=0.55, linewidths=0, zorder=4)
            if xs:
                ax.plot(xs, means, marker="o", color=colour, label=short(arm), zorder=3)
                ax.fill_between(xs, lows, highs, color=colour, alpha=0.15, linewidth=0)
        _budget_axis(ax, budgets)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("Accuracy by number of labels (mean, 95% CI band, dots = seeds)")
        _legend(ax)
    return _render(draw, size=(8.5, 4.6))


def learning_curves_png(curves: Mapping[str, Mapping], target: float | None, *, key: str = "accuracy",
                        ylabel: str = "validation accuracy (%)", percent: bool = True) -> bytes:
    """``curves[name][key]`` against training step, one line per name, with the target as a line.
    Accuracy by default (in %); ``key="loss", percent=False`` for pre-training loss curves."""
    scale = 100 if percent else 1

    def draw(figure):
        ax = figure.add_subplot()
        for position, (arm, curve) in enumerate(curves.items()):
            steps, values = curve.get("steps", []), curve.get(key, [])
            if steps:
                ax.plot(steps, scale * np.asarray(values, dtype=float), color=arm_colour(arm, position),
                        label=short(arm), marker="." if len(steps) < 40 else None)
        if target is not None:
            shown = f"{100 * target:.1f}%" if percent else f"{target:.3g}"
            ax.axhline(scale * target, color="#444444", linestyle="--", linewidth=1, label=f"target {shown}")
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        _legend(ax)
    return _render(draw, size=(8.5, 4.2))


def probes_png(probes: Mapping[str, Mapping[str, float]]) -> bytes:
    """Grouped bars: one group per probe kind (linear, kNN), one bar per model."""
    models = list(probes)
    kinds = list(dict.fromkeys(kind for scores in probes.values() for kind in scores))

    def draw(figure):
        ax = figure.add_subplot()
        width = 0.8 / max(len(models), 1)
        for position, model in enumerate(models):
            xs = [i + (position - (len(models) - 1) / 2) * width for i in range(len(kinds))]
            heights = [100 * probes[model].get(kind, np.nan) for kind in kinds]
            bars = ax.bar(xs, heights, width * 0.95, color=arm_colour(model, position), label=short(model))
            ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=9)
        ax.set_xticks(range(len(kinds)), [short(kind) for kind in kinds])
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 108)  # room for the value labels above a bar at 100%
        ax.grid(axis="y", alpha=0.3)
        _legend(ax)
    return _render(draw, size=(7.0, 3.8))


def projection_png(points: Sequence[Sequence[float]], labels: Sequence[int | str],
                   label_names: Sequence[str], method: str) -> bytes:
    """Scatter of the 2-D projection, coloured by label, with a legend of label names."""
    xy = np.asarray(points, dtype=float).reshape(-1, 2)
    names = [label_names[label] if isinstance(label, int) and 0 <= label < len(label_names) else str(label)
             for label in labels]
    present = set(names)
    classes = [n for n in label_names if n in present] + sorted(present - set(label_names))

    def draw(figure):
        import matplotlib

        ax = figure.add_subplot()
        palette = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        size = 14 if len(xy) < 2000 else 4
        handles = []
        for position, name in enumerate(classes):
            chosen = np.array([n == name for n in names])
            handles.append(ax.scatter(xy[chosen, 0], xy[chosen, 1], s=size, alpha=0.75, linewidths=0,
                                      color=palette(position % palette.N)))
        shown = min(len(classes), _MAX_LEGEND_CLASSES)
        title = "label" if shown == len(classes) else f"label (first {shown} of {len(classes)})"
        # Handles and labels are passed explicitly: matplotlib would silently drop a label name that
        # starts with "_" from an automatic legend.
        ax.legend(handles[:shown], [short(name) for name in classes[:shown]], loc="upper left",
                  bbox_to_anchor=(1.01, 1), frameon=False, markerscale=2, title=title)
        ax.set_xticks([]), ax.set_yticks([])  # projected coordinates have no units worth reading
        ax.set_xlabel(f"{method.upper()} 1"), ax.set_ylabel(f"{method.upper()} 2")
    return _render(draw, size=(7.5, 5.5))


def _budget_axis(ax, budgets: Sequence[int]) -> None:
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_xticks(list(budgets), [f"{b:,}" for b in budgets], rotation=45 if len(budgets) > 8 else 0)
    ax.xaxis.set_minor_locator(NullLocator())  # only the budgets measured, no 2x10^2 clutter
    ax.set_xlabel("labeled examples (log scale)")
    ax.grid(alpha=0.3)


def _legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _render(draw, size: tuple[float, float]) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_PLAIN_TEXT):
        figure = Figure(figsize=size, dpi=100, layout="constrained")
        draw(figure)
        buffer = io.BytesIO()
        # No "Software" stamp: re-rendering the same results on the same install gives the same bytes.
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
