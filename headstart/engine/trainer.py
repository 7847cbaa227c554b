"""The one training engine: every objective and modality, pre-training and fine-tuning, runs here.

It knows nothing of text, images or audio.  It gets an objective (an ``nn.Module`` whose forward maps
a batch to an ``ObjectiveOutput``), a ``BatchSource`` for training and one for validation, and a
``TrainConfig``; it owns the loop, precision, optimizer, schedule, evaluation, checkpoints, metrics,
signals and non-finite-loss handling.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn
from tqdm import tqdm

from ..errors import HeadstartError
from . import draws, rng
from .batch_norm import synchronize_batch_norms
from .checkpoint import (Checkpointer, incomplete, load_objective_weights, load_tensors, optimizer_from_tensors,
                         read_state, unwrap, write_json_atomic)
from .config import TrainConfig
from .data import BatchSource
from .device import autocast, autocast_dtype, resolve_device
from .host_memory import retain_freed_memory
from .distributed import all_reduce_mean, any_rank, barrier, world
from .energy import EnergyMeter
from .metrics import MetricsLogger, NullMetrics
from .optim import build_optimizer, lr_at
from .sharded import gather_full_state, load_full_state
from .signals import StopRequest
from .throughput import device_peak_flops, peak_memory_gb

log = logging.getLogger("headstart.engine")

# Keys of the run config that may change when resuming: they do not alter what is computed.
RESUMABLE_CHANGES = {"train.steps", "train.log_every", "train.eval_every", "train.eval_batches",
                     "train.checkpoint_every", "train.keep_last", "train.progress", "train.device",
                     "train.compile", "train.max_nonfinite_steps", "train.parallel", "train.carbon_intensity",
                     "train.power_watts", "train.device_tdp_watts"}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool
    seconds: float
    last_checkpoint: Optional[Path]
    best_checkpoint: Optional[Path]
    final_eval: dict = field(default_factory=dict)
    best_eval: Optional[dict] = None
    cost: dict = field(default_factory=dict)  # energy, CO2e, wall time (engine/energy.py), also in cost.json


class _ThroughputWindow:
    """Units trained and seconds spent waiting for data since the last "train" log row."""

    def __init__(self):
        self.units, self.data_seconds, self.t0 = 0, 0.0, time.perf_counter()

    def add(self, out: dict) -> None:
        self.units += out["units"]
        self.data_seconds += out["data_seconds"]

    def totals(self) -> tuple[int, float, float]:
        """(units, data seconds, wall seconds) so far."""
        return self.units, self.data_seconds, time.perf_counter() - self.t0


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def config_changes(old: dict, new: dict) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


class Trainer:
    def __init__(self, objective: nn.Module, train_data: BatchSource, val_data: Optional[BatchSource],
                 cfg: TrainConfig, run_dir: Path, *, run_config: dict, flops_per_unit: float = 0.0,
                 extra_files: Optional[dict[str, Path]] = None, eval_metric: str = "loss",
                 higher_is_better: bool = False, evaluate: Optional[Callable[[nn.Module], dict]] = None,
                 monitor: Optional[Callable[[nn.Module, dict], dict]] = None,
                 resumable_changes: frozenset[str] = frozenset(),
                 lr_scales: Optional[list] = None, on_step: Optional[Callable[[int], None]] = None,
                 on_eval: Optional[Callable[[int, dict], bool]] = None):
        """``evaluate(objective)`` replaces the validation loop; ``monitor(objective, metrics)`` runs
        after it and returns more metrics to log (an online probe, say).  Both run without gradients,
        in eval mode, on a forked RNG: they cannot change what training does next.
        ``lr_scales``: [(parameters, multiple of the scheduled lr)], e.g. layer-wise LR decay.
        ``on_step(step)`` runs before every optimizer step (gradual unfreezing); it must depend on the
        step alone, so that a resumed run does the same.  ``on_eval(step, metrics)`` runs after every
        evaluation; True stops the run there, as early stopping does (a hyper-parameter search prunes
        a hopeless trial this way, without the engine knowing the search library)."""
        self.resumable_changes = RESUMABLE_CHANGES | set(resumable_changes)
        self.cfg, self.run_dir, self.run_config = cfg, Path(run_dir), run_config
        self.world = world()
        self.device = resolve_device(cfg.device, self.world.local_rank)
        self.amp_dtype = autocast_dtype(cfg.precision, self.device)
        if self.device.type == "cpu":
            retain_freed_memory()  # activations are re-allocated every step: don't page-fault them in again
        self.objective = objective.to(self.device)
        self.model = objective.model
        if self.world.distributed and cfg.sync_batch_norm:
            synchronize_batch_norms(self.objective, self.device)
        self.parallel = _wrap_parallel(self.objective, cfg, self.device) if self.world.distributed else None
        self.train_data, self.val_data = train_data, val_data
        self.flops_per_unit = flops_per_unit
        self.extra_files = extra_files or {}
        self.eval_metric, self.higher_is_better = eval_metric, higher_is_better
        self.evaluate_fn, self.monitor = evaluate, monitor
        self.checkpointer = Checkpointer(self.run_dir / "checkpoints", cfg.keep_last)
        self.optimizer = build_optimizer(objective, cfg, self.device, lr_scales)
        self.params = list(objective.parameters())
        self.on_step, self.on_eval = on_step, on_eval
        self.step = 0
        self.resumed = False
        self.nonfinite_steps = 0
        self.best: Optional[dict] = None
        self.elapsed_before = 0.0
        self.cost_before: Optional[dict] = None  # the cost record of the attempts before a resume
        self.meter: Optional[EnergyMeter] = None
        self.eval_seconds = 0.0  # evaluation time, so logs can tell training time apart
        wrapped = self.parallel if self.parallel is not None else objective
        self.forward = torch.compile(wrapped) if cfg.compile else wrapped

    @property
    def _sharded(self) -> bool:
        """FSDP: parameters and optimizer state are split across processes."""
        return self.parallel is not None and self.cfg.parallel == "fsdp"

    # ---- resume --------------------------------------------------------------------------------
    def resume(self, checkpoint: Path) -> None:
        checkpoint = Path(checkpoint)
        state = read_state(checkpoint)
        problem = incomplete(checkpoint)
        if problem:
            raise HeadstartError(f"cannot resume from {checkpoint}: an incomplete checkpoint ({problem})")
        written_by = state.get("world_size", 1)
        if written_by != self.world.world_size:
            # The data position and the global batch (batch_size per process x processes) depend on it.
            raise HeadstartError(f"cannot resume from {checkpoint}: it was written by {written_by} process(es) and "
                                 f"this run has {self.world.world_size}; resume with torchrun --nproc_per_node "
                                 f"{written_by} (--nnodes as before), or start a new run with init: {checkpoint}")
        changed = [k for k in config_changes(state["config"], self.run_config) if k not in self.resumable_changes]
        if changed:
            raise HeadstartError(f"cannot resume from {checkpoint}: the config changed in {', '.join(changed)} "
                                 f"(start a new run, or restore these values)")
        try:
            opt_meta = json.loads((checkpoint / "optimizer.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HeadstartError(f"cannot resume from {checkpoint}: optimizer.json is unreadable ({e})") from None
        if self._sharded:
            load_full_state(self.objective, self.optimizer, checkpoint, opt_meta)
        else:
            load_objective_weights(self.objective, checkpoint)
            self.optimizer.load_state_dict(optimizer_from_tensors(
                load_tensors(checkpoint / "optimizer.safetensors"), opt_meta))
        rng.restore(state["rng"], load_tensors(checkpoint / "rng.safetensors"))
        self.step = state["step"]
        if self.cfg.time_budget is not None and state.get("planned_steps"):  # the plan made before the stop
            self.cfg = self.cfg.model_copy(update={"steps": min(self.cfg.steps, state["planned_steps"])})
        self.resumed = True
        self.nonfinite_steps = state["nonfinite_steps"]
        self.best = state.get("best")
        self.elapsed_before = state.get("elapsed_seconds", 0.0)
        self.cost_before = state.get("cost")  # energy accumulates across resumes, as time does
        self.eval_seconds = state.get("eval_seconds", 0.0)
        log.info("resumed from %s at step %d", checkpoint, self.step)

    # ---- one optimizer step --------------------------------------------------------------------
    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def _train_step(self) -> dict:
        """Run ``grad_accum`` micro-batches and one optimizer update; returns the step's numbers."""
        cfg = self.cfg
        if self.on_step is not None:
            self.on_step(self.step)
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        data_seconds, units, metric_sums, loss_sum = 0.0, 0, {}, 0.0
        for micro in range(cfg.grad_accum):
            t0 = time.perf_counter()
            index = self.step * cfg.grad_accum + micro
            batch = self._to_device(self.train_data.batch(index))
            data_seconds += time.perf_counter() - t0
            units += self.train_data.units(batch)
            # Gradients are averaged across processes on the last micro-batch only.
            with self._gradient_sync(micro == cfg.grad_accum - 1):
                with autocast(self.device, self.amp_dtype), draws.batch_draws(cfg.seed, draws.TRAIN, index):
                    out = self.forward(batch)
                (out.loss / cfg.grad_accum).backward()
            loss_sum += out.loss.detach().float()
            for k, v in out.metrics.items():
                metric_sums[k] = metric_sums.get(k, 0.0) + v.detach().float() / cfg.grad_accum
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip or float("inf"))
        if hasattr(grad_norm, "full_tensor"):  # FSDP: a DTensor
            grad_norm = grad_norm.full_tensor()
        # One device-to-host sync for all of the step's numbers, not one per metric; under torchrun, the
        # mean over processes (the loss of the global batch), the same on every rank.
        grad_norm, loss_total, *values = all_reduce_mean(torch.stack(
            [grad_norm.float(), loss_sum, *metric_sums.values()])).tolist()
        units *= self.world.world_size
        finite = math.isfinite(grad_norm) and math.isfinite(loss_total)
        if finite:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"finite": finite, "lr": lr, "grad_norm": grad_norm, "units": units,
                "data_seconds": data_seconds, **dict(zip(metric_sums, values))}

    def _gradient_sync(self, sync: bool):
        """DDP's ``no_sync`` / FSDP's ``set_requires_gradient_sync`` on the micro-batches before the last."""
        if self.parallel is None:
            return contextlib.nullcontext()
        if self._sharded:
            self.parallel.set_requires_gradient_sync(sync)
            return contextlib.nullcontext()
        return contextlib.nullcontext() if sync else self.parallel.no_sync()

    # ---- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict:
        self.objective.eval()
        # A fixed seed makes every evaluation see the same masks/noise, and forking keeps the training
        # RNG untouched, so evaluating does not change what training does next.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.cfg.seed)
            if self.evaluate_fn is not None:
                result = self.evaluate_fn(self.objective)
            else:
                sums: dict[str, float] = {}
                for i in range(self.cfg.eval_batches):
                    with autocast(self.device, self.amp_dtype), draws.batch_draws(self.cfg.seed, draws.EVAL, i):
                        out = self.objective(self._to_device(self.val_data.batch(i)))
                    for k, v in out.metrics.items():
                        sums[k] = sums.get(k, 0.0) + v.detach().float() / self.cfg.eval_batches
                # Under torchrun each rank scored its slice of the global val batches: their mean.
                result = dict(zip(sums, all_reduce_mean(torch.stack(list(sums.values()))).tolist())) if sums else {}
                derived = getattr(unwrap(self.objective), "derived_metrics", None)
                if derived is not None:
                    result.update(derived(result))
            if self.monitor is not None:
                with autocast(self.device, self.amp_dtype):
                    result.update(self.monitor(unwrap(self.objective), dict(result)))
        self.objective.train()
        return result

    def _is_better(self, value: float) -> bool:
        # A NaN is never best: kept as the first "best", it would beat nothing after it (every comparison with
        # NaN is False), and the run would keep and score its NaN checkpoint.
        if not math.isfinite(value):
            return False
        if self.best is None or not math.isfinite(self.best["value"]):
            return True
        return value > self.best["value"] if self.higher_is_better else value < self.best["value"]

    # ---- checkpoints ---------------------------------------------------------------------------
    def save(self, elapsed: float, best: bool = False) -> Path:
        rng_json, rng_tensors = rng.capture()
        state = {"step": self.step, "nonfinite_steps": self.nonfinite_steps, "best": self.best,
                 "data": {"next_batch_index": self.step * self.cfg.grad_accum}, "world_size": self.world.world_size,
                 "planned_steps": self.cfg.steps,
                 "elapsed_seconds": elapsed, "eval_seconds": self.eval_seconds, "rng": rng_json, "config": self.run_config,
                 "cost": self._cost(elapsed), "torch_version": torch.__version__}
        best_metric = (self.eval_metric, self.best["value"]) if best else None
        gathered = gather_full_state(self.objective, self.optimizer) if self._sharded else None  # all ranks
        if not self.world.is_main:  # rank 0 writes; the others wait for it (pretrain's barrier)
            return None
        return self.checkpointer.save(self.step, model=self.model, objective=self.objective,
                                      optimizer=self.optimizer, rng_tensors=rng_tensors, state=state,
                                      extra_files=self.extra_files, best_metric=best_metric, gathered=gathered)

    def _cost(self, wall_s: float) -> Optional[dict]:
        return self.meter.record(wall_s) if self.meter is not None else self.cost_before

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, stop_at: Optional[int] = None) -> TrainResult:
        """Train to ``cfg.steps``; ``stop_at`` pauses earlier (checkpoint saved) on the same schedule,
        for jobs with a time slot shorter than the run."""
        cfg = self.cfg
        if not self.resumed:
            # Dropout and masking streams start from the seed, whatever ran before in this process (and
            # differ between processes, which see different data).
            rng.seed_everything(cfg.seed + 1_000_003 * self.world.rank)
        # Rows after this step were logged by an attempt killed before its next checkpoint: dropped,
        # so that metrics.jsonl holds each step once, as a run without interruptions would.
        metrics = MetricsLogger(self.run_dir, history_until=self.step) if self.world.is_main else NullMetrics()
        peak, peak_source = device_peak_flops(self.device)
        log.info("training on %s (%s); MFU against %.3g FLOP/s (%s)", self.device,
                 "bf16 autocast" if self.amp_dtype else "fp32", peak, peak_source)
        checkpoint_every = cfg.checkpoint_every or cfg.eval_every
        show_bar = cfg.progress and sys.stderr.isatty() and self.world.is_main
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not show_bar, unit="step", dynamic_ncols=True)
        scope = (f"process {self.world.rank} of {self.world.world_size}: the others are not counted"
                 if self.world.distributed else "")
        self.meter = EnergyMeter(self.device, power_watts=cfg.power_watts, device_tdp_watts=cfg.device_tdp_watts,
                                 carbon_intensity=cfg.carbon_intensity, previous=self.cost_before, scope=scope)
        self.meter.start()
        start = time.perf_counter()
        elapsed = lambda: self.elapsed_before + time.perf_counter() - start  # noqa: E731
        window = _ThroughputWindow()
        last_saved, final_eval, interrupted = None, {}, False
        self.objective.train()
        try:
            with StopRequest() as stop:
                while self.step < cfg.steps:
                    out = self._train_step()
                    self.step += 1
                    if cfg.time_budget is not None:  # every process plans from the same (mean) clock
                        clock = all_reduce_mean(torch.tensor([elapsed()], device=self.device)).item()
                        cfg = self._plan_for_budget(clock, bar)
                    window.add(out)
                    if not out["finite"]:
                        self._on_nonfinite(out)
                    if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                        self._log_train(out, window.totals(), peak, elapsed(), metrics, bar)
                        window = _ThroughputWindow()  # after logging, whose time is not training
                    bar.update(1)
                    is_last = self.step >= cfg.steps
                    improved = early_stop = False
                    if self.step % cfg.eval_every == 0 or is_last:
                        final_eval, improved, early_stop = self._evaluate_and_decide(metrics, is_last)
                    pause = any_rank(stop.requested, self.device) or self.step == stop_at
                    if improved or is_last or pause or early_stop or self.step % checkpoint_every == 0:
                        last_saved = self.save(elapsed(), best=improved)
                        barrier()
                    if early_stop:
                        break
                    if pause:
                        interrupted = True
                        log.warning("stopped at step %d of %d; checkpoint %s; continue with --resume",
                                    self.step, cfg.steps, last_saved)
                        break
        finally:
            bar.close()
            metrics.close()
            self.meter.stop()
        seconds = elapsed()
        cost = self._cost(seconds)
        if self.world.is_main:
            write_json_atomic(self.run_dir / "cost.json", cost)
        return TrainResult(self.run_dir, self.step, interrupted, seconds, last_saved or self.checkpointer.latest(),
                           self.checkpointer.best(), final_eval, self.best, cost)

    PLAN_AFTER_STEPS = 20  # steps timed before planning: the first ones pay for warm-up and compilation

    def _plan_for_budget(self, elapsed: float, bar: tqdm) -> TrainConfig:
        """With ``train.time_budget``: after the first steps, plan as many steps as fit the budget (evaluations
        included, estimated at a third of a step per batch); past the budget, stop at this step."""
        cfg = self.cfg
        if elapsed >= cfg.time_budget:
            planned = self.step
        elif self.step == self.PLAN_AFTER_STEPS and not self.resumed:
            per_step = elapsed / self.step * (1 + cfg.eval_batches / (3 * cfg.eval_every))
            planned = min(cfg.steps, self.step + int((cfg.time_budget - elapsed) / per_step))
            log.info("time budget %.0f s: %.2f s per step measured, so %d steps of %d", cfg.time_budget,
                     per_step, planned, cfg.steps)
        else:
            return cfg
        self.cfg = cfg.model_copy(update={"steps": max(planned, self.step), "warmup_steps": min(cfg.warmup_steps, planned)})
        bar.total = self.cfg.steps
        return self.cfg

    def _log_train(self, out: dict, window: tuple[int, float, float], peak: float, elapsed: float,
                   metrics, bar: tqdm) -> None:
        """One "train" row (loss, lr, throughput, MFU, data wait, memory, energy) to the metrics, the
        progress bar, and the log when there is no bar."""
        units, data_seconds, seconds = window
        unit, rate = self.train_data.unit, units / seconds
        row = {k: out[k] for k in out if k not in ("finite", "units", "data_seconds")}
        row.update({f"{unit}_per_s": rate, "data_wait_pct": 100 * data_seconds / seconds,
                    "mfu_pct": 100 * self.flops_per_unit * rate / peak if peak else 0.0,
                    "peak_mem_gb": peak_memory_gb(self.device), "skipped_steps": self.nonfinite_steps,
                    "elapsed_s": elapsed, "train_s": elapsed - self.eval_seconds})
        cost = self._cost(row["elapsed_s"])
        row.update(energy_kwh=cost["energy_kwh"], co2_kg=cost["co2_kg"])
        metrics.log(self.step, "train", row)
        bar.set_postfix(loss=f"{row.get('loss', float('nan')):.4f}", **{f"{unit[:3]}/s": f"{rate:,.0f}"},
                        mfu=f"{row['mfu_pct']:.1f}%", data=f"{row['data_wait_pct']:.0f}%",
                        mem=f"{row['peak_mem_gb']:.1f}G", kWh=f"{row['energy_kwh']:.2g}")
        if bar.disable and self.cfg.progress:  # no bar to show it
            log.info("step %d/%d  loss %.4f  lr %.2e  %s/s %.0f  mfu %.1f%%  data wait %.0f%%  "
                     "peak mem %.2f GiB  energy %.3g kWh", self.step, self.cfg.steps, row.get("loss", float("nan")),
                     out["lr"], unit, rate, row["mfu_pct"], row["data_wait_pct"], row["peak_mem_gb"],
                     row["energy_kwh"])

    def _evaluate_and_decide(self, metrics, is_last: bool) -> tuple[dict, bool, bool]:
        """Validate, log it, and return (the evaluation, whether it is the best so far, whether to stop:
        patience ran out or the ``on_eval`` callback asked to)."""
        t_eval = time.perf_counter()
        evaluation = self.evaluate()
        self.eval_seconds += time.perf_counter() - t_eval
        metrics.log(self.step, "val", evaluation)
        log.info("step %d: validation %s", self.step, "  ".join(f"{k} {v:.4f}" for k, v in evaluation.items()))
        value, improved = evaluation.get(self.eval_metric), False
        if value is not None and self._is_better(value):
            self.best = {"metric": self.eval_metric, "value": value, "step": self.step}
            improved = True
        patience = self.cfg.patience
        early_stop = (patience is not None and self.best is not None and not improved
                      and self.step - self.best["step"] >= patience * self.cfg.eval_every)
        if early_stop:
            log.info("early stopping at step %d: no better %s for %d evaluations (best %.4f at step %d)",
                     self.step, self.eval_metric, patience, self.best["value"], self.best["step"])
        # Called after every evaluation, the last too, so a caller sees each one.
        if self.on_eval is not None and self.on_eval(self.step, dict(evaluation)) and not is_last:
            if not early_stop:
                log.info("stopped at step %d: the evaluation callback asked to", self.step)
            early_stop = True
        return evaluation, improved, early_stop

    def _on_nonfinite(self, out: dict) -> None:  # the same on every rank: it reads all-reduced numbers
        self.nonfinite_steps += 1
        log.warning("step %d: non-finite loss or gradient (loss %s, grad norm %s); update skipped (%d/%d)",
                    self.step, out.get("loss"), out["grad_norm"], self.nonfinite_steps, self.cfg.max_nonfinite_steps)
        if self.nonfinite_steps > self.cfg.max_nonfinite_steps:
            last = self.checkpointer.latest()
            raise HeadstartError(
                f"loss was non-finite on {self.nonfinite_steps} steps (limit train.max_nonfinite_steps="
                f"{self.cfg.max_nonfinite_steps}); last good checkpoint: {last or 'none saved yet'} "
                f"(try a lower train.lr or more train.warmup_steps)")


def _wrap_parallel(objective: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """The objective as torchrun's processes train it together: DDP (a full copy per process, gradients
    all-reduced) or FSDP2 (``fully_shard``: parameters, gradients and optimizer state split across
    processes, each transformer block gathered only while it computes)."""
    if cfg.parallel == "fsdp":
        try:
            from torch.distributed.fsdp import fully_shard
        except ImportError:  # torch < 2.6 keeps it under _composable
            from torch.distributed._composable.fsdp import fully_shard
        for block in _blocks(objective):
            fully_shard(block)
        fully_shard(objective)
        return objective
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)


def _blocks(module: nn.Module) -> list[nn.Module]:
    """The transformer blocks (or ResNet stages) of every stack in ``module``: FSDP's units."""
    from ..models.blocks import Block  # the engine knows the shared block, not any modality

    return [m for m in module.modules() if isinstance(m, Block)]
