"""Trains the tiny model in forked children, for tests/test_faults.py to kill.

Importing torch takes seconds, which twenty kill -9 trials cannot each pay: this process imports once
and runs no torch operation itself (so forking it is safe).  For each line ``RUN_DIR STEPS
CHECKPOINT_EVERY`` read from stdin it forks a child that resumes RUN_DIR from its latest checkpoint, if
there is one, and trains to STEPS; it prints the child's pid, then, once the child has ended, its exit
status (-9: killed).  The child's errors go to stderr.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (the optimizer imports it on first use: paid once, here, not in each child)
import torch.utils.tensorboard  # noqa: F401  (and the metrics logger this)

import headstart.engine.trainer
from headstart.engine import Checkpointer, Trainer, TrainConfig
from helpers import tiny_objective

# MFU is not under test here, and measuring the CPU's peak would take half a second in every child.
headstart.engine.trainer.device_peak_flops = lambda device: (1e11, "a fixed figure for the fault tests")


def train(run_dir: Path, steps: int, checkpoint_every: int) -> None:
    torch.set_num_threads(1)  # the same arithmetic in every child, and the other core for the test
    # d_model 128: 4.7 MB checkpoints, whose writing takes most of each step.
    objective, train_src, val_src = tiny_objective(d_model=128)
    cfg = TrainConfig(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=5, eval_batches=1,
                      log_every=1, progress=False, checkpoint_every=checkpoint_every, keep_last=2)
    trainer = Trainer(objective, train_src, val_src, cfg, run_dir, run_config={"train": cfg.model_dump(mode="json")})
    latest = Checkpointer(run_dir / "checkpoints").latest()
    if latest is not None:
        trainer.resume(latest)
    trainer.fit()


def main() -> None:
    for line in sys.stdin:
        run_dir, steps, checkpoint_every = line.split()
        pid = os.fork()
        if pid == 0:
            signal.alarm(120)  # a watchdog: a hung child ends (status -14) instead of hanging the test
            code = 0
            try:
                train(Path(run_dir), int(steps), int(checkpoint_every))
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)


if __name__ == "__main__":
    main()
