"""Adding a modality is one new folder plus one registration.  ``tests/toy_vectors`` (fixed-length float vectors
in a ``.npy``, pre-trained by masked-feature prediction) registers from outside the package, as a plug-in's
entry point would, and runs ``prepare`` -> ``pretrain`` -> ``finetune`` -> ``compare`` through the ``headstart``
command, with no edit to the core."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent
# The plug-in is imported first, as the `headstart.modalities` entry point of an installed package would be.
LAUNCH = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import toy_vectors; from headstart.cli import main; "
          "main(sys.argv[1:])")


def headstart(*args) -> str:
    done = subprocess.run([sys.executable, "-c", LAUNCH, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def two_blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """16-dim vectors of two classes that differ along one direction, on a low-rank structure."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    basis = np.random.default_rng(0).normal(size=(4, 16))
    x = rng.normal(size=(n, 4)) @ basis + np.outer(labels * 2.0 - 1.0, basis[0]) + 0.1 * rng.normal(size=(n, 16))
    return x.astype(np.float32), labels


@pytest.mark.slow
def test_a_modality_registered_from_outside_runs_prepare_pretrain_finetune_compare(tmp_path):
    unlabeled, _ = two_blobs(600, seed=1)
    np.save(tmp_path / "unlabeled.npy", unlabeled)
    for name, seed in (("task", 2), ("test", 3)):
        x, y = two_blobs(200, seed)
        np.save(tmp_path / f"{name}.npy", x)
        np.save(tmp_path / f"{name}-labels.npy", y)

    assert "vectors" in headstart("prepare", "--help")  # `headstart prepare vectors`, as the plug-in registered it
    headstart("prepare", "vectors", tmp_path / "unlabeled.npy", "--out", tmp_path / "data")
    for name in ("task", "test"):
        headstart("prepare", "vectors", tmp_path / f"{name}.npy", "--labels", tmp_path / f"{name}-labels.npy",
                  "--out", tmp_path / f"{name}-data")

    (tmp_path / "pretrain.yaml").write_text(f"""
run_dir: {tmp_path / 'run'}
data: {{path: {tmp_path / 'data'}}}
model: {{hidden: 32}}
objective: {{name: masked_features, mask_prob: 0.25}}
train: {{steps: 30, batch_size: 32, lr: 3.0e-3, warmup_steps: 3, eval_every: 15, eval_batches: 2, log_every: 10}}
""")
    headstart("pretrain", tmp_path / "pretrain.yaml")
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["split"] == "val"]
    assert losses[-1] < losses[0]  # masked-feature prediction learns

    task = f"{{train: {tmp_path / 'task-data'}, test: {tmp_path / 'test-data'}, budget: 40}}"
    (tmp_path / "finetune.yaml").write_text(f"""
run_dir: {tmp_path / 'ft'}
init: {tmp_path / 'run'}
task: {task}
train: {{steps: 40, batch_size: 16, lr: 1.0e-2, warmup_steps: 3, eval_every: 20, log_every: 20}}
""")
    headstart("finetune", tmp_path / "finetune.yaml")
    results = json.loads((tmp_path / "ft" / "results.json").read_text())
    assert results["labels"] + results["validation_labels"] == 40 and results["test"]["accuracy"] > 0.6

    (tmp_path / "compare.yaml").write_text(f"""
run_dir: {tmp_path / 'compare'}
pretrained: {tmp_path / 'run'}
task: {task}
budgets: [40]
seeds: [0, 1]
train: {{steps: 40, batch_size: 16, lr: 1.0e-2, warmup_steps: 3, eval_every: 20, log_every: 20}}
""")
    headstart("compare", tmp_path / "compare.yaml")
    report = json.loads((tmp_path / "compare" / "report" / "report.json").read_text())
    assert set(report["arms"]) == {"pretrained", "scratch", "baseline"}
    assert all(len(report["arms"][arm]["40"]) == 2 for arm in report["arms"])  # both seeds, every arm
    assert report["probes"] and report["logme"]  # frozen-feature probes and LogME of the plug-in's features too
    assert (tmp_path / "compare" / "report" / "report.html").is_file()
