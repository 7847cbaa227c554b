"""Training under torchrun: N processes with the same global batch train exactly as one process does.

The multi-process tests start ``torchrun`` (``python -m torch.distributed.run``) on the gloo backend,
which runs on CPUs, so they need no GPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.torch import load_file

from headstart.engine.data import EpochSampler
from headstart.engine.metrics import read_metrics
from headstart.text.windows import TokenWindows
from test_pretrain_cli import run_cli
from test_vision_pretrain import text  # noqa: F401 - the prepared character corpus fixture


def test_ranks_split_every_global_batch_with_no_overlap_and_no_gap():
    one = EpochSampler(50, 12, seed=3)
    ranks = [EpochSampler(50, 4, seed=3, rank=r, world_size=3) for r in range(3)]
    for index in range(10):  # across epoch boundaries too (50 is not a multiple of 12)
        together = np.concatenate([r.indices(index) for r in ranks])
        assert np.array_equal(together, one.indices(index))


class _Tokens:
    n_tokens, prepared_dir = 1000, "memory"

    def read(self, start, length):
        return np.arange(start, start + length)


def test_token_windows_draw_the_global_batch_once_and_each_rank_takes_its_slice():
    one = TokenWindows(_Tokens(), batch_size=6, length=5, seed=1, tokens_per_window=5)
    ranks = [TokenWindows(_Tokens(), batch_size=2, length=5, seed=1, tokens_per_window=5, rank=r, world_size=3)
             for r in range(3)]
    for index in range(4):
        together = np.concatenate([r.batch(index)["tokens"].numpy() for r in ranks])
        assert np.array_equal(together, one.batch(index)["tokens"].numpy())


def config(tmp_path, data, name, batch_size, parallel="ddp"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
run_dir: {tmp_path / name}
data: {{path: {data}, seq_len: 16}}
model: {{preset: gpt-nano, n_layer: 2, n_head: 2, d_model: 32, context_length: 16, dropout: 0.0}}
objective: {{name: causal_lm}}
train: {{steps: 6, batch_size: {batch_size}, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, eval_every: 3,
         eval_batches: 2, log_every: 1, parallel: {parallel}, progress: false}}
""")
    return path


def torchrun(processes: int, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={processes}", "-m", "headstart", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_train_exactly_as_one_with_the_same_global_batch(tmp_path, text, parallel):
    assert run_cli("pretrain", config(tmp_path, text, "one", batch_size=8))[0] == 0
    done = torchrun(2, "pretrain", config(tmp_path, text, "two", batch_size=4, parallel=parallel))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    assert [(r["step"], r["split"]) for r in one] == [(r["step"], r["split"]) for r in two]  # rank 0 alone logged
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) <= 1e-5, (a, b)
    assert two[0]["tokens_per_s"] > 0 and [r for r in two if r["split"] == "train"][0]["loss"] > 0
    weights = [load_file(str(run / "checkpoints" / "step_000006" / "model.safetensors")) for run in
               (tmp_path / "one", tmp_path / "two")]
    assert max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0]) <= 1e-5
    state = json.loads((tmp_path / "two" / "checkpoints" / "step_000006" / "state.json").read_text())
    assert state["world_size"] == 2

    # Resuming with another number of processes would change the global batch: refused in one line.
    code, out = run_cli("pretrain", config(tmp_path, text, "two", batch_size=4, parallel=parallel),
                        "--set", "train.steps=8", "--resume")
    assert code == 2 and "written by 2 process(es) and this run has 1" in out, out


@pytest.mark.slow
def test_a_sharded_run_resumes_from_its_full_tensor_checkpoint_exactly(tmp_path, text):
    cfg = config(tmp_path, text, "fsdp", batch_size=4, parallel="fsdp")
    done = torchrun(2, "pretrain", cfg)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoints = tmp_path / "fsdp" / "checkpoints"
    uninterrupted = load_file(str(checkpoints / "step_000006" / "model.safetensors"))
    done = torchrun(2, "pretrain", cfg, "--resume-from", checkpoints / "step_000003")
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = load_file(str(checkpoints / "step_000006" / "model.safetensors"))
    assert max((uninterrupted[k] - resumed[k]).abs().max().item() for k in resumed) <= 1e-6
