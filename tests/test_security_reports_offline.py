"""Security, the parts a user sees (issue #8): reports show every user-provided string as text, and a
whole run needs no network.  The load paths and archives are in test_security.py."""
from __future__ import annotations

import html.parser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from headstart.transfer.report import write_report

from cli_checks import finetune_config
from test_pretrain_cli import CORPUS, write_config

PACKAGE = Path(sys.modules["headstart"].__file__).parent


# ---- reports show user strings as text -----------------------------------------------------------

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "'><svg onload=alert(3)>",
           "</pre></code><iframe src=javascript:alert(4)>", "$\\x{$ *bold* `tick`"]
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "b", "code", "pre",
                "table", "thead", "tbody", "tr", "th", "td", "img", "details", "summary"}


class Tags(html.parser.HTMLParser):
    """The tags, attributes and text a browser would see in a page."""

    def __init__(self, page: str):
        super().__init__()
        self.tags, self.attributes, self.text = [], [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data):
        self.text.append(data)


def assert_shown_as_text(page: str, hostile: list[str]) -> None:
    seen = Tags(page)
    assert set(seen.tags) <= ALLOWED_TAGS, set(seen.tags) - ALLOWED_TAGS
    assert not [name for name, _ in seen.attributes if name.startswith("on")]
    assert not [value for _, value in seen.attributes if value and "javascript:" in value]
    text = "".join(seen.text)
    for string in hostile:
        assert string not in page, f"{string!r} is in the page unescaped"
        assert string in text, f"{string!r} is not shown as text"


def hostile_results() -> dict:
    a, b, c, d, e = HOSTILE
    return {
        "title": f"Head start of {a} on {b}",
        "task": {"name": b, "label_names": [a, b, c, d, e], "n_train": 100, "n_test": 50},
        "budgets": [10, 100],
        "arms": {"pretrained": {"10": [0.6, 0.7], "100": [0.8, 0.9]}, "scratch": {"10": [0.4, 0.5], "100": [0.6, 0.7]},
                 "baseline": {"10": [0.5], "100": [0.6]}, c: {"10": [0.3], "100": [0.4]}},
        "arm_notes": {"baseline": d, c: e},
        "command": f"headstart compare {a} --set note={b}",
        "configs": {"compare": {"task": {"train": a}, b: [c, d]}},
        "curves": {"pretrained": {"steps": [0, 5], "accuracy": [0.3, 0.8], "budget": 100},
                   a: {"steps": [0, 5], "accuracy": [0.2, 0.5], "budget": 100}},
        "steps_to_target": {"pretrained": 5, a: None, "target": 0.7},
        "probes": {f"ckpt {a}": {"linear": 0.7, b: 0.6}, "random_init": {"linear": 0.5}},
        "logme": {f"runs/{b}/step_000600": -0.5, c: -0.7},
        "projection": {"points": [[0, 0], [1, 1], [2, 0], [0, 2], [1, 2]], "labels": [0, 1, 2, 3, 4], "method": d},
        "costs": {e: {"seconds": 12.0, "energy_kwh": None, "source": a}},
        "zero_shot": {"accuracy": 0.5, "n": 50, "templates": [f"a photo of {{}} {b}"], "split": c},
        "retrieval": {"i2t_R@1": 0.5, "t2i_R@1": 0.4},
        "pretraining_curves": {"objective": a, "target_loss": 2.0, "curves": {b: {"steps": [0, 5], "loss": [3.0, 1.9]}},
                               "steps_to_target": {b: 5}, "seconds": {b: 30.0}},
        "contamination": {"corpus": a, "split": b, "file": c, "examples": 2,
                          "contaminated": [{"line": 3, "text": d, "document": e, "ngram": a, "short": True}]},
    }


def test_the_report_shows_every_user_string_as_text(tmp_path):
    paths = write_report(tmp_path / "report", hostile_results())
    assert_shown_as_text(paths["html"].read_text(encoding="utf-8"), HOSTILE[:4])
    markdown = paths["md"].read_text(encoding="utf-8")
    # Markdown renderers pass raw HTML through: outside the command's code fence it is escaped too.
    outside_fences = markdown.split("```")[::2]
    assert not any(tag in part for part in outside_fences for tag in ("<script", "<img", "<svg", "<iframe"))
    assert json.loads(paths["json"].read_text())["task"]["label_names"] == HOSTILE  # the record stays exact


def test_the_scan_of_a_page_sees_markup_that_got_through():
    with pytest.raises(AssertionError):
        assert_shown_as_text(f"<p>{HOSTILE[0]}</p>", HOSTILE[:1])
    with pytest.raises(AssertionError):
        assert_shown_as_text("<p><img src=x onerror=alert(2)></p>", [])


