"""Trains the tiny model for STEPS steps in a process of its own and prints its resident memory, for
tests/test_faults.py's memory test.

A process of its own because a bound on memory growth measured inside the test run holds only for the
process it was tuned in: after 400 other tests the allocator's free lists and the matmul library's
caches (MKL on Intel, oneDNN on AMD: the kernel path is chosen per CPU vendor) are in whatever state
those tests left, and an Intel run saw 9.7 MB of growth that this model does not cause.  Here every run
starts from the same state on any CPU, and the growth is measured from a warm baseline (step WARM, after
the first evaluation and checkpoint have allocated what they keep).

Prints one JSON object: {"cpu": ..., "rss": {step: bytes}}.
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import psutil
import torch

from headstart.engine import Trainer, TrainConfig
from helpers import tiny_objective


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(run_dir: Path, steps: int, samples: list[int]) -> None:
    process, rss = psutil.Process(), {}

    def sample(step: int) -> None:  # called before each step: 0 .. steps - 1
        if step in samples:
            rss[step] = process.memory_info().rss

    torch.set_num_threads(1)  # steady step times on a busy 2-core machine
    objective, train_src, val_src = tiny_objective()
    cfg = TrainConfig(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=500, eval_batches=2,
                      log_every=1, progress=False)  # metrics (jsonl and TensorBoard) written every step
    Trainer(objective, train_src, val_src, cfg, run_dir, run_config={"train": cfg.model_dump(mode="json")},
            on_step=sample).fit()
    print(json.dumps({"cpu": cpu_name(), "rss": rss}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), [int(step) for step in sys.argv[3].split(",")])
