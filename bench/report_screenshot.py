"""Render the head-start report in headless Chromium and check that it shows what it should.

    .venv/bin/python bench/report_screenshot.py [--out DIR] [--report path/to/report.html]

The numbers below are a RENDERING FIXTURE, made up to exercise every section of the report (several
arms, a single-seed budget, a budget scratch never catches up with, a hostile label name, a `$` that
mathtext would parse).  They are not measurements of anything.

Checks: the screenshot is not blank; in the DOM Chromium built, every <img> is a PNG data URI that
decodes to a non-empty image, there is no <script> element, and the label ``<script>alert(1)</script>``
is present as text.  ``--report`` checks a real report (``headstart compare``'s) instead of the fixture;
the hostile-label check then does not apply.  Needs a
``chromium`` binary (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import base64
import io
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from headstart.transfer.report import write_report

HOSTILE_LABEL = "<script>alert(1)</script>"
LABEL_NAMES = ["negative", "positive & mixed", HOSTILE_LABEL, "costs $5 or $10", "_underscore", "neutral"]


def fixture_results() -> dict:
    """Fixed, made-up numbers that exercise every section (NOT measurements)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(len(LABEL_NAMES), 2))
    labels = np.repeat(np.arange(len(LABEL_NAMES)), 40)
    points = centres[labels] + rng.normal(size=(len(labels), 2))
    return {
        "title": "RENDERING FIXTURE — not a measurement: pre-trained vs scratch on <toy> task",
        "command": "headstart compare configs/toy.yaml --budgets 50,100,500,1000,5000 --seeds 3 "
                   "--set note='<b>not bold</b>'",
        "configs": {"pretrain": {"model": {"preset": "bert-nano"}, "train": {"steps": 600}},
                    "finetune": {"lr": 3e-4, "epochs": 10, "note": "</pre><script>alert(2)</script>"}},
        "task": {"name": "toy-6-way <fixture>", "label_names": LABEL_NAMES, "n_train": 5452, "n_test": 500},
        "budgets": [50, 100, 500, 1000, 5000],
        "arms": {
            "pretrained": {"50": [0.61, 0.64, 0.60], "100": [0.70, 0.72, 0.69], "500": [0.81, 0.80, 0.82],
                           "1000": [0.85, 0.86, 0.84], "5000": [0.90, 0.91, 0.90]},
            "scratch": {"50": [0.31, 0.35, 0.28], "100": [0.40, 0.44, 0.38], "500": [0.58, 0.61, 0.57],
                        "1000": [0.66, 0.68, 0.65], "5000": [0.80, 0.82, 0.81]},
            "baseline": {"50": [0.42], "100": [0.50], "500": [0.66], "1000": [0.71], "5000": [0.79]},
        },
        "curves": {
            "pretrained": {"steps": list(range(0, 1001, 50)),
                           "accuracy": [0.2 + 0.65 * (1 - np.exp(-s / 150)) for s in range(0, 1001, 50)]},
            "scratch": {"steps": list(range(0, 1001, 50)),
                        "accuracy": [0.2 + 0.48 * (1 - np.exp(-s / 400)) for s in range(0, 1001, 50)]},
        },
        "steps_to_target": {"pretrained": 250, "scratch": None, "target": 0.7},
        "probes": {"pretrained": {"linear": 0.78, "knn": 0.71}, "random_init": {"linear": 0.41, "knn": 0.33}},
        "logme": {"step_000600 <best>": -0.512, "step_000300": -0.587, "random_init": -0.693},
        "projection": {"points": points.round(3).tolist(), "labels": labels.tolist(), "method": "pca"},
        "costs": {"pretrain": {"seconds": 241.0, "energy_kwh": None, "source": "wall clock"},
                  "finetune (45 runs)": {"seconds": 3725.5, "energy_kwh": 0.0123, "source": "RAPL estimate"}},
    }


class _DomScan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.scripts, self.text = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


def _decodes(src: str) -> bool:
    """The data URI's PNG opens, is at least 50x50 and is not one flat colour."""
    try:
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        image.load()
    except Exception:  # any decoding failure means Chromium would show a broken image
        return False
    return min(image.size) >= 50 and np.asarray(image.convert("L")).std() > 1


def chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if binary is None:
        sys.exit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run",
                   f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="headstart-report-")))
    parser.add_argument("--report", type=Path, help="an existing report.html to check instead of the fixture")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    html = args.report if args.report else write_report(out, fixture_results())["html"]
    url = html.resolve().as_uri()
    screenshot = out / "report.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1200,4200", "--hide-scrollbars", url)
    dom = chromium("--dump-dom", url).stdout

    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=np.float64)
    scan = _DomScan()
    scan.feed(dom)
    expected_images = html.read_text(encoding="utf-8").count("<img ")
    checks = {
        "screenshot not blank (pixel std > 10)": pixels.std() > 10,
        f"all {expected_images} <img> in the DOM": len(scan.images) == expected_images >= 4,
        "every <img> is a PNG data URI": all(s.startswith("data:image/png;base64,") for s in scan.images),
        "every <img> decodes to a non-empty picture": all(_decodes(s) for s in scan.images),
        "no <script> element": scan.scripts == 0,
    }
    if not args.report:
        checks["the <script> label is shown as text"] = HOSTILE_LABEL in "".join(scan.text)
    for name, passed in checks.items():
        print(f"{'ok  ' if passed else 'FAIL'} {name}")
    print(f"screenshot: {screenshot} ({pixels.shape[1]}x{pixels.shape[0]}, pixel std {pixels.std():.1f})")
    print(f"report: {html}")
    print("reproduce: .venv/bin/python bench/report_screenshot.py --out", out,
          *(["--report", str(args.report)] if args.report else []))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
