"""The head-start report: HTML + Markdown + JSON from a results dict, safe with hostile strings.

The numbers here are fixtures for rendering, not measurements.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from headstart.transfer.report import write_report
from headstart.transfer.report_plots import projection_png

HOSTILE = "<script>alert(1)</script>"
BROKEN_MATHTEXT = "$\\x{$"  # matplotlib's default text parsing raises on this


def minimal_results() -> dict:
    return {
        "title": "SST-2: pre-trained vs scratch",
        "task": {"name": "sst2", "label_names": ["0", "1"], "n_train": 6920, "n_test": 1821},
        "budgets": [100, 1000],
        "arms": {"pretrained": {"100": [0.60, 0.62, 0.64], "1000": [0.80, 0.81, 0.82]},
                 "scratch": {100: [0.50, 0.52, 0.54], 1000: [0.70, 0.72, 0.74]}},
    }


def full_results() -> dict:
    results = minimal_results()
    results["title"] = f"Report for {HOSTILE}"
    results["task"]["label_names"] = ["negative", HOSTILE, BROKEN_MATHTEXT, "_private"]
    results["arms"]["baseline"] = {"100": [0.55], "1000": [0.66]}
    results.update(
        command=f"headstart compare --note '{HOSTILE}'",
        configs={"finetune": {"lr": 0.001, "note": "</pre><img src=x onerror=alert(2)>"}},
        curves={"pretrained": {"steps": [0, 100, 200], "accuracy": [0.3, 0.7, 0.8], "budget": 100},
                "scratch": {"steps": [0, 100, 200], "accuracy": [0.3, 0.4, 0.5], "budget": 100}},
        steps_to_target={"pretrained": 100, "scratch": None, "target": 0.7},
        probes={"pretrained": {"linear": 0.77, "knn": 0.71}, "random_init": {"linear": 0.52, "knn": 0.50}},
        logme={"step_000600": -0.512, f"ckpt {HOSTILE}": -0.693},
        projection={"points": [[0, 0], [1, 1], [2, 0], [0, 2]], "labels": [0, 1, 2, 3], "method": "pca"},
        costs={"pretrain": {"seconds": 241.0, "energy_kwh": None, "source": "wall clock"}},
    )
    return results


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    paths = write_report(tmp_path_factory.mktemp("report"), full_results())
    return paths, paths["html"].read_text(encoding="utf-8")


def test_all_three_files_are_written(full_report):
    paths, _ = full_report
    assert sorted(paths) == ["html", "json", "md"]
    assert all(path.exists() and path.stat().st_size > 0 for path in paths.values())


def test_user_strings_are_escaped_and_never_become_tags(full_report):
    _, page = full_report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "onerror=alert(2)>" not in page  # the config value stays text too
    assert "&lt;/pre&gt;&lt;img src=x onerror=alert(2)&gt;" in page


def test_every_image_is_an_embedded_png_and_nothing_is_fetched(full_report):
    _, page = full_report
    sources = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(sources) == page.count("<img") == 4  # efficiency, learning curves, probes, projection
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(?:src|href)\s*=\s*['\"]?(?:https?:|//)", page)
    assert "Content-Security-Policy" in page


def test_markdown_table_has_mean_and_interval_for_each_arm(full_report):
    paths, _ = full_report
    markdown = paths["md"].read_text(encoding="utf-8")
    # pretrained at 100: 62.0 ± t(0.975, 2) * 2.0 / sqrt(3) = 62.0 ± 4.97; scratch 52.0 ± 5.0; paired Δ +10.0 ± 0.0
    assert "| 100 | 62.0 ± 5.0 | 52.0 ± 5.0 | 55.0 (1 seed) | +10.0 ± 0.0 | +7.0 (n.s.) |" in markdown
    outside_code = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)  # code blocks show text as is
    assert "&lt;script&gt;" in outside_code and "<script" not in outside_code
    assert "| scratch | not reached |" in markdown


def test_labels_saved_is_computed_when_not_given_and_says_more_than_all(full_report):
    paths, _ = full_report
    rows = json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["rows"]
    # pretrained at 100 is 0.62: scratch (0.52 at 100, 0.72 at 1000) crosses halfway in log -> 10**2.5
    assert rows[0]["scratch_needs"] == pytest.approx(10**2.5)
    assert rows[0]["labels_saved"] == pytest.approx(10**2.5 - 100)
    assert rows[1]["scratch_needs"] is None  # 0.81 is beyond scratch's best 0.72
    assert "more than all (1,000)" in paths["md"].read_text(encoding="utf-8")


def test_json_holds_the_inputs_and_every_computed_number(full_report):
    paths, _ = full_report
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["arms"]["scratch"]["100"] == [0.50, 0.52, 0.54]
    row = document["summary"]["rows"][0]
    assert row["arms"]["pretrained"]["mean"] == pytest.approx(0.62)
    assert row["arms"]["pretrained"]["high"] - row["arms"]["pretrained"]["mean"] == pytest.approx(0.049683, abs=1e-6)
    assert row["delta"] == pytest.approx({"mean": 0.10, "low": 0.10, "high": 0.10, "n": 3, "paired": True,
                                          "significant": True})


def test_label_names_are_drawn_as_plain_text_not_mathtext():
    png = projection_png([[0, 0], [1, 1]], [0, 1], [BROKEN_MATHTEXT, "costs $5 or $10"], "pca")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_optional_sections_can_be_missing(tmp_path):
    results = minimal_results()
    results["labels_saved"] = {"100": None, "1000": None}
    paths = write_report(tmp_path, results)
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count("<img") == 1
    for absent in ("LogME", "Costs", "Learning curves", "probes", "Configuration"):
        assert absent not in page
    assert "more than all (1,000)" in page


def test_results_missing_required_keys_or_with_stray_budgets_are_refused(tmp_path):
    results = minimal_results()
    del results["budgets"]
    with pytest.raises(ValueError, match="missing budgets"):
        write_report(tmp_path, results)
    results = minimal_results()
    results["arms"]["scratch"][500] = [0.6]
    with pytest.raises(ValueError, match=r"\['scratch'\] has budget 500, not in results\['budgets'\]"):
        write_report(tmp_path, results)


def noisy_results() -> dict:
    """Pre-trained ahead of scratch on average, but not on every seed: the paired interval spans 0."""
    results = minimal_results()
    results["arms"] = {"pretrained": {"100": [0.60, 0.55, 0.66], "1000": [0.80, 0.81, 0.82]},
                       "scratch": {"100": [0.58, 0.57, 0.60], "1000": [0.70, 0.72, 0.74]},
                       "baseline": {"100": [0.61, 0.58, 0.62], "1000": [0.75, 0.76, 0.74]}}
    results["label_accounting"] = {"100": {"train": 80, "validation": 20, "counted": True},
                                   "1000": {"train": 800, "validation": 200, "counted": True}}
    return results


def test_a_difference_whose_interval_spans_zero_is_reported_as_not_significant(tmp_path):
    paths = write_report(tmp_path, noisy_results())
    markdown = paths["md"].read_text(encoding="utf-8")
    headline = next(line for line in markdown.splitlines() if line.startswith("With 100 labels"))
    assert "the difference from scratch is not significant (+2.0 points, 95% interval" in headline
    assert headline.endswith("No head start is claimed.")
    assert "scratch needs about" not in headline  # labels saved are claimed for a significant head start only
    row = json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["rows"][0]
    assert row["delta"]["significant"] is False and "labels_saved" not in row
    # pre-trained 60.3 ± t(0.975, 2) · 5.51 / √3; paired Δ = mean of (+2, −2, +6) ± 4.30 · 4.0 / √3
    assert "| 100 (80 + 20) | 60.3 ± 13.7 | 58.3 ± 3.8 | 60.3 ± 5.2 | +2.0 ± 9.9 (n.s.) | +0.0 ± 9.0 (n.s.) | — | n.s. |" in markdown


def test_the_headline_says_how_the_budget_was_spent(tmp_path):
    results = noisy_results()
    paths = write_report(tmp_path, results)
    assert "With 100 labels (80 to train, 20 to validate and choose the checkpoint)" in paths["md"].read_text("utf-8")
    results["label_accounting"] = {"100": {"train": 100, "validation": 872, "counted": False},
                                   "1000": {"train": 1000, "validation": 872, "counted": False}}
    paths = write_report(tmp_path, results)
    assert "With 100 training + 872 validation labels" in paths["md"].read_text("utf-8")


def test_calibration_is_a_row_per_arm_and_runs_without_it_show_a_dash(tmp_path):
    results = noisy_results()
    # Fine-tuned arms record test ECE per seed; a run finished before ECE was recorded has None, and the
    # baseline keeps no probabilities, so it has no entry.
    results["calibration"] = {"pretrained": {"100": [0.05, 0.07, 0.06], "1000": [0.02, None, 0.04]},
                              "scratch": {"100": [None, None, None], "1000": [0.10, 0.12, 0.11]}}
    paths = write_report(tmp_path, results)
    markdown = paths["md"].read_text(encoding="utf-8")
    assert "## Calibration: expected calibration error (%)" in markdown
    assert "| arm | 100 labels | 1,000 labels |" in markdown
    assert "| pretrained | 6.0 | 3.0 (2 of 3 seeds) |" in markdown
    assert "| scratch | — | 11.0 |" in markdown and "| baseline | — | — |" in markdown
    page = paths["html"].read_text(encoding="utf-8")
    assert "Calibration: expected calibration error (%)" in page and "<td>3.0 (2 of 3 seeds)</td>" in page
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["calibration"]
    assert summary["pretrained"]["100"] == pytest.approx(0.06) and summary["scratch"]["100"] is None

    results["calibration"]["scratch"]["100"] = [float("nan"), 0.1, 0.1]
    with pytest.raises(ValueError, match=r"results\['calibration'\]\['scratch'\]\['100'\] must be finite"):
        write_report(tmp_path, results)