# ---- an end-to-end run, offline, with hostile names ----------------------------------------------

# HTTP clients and the hub libraries that download.  (torch imports urllib.request for torch.hub, and
# TensorBoard imports fsspec for its file API, so those two are present in every run; the socket guard
# below is what shows they stay unused.)
NETWORK_MODULES = ("requests", "httpx", "urllib3", "aiohttp", "huggingface_hub", "transformers", "datasets")
OFFLINE_RUN = r'''
import json, socket, sys, urllib.request
from pathlib import Path

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args)[:120])
    raise OSError("network access during a headstart run")

# The Python entry points, and the audit events the C socket code raises (so a saved reference to the
# original function, or a C extension, cannot get round the patch unnoticed).
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = socket.gethostbyname = refuse

def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
                 "urllib.Request", "http.client.connect"):
        attempts.append(event)
        raise OSError(f"network access during a headstart run: {event}")

sys.addaudithook(audit)
for attempt in (lambda: urllib.request.urlopen("http://example.com", timeout=1),
                lambda: socket.create_connection(("example.com", 80), timeout=1)):
    try:
        attempt()
        raise SystemExit("the guard let a connection through")
    except OSError:
        pass
guard_works, attempts[:] = len(attempts) == 2, []

from headstart.cli import main
root = Path(sys.argv[1])
for argv in json.loads((root / "commands.json").read_text()):
    try:
        main(argv)
    except SystemExit as exit_:
        if exit_.code:
            raise
print("RESULT " + json.dumps({"guard_works": guard_works, "attempts": attempts,
                              "modules": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
''' % (NETWORK_MODULES,)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """prepare, pretrain, generate, finetune, rank and compare in a fresh process with the network cut,
    on a task whose labels, file names and run folders are hostile strings."""
    root = tmp_path_factory.mktemp("offline")
    (root / "corpus.txt").write_text(CORPUS)
    run = root / HOSTILE[1] / "run"  # '"><img src=x onerror=alert(2)>/run'
    report_dir = root / "<script>alert(1)<" / "script>" / "compare"  # the path reads <script>alert(1)</script>
    train = root / "train <svg onload=alert(3)>.tsv"
    labels = [HOSTILE[0], HOSTILE[3]]
    train.write_text("label\ttext\n" + "".join(f"{labels[i % 2]}\t{'a fine fox' if i % 2 else 'a lazy dog'} {i}\n"
                                                for i in range(40)))
    test = root / "test <svg onload=alert(4)>.tsv"  # held out: a task may not test on its training file
    test.write_text("label\ttext\n" + "".join(f"{labels[i % 2]}\t{'a fine fox' if i % 2 else 'a lazy dog'} {i}\n"
                                               for i in range(40, 50)))
    pretrain = write_config(root, root / "data", "causal_lm", steps=3)
    pretrain.write_text(yaml.safe_dump({**yaml.safe_load(pretrain.read_text()), "run_dir": str(run)}))
    finetune = finetune_config(root, run, train)
    compare = root / "compare.yaml"
    compare.write_text(yaml.safe_dump({"run_dir": str(report_dir), "pretrained": str(run),
                                       "task": {"train": str(train), "test": str(test)},
                                           "budgets": ["all"], "seeds": [0],
                                       "probe_examples": 20,
                                       "train": {"steps": 2, "batch_size": 8, "eval_every": 2, "warmup_steps": 1}}))
    commands = [["prepare", "text", str(root / "corpus.txt"), "--out", str(root / "data"), "--tokenizer", "char",
                 "--workers", "0"],
                ["pretrain", str(pretrain)], ["generate", str(run), "--max-new-tokens", "5"],
                ["finetune", str(finetune)], ["rank", str(run), "--train", str(train)], ["compare", str(compare)]]
    (root / "commands.json").write_text(json.dumps(commands))
    proc = subprocess.run([sys.executable, "-c", OFFLINE_RUN, str(root)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.rsplit("RESULT ", 1)[1])
    return result, report_dir / "report" / "report.html"


@pytest.mark.slow
def test_a_whole_run_needs_no_network(offline_run):
    result, _ = offline_run
    assert result["guard_works"]  # the guard refused the two connections it was shown first
    assert result["attempts"] == []
    assert result["modules"] == []  # no HTTP client or hub library was even imported


@pytest.mark.slow
def test_a_compare_report_shows_hostile_labels_and_paths_as_text(offline_run):
    _, report = offline_run
    page = report.read_text(encoding="utf-8")
    assert_shown_as_text(page, [HOSTILE[0], HOSTILE[3]])  # the two labels
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "onerror=alert(2)&gt;" in page  # the paths too
