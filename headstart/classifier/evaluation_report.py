"""The evaluation report of a classifier on a test file: ``evaluation.json``, a self-contained
``evaluation.html``, and its two figures as ``confusion_matrix.png`` and ``reliability.png``.

``metrics`` is ``headstart.classifier.evaluation.classification_metrics``'s dict; ``details`` says what was
evaluated (run, test file, skipped inputs, ...), any JSON values.  The page is built like the compare
report, with its helpers: every string is escaped, plots are inline base64 PNGs drawn with math parsing
off, and a Content-Security-Policy forbids scripts and remote content.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from headstart.report_html import escape as _escape, html_page, html_table as _html_table, img as _img, json_safe as _json_safe, pct as _pct
from headstart.transfer.report_plots import _render, short

_NOTES = {
    "accuracy": "share of test examples whose most probable class is the true one; the interval is the 95% "
                "Wilson score interval for a proportion",
    "macro_f1": "unweighted mean of the per-class F1 over the classes present in the labels or the "
                "predictions: every class counts the same, however rare",
    "ece": "expected calibration error: the example-weighted mean gap between confidence and accuracy over "
           "15 equal-width confidence bins (0 = a confidence of p is right a share p of the time)",
    "log_loss": "mean cross-entropy of the true class in nats (probabilities floored at 1e-15); lower is "
                "better, log(number of classes) for a uniform guess",
}


def write_evaluation(out_dir: Path, metrics: dict, *, title: str, details: dict) -> dict[str, Path]:
    """Write evaluation.json, evaluation.html, confusion_matrix.png and reliability.png into ``out_dir``;
    returns their paths under the keys json, html, confusion_matrix and reliability."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {"confusion_matrix": confusion_matrix_png(metrics["confusion_matrix"]["counts"],
                                                        metrics["confusion_matrix"]["labels"]),
               "reliability": reliability_png(metrics["calibration_bins"], metrics["ece"])}
    paths = {"json": out_dir / "evaluation.json", "html": out_dir / "evaluation.html",
             **{name: out_dir / f"{name}.png" for name in figures}}
    for name, png in figures.items():
        paths[name].write_bytes(png)
    paths["html"].write_text(render_html(metrics, title=title, details=details, figures=figures), encoding="utf-8")
    document = _json_safe({"title": title, "details": details, **metrics})
    paths["json"].write_text(json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    return paths


def render_html(metrics: dict, *, title: str, details: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    e = _escape
    interval = metrics["accuracy_interval"]
    names = metrics["label_names"]
    parts = [f"<h1>{e(title)}</h1>",
             f"<p class='meta'>{metrics['n']:,} test examples, {len(names)} labels.</p>"]
    if details:
        parts.append(_html_table(["detail", "value"], [[key, _detail(value)] for key, value in details.items()],
                                 (0, 1)))
    parts += [f"<p class='headline'>Accuracy {_pct(metrics['accuracy'])}% (95% Wilson interval "
              f"{_pct(interval['low'])}–{_pct(interval['high'])}%), macro-F1 {_pct(metrics['macro_f1'])}%, "
              f"ECE {_pct(metrics['ece'])}%, log loss {metrics['log_loss']:.4g}.</p>",
              _html_table(["metric", "value", "what it is"], [
                  ["accuracy", f"{_pct(metrics['accuracy'])}% [{_pct(interval['low'])}, {_pct(interval['high'])}]",
                   _NOTES["accuracy"]],
                  ["macro-F1", f"{_pct(metrics['macro_f1'])}%", _NOTES["macro_f1"]],
                  ["ECE", f"{_pct(metrics['ece'])}%", _NOTES["ece"]],
                  ["log loss", f"{metrics['log_loss']:.4g}", _NOTES["log_loss"]]], (0, 2)),
              "<h2>Per class</h2>",
              _html_table(["label", "precision (%)", "recall (%)", "F1 (%)", "support"],
                          [[name, *(_pct(row[key]) for key in ("precision", "recall", "f1")), f"{row['support']:,}"]
                           for name, row in ((name, metrics["per_class"][name]) for name in names)]),
              "<p class='note'>Precision: share of the examples predicted as the label that have it; recall: share "
              "of the examples with the label predicted as it; support: examples with the label. A dash: nothing "
              "was predicted as the label, or no example has it.</p>",
              "<h2>Confusion matrix</h2>", _img(figures["confusion_matrix"], "confusion matrix"),
              "<p class='note'>Rows are the true labels, columns the predicted ones; cells give counts, shaded by "
              "their share of the row (the true label's examples).</p>",
              "<details><summary>counts as a table</summary>",
              _html_table(["true \\ predicted", *names],
                          [[name, *(f"{c:,}" for c in row)] for name, row in
                           zip(names, metrics["confusion_matrix"]["counts"])]),
              "</details>",
              "<h2>Calibration</h2>", _img(figures["reliability"], "reliability diagram"),
              "<p class='note'>Top: accuracy of the predictions in each bin of confidence (the probability of the "
              "predicted class) against the diagonal of perfect calibration; the hatched part is the gap to the "
              "bin's mean confidence. Bottom: examples per bin.</p>",
              "<details><summary>bins as a table</summary>",
              _html_table(["confidence", "examples", "mean confidence (%)", "accuracy (%)"],
                          [[f"({row['low']:.3f}, {row['high']:.3f}]", f"{row['count']:,}", _pct(row["confidence"]),
                            _pct(row["accuracy"])] for row in metrics["calibration_bins"]]),
              "</details>"]
    return html_page(title, "\n".join(parts))


# -------------------------------------------------------------------------------------------- figures

def confusion_matrix_png(counts: Sequence[Sequence[int]], label_names: Sequence[str]) -> bytes:
    """Heatmap of the confusion matrix: counts in the cells, shaded by share of the true class's row so a
    rare class's errors show as clearly as a frequent one's.  Text shrinks with the number of classes;
    past 40 classes the cells carry no numbers, past 100 the axes no names (the tables have both)."""
    counts = np.asarray(counts, dtype=np.int64)
    k = len(counts)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    tick_size = 10 if k <= 10 else 8 if k <= 20 else 6 if k <= 40 else 4
    cell_size = 10 if k <= 8 else 8 if k <= 15 else 6 if k <= 25 else 4 if k <= 40 else None
    side = min(3.5 + 0.42 * k, 20.0)

    def draw(figure):
        ax = figure.add_subplot()
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        if k <= 100:
            names = [short(name) for name in label_names]
            slanted = k > 3 or max(map(len, names)) > 12
            ax.set_xticks(range(k), names, fontsize=tick_size, rotation=45 if slanted else 0,
                          ha="right" if slanted else "center", rotation_mode="anchor")
            ax.set_yticks(range(k), names, fontsize=tick_size)
        else:
            ax.set_xticks([]), ax.set_yticks([])
        if cell_size:
            for (i, j), count in np.ndenumerate(counts):
                ax.text(j, i, f"{count:,}", ha="center", va="center", fontsize=cell_size,
                        color="white" if share[i, j] > 0.55 else "#1a1a1a")
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        figure.colorbar(image, ax=ax, shrink=0.8, label="share of the true label's examples")
    return _render(draw, size=(side + 1.2, side))


def reliability_png(bins: Sequence[Mapping], ece: float) -> bytes:
    """Reliability diagram: accuracy per confidence bin against the diagonal, the gap to each bin's mean
    confidence shaded, and below it the number of examples per bin."""
    lows = np.array([row["low"] for row in bins])
    widths = np.array([row["high"] - row["low"] for row in bins])
    counts = np.array([row["count"] for row in bins])
    filled = counts > 0
    accuracy = np.array([row["accuracy"] if row["count"] else 0.0 for row in bins])
    confidence = np.array([row["confidence"] if row["count"] else 0.0 for row in bins])

    def draw(figure):
        top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        top.bar(lows[filled], accuracy[filled], width=widths[filled], align="edge", color="#1f77b4",
                edgecolor="white", label="accuracy")
        # Hatched, not filled: an under-confident bin's gap lies over its accuracy bar and must stay visible.
        top.bar(lows[filled], (confidence - accuracy)[filled], bottom=accuracy[filled], width=widths[filled],
                align="edge", color="none", edgecolor="#d62728", hatch="///", linewidth=0.8,
                label="gap to mean confidence")
        top.plot([0, 1], [0, 1], linestyle="--", color="#444444", linewidth=1, label="perfect calibration")
        top.set_xlim(0, 1), top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.set_title(f"Reliability (ECE {_pct(ece)}%)")
        top.legend(loc="upper left", frameon=False)
        top.grid(alpha=0.3)
        bottom.bar(lows, counts, width=widths, align="edge", color="#7f7f7f", edgecolor="white")
        for low, width, count in zip(lows[filled], widths[filled], counts[filled]):
            bottom.text(low + width / 2, count, f"{count:,}", ha="center", va="bottom", fontsize=7)
        bottom.set_ylim(0, 1.3 * max(counts.max(), 1))
        bottom.set_ylabel("examples")
        bottom.set_xlabel("confidence (probability of the predicted label)")
    return _render(draw, size=(6.5, 6.5))


def _detail(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_json_safe(value), ensure_ascii=False)
