"""The training engine: exact resume, graceful stop, atomic checkpoints (crashes, full disks and non-finite
losses: test_faults.py)."""
from __future__ import annotations

import errno
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from headstart.engine import Checkpointer, Trainer, TrainConfig
from headstart.engine.metrics import read_metrics
from headstart.engine.optim import lr_at
from headstart.errors import HeadstartError
from helpers import tiny_objective


def make_trainer(run_dir, steps, kind="causal", **train):
    objective, train_src, val_src = tiny_objective(kind)
    settings = dict(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=3, eval_batches=2,
                    log_every=1, progress=False)
    cfg = TrainConfig(**{**settings, **train})
    run_config = {"train": cfg.model_dump(mode="json")}
    return Trainer(objective, train_src, val_src, cfg, run_dir, run_config=run_config)


def params(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def train_losses(run_dir):
    return [(r["step"], r["loss"]) for r in read_metrics(run_dir, "train")]


@pytest.mark.parametrize("kind", ["causal", "masked"])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, kind):
    # With dropout on and masked-LM masking drawn from the global RNG, only a full restore of
    # weights, optimizer, RNG states and data position gives the same bits.
    straight = make_trainer(tmp_path / "straight", steps=8, kind=kind)
    straight.fit()

    first = make_trainer(tmp_path / "split", steps=8, kind=kind)
    assert first.fit(stop_at=4).interrupted
    second = make_trainer(tmp_path / "split", steps=8, kind=kind)
    second.resume(Checkpointer(tmp_path / "split" / "checkpoints").latest())
    assert second.step == 4
    second.fit()

    a, b = params(straight), params(second)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert train_losses(tmp_path / "straight") == train_losses(tmp_path / "split")


def test_resume_refuses_a_changed_config(tmp_path):
    make_trainer(tmp_path, steps=3).fit()
    changed = make_trainer(tmp_path, steps=6, lr=1e-3)
    with pytest.raises(HeadstartError, match="config changed in train.lr"):
        changed.resume(Checkpointer(tmp_path / "checkpoints").latest())


def test_sigterm_saves_a_checkpoint_and_resume_finishes_the_same_run(tmp_path):
    straight = make_trainer(tmp_path / "straight", steps=6)
    straight.fit()

    stopped = make_trainer(tmp_path / "stopped", steps=6)
    source_batch = stopped.train_data.batch
    def batch_then_sigterm(index):
        if index == 2:  # preemption arrives during step 3
            os.kill(os.getpid(), signal.SIGTERM)
        return source_batch(index)
    stopped.train_data.batch = batch_then_sigterm
    result = stopped.fit()
    assert result.interrupted and result.step == 3
    assert result.last_checkpoint.name == "step_000003"

    resumed = make_trainer(tmp_path / "stopped", steps=6)
    resumed.resume(result.last_checkpoint)
    resumed.fit()
    a, b = params(straight), params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, steps=6)
    trainer.cfg.steps = 3
    trainer.fit()
    ck = Checkpointer(tmp_path / "checkpoints")
    before = ck.latest()

    import headstart.engine.checkpoint as checkpoint_module
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint_module, "save_file", disk_full)
    trainer.cfg.steps = 6
    with pytest.raises(HeadstartError, match="No space left on device.*previous checkpoint is intact"):
        trainer.fit()
    assert ck.latest() == before
    assert not list((tmp_path / "checkpoints").glob(".step_*"))  # no half-written directory left


def test_checkpoints_hold_no_pickle_and_keys_without_compile_prefix(tmp_path):
    trainer = make_trainer(tmp_path, steps=3)
    trainer.forward = torch.compile(trainer.objective, backend="eager")  # wrapper adds _orig_mod.
    trainer.fit()
    last = Checkpointer(tmp_path / "checkpoints").latest()
    names = sorted(p.name for p in last.iterdir())
    assert names == ["model.safetensors", "optimizer.json", "optimizer.safetensors", "rng.safetensors", "state.json"]
    keys = load_file(last / "model.safetensors").keys()
    assert keys and not any("_orig_mod" in k for k in keys)


def test_keep_last_prunes_old_checkpoints_but_keeps_the_best(tmp_path):
    trainer = make_trainer(tmp_path, steps=12, keep_last=1, checkpoint_every=1)
    trainer.fit()
    ck = Checkpointer(tmp_path / "checkpoints")
    kept = {p.name for p in ck.steps()}
    assert ck.latest().name == "step_000012"
    assert kept == {"step_000012", ck.best().name}


def test_learning_rate_warms_up_then_decays_to_min_lr():
    cfg = TrainConfig(steps=100, batch_size=1, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    lrs = [lr_at(s, cfg) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(1e-4)


def test_a_time_budget_plans_the_steps_that_fit_and_stops_in_time(tmp_path, monkeypatch):
    """A run given 20 steps' worth of time plans about that many steps, with its schedule over them."""
    import time
    from types import SimpleNamespace

    import headstart.engine.trainer as trainer_module
    clock = {"now": 0.0}  # the trainer's clock only: the peak-FLOP/s probe keeps the real one
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: clock["now"], time=time.time,
                                                                monotonic=time.monotonic, sleep=time.sleep))
    trainer = make_trainer(tmp_path / "run", steps=1000, time_budget="2m", eval_every=1000, eval_batches=1)
    step = trainer._train_step

    def one_second_step():  # every optimizer step takes one (fake) second
        clock["now"] += 1.0
        return step()
    monkeypatch.setattr(trainer, "_train_step", one_second_step)
    result = trainer.fit()
    assert trainer.cfg.time_budget == 120
    assert 110 <= result.step <= 120  # 120 s at 1 s a step, less the estimated evaluation time
    assert trainer.cfg.steps == result.step  # the plan is what ran: the cosine schedule ended at min_lr
    assert lr_at(result.step - 1, trainer.cfg) < 1e-3 * trainer.cfg.lr  # min_lr is 0 here


def test_a_time_budget_takes_durations_and_refuses_nonsense():
    base = dict(steps=10, batch_size=1, lr=1e-3)
    assert TrainConfig(**base, time_budget="1.5h").time_budget == 5400
    assert TrainConfig(**base, time_budget=30).time_budget == 30
    with pytest.raises(ValueError, match="a duration such as 20m"):
        TrainConfig(**base, time_budget="soon")


def test_a_nan_evaluation_is_never_the_best():
    """Every comparison with NaN is False: a NaN kept as the first best would beat nothing after it."""
    from types import SimpleNamespace
    from headstart.engine.trainer import Trainer
    trainer = SimpleNamespace(best=None, higher_is_better=True)
    assert not Trainer._is_better(trainer, float("nan"))
    trainer.best = {"value": float("nan")}
    assert Trainer._is_better(trainer, 0.5)
    trainer.best = {"value": 0.6}
    assert not Trainer._is_better(trainer, 0.5) and Trainer._is_better(trainer, 0.7)
