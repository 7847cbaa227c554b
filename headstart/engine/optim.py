"""Optimizer and learning-rate schedule."""
from __future__ import annotations

import inspect
import math
from typing import Optional, Sequence

import torch
from torch import nn

from .config import TrainConfig
from .muon import MuonAdamW, muon_matrices


def build_optimizer(module: nn.Module, cfg: TrainConfig, device: torch.device,
                    lr_scales: Optional[Sequence[tuple[Sequence[nn.Parameter], float]]] = None) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on norms, biases or other vectors), as GPT-2.

    ``lr_scales`` gives groups of parameters their own multiple of the scheduled learning rate
    (layer-wise LR decay); parameters in no group get 1.0.  Every parameter is handed to the optimizer,
    frozen ones too: AdamW skips a parameter whose ``.grad`` is None, so a frozen parameter stays
    bitwise unchanged, and one unfrozen later (gradual unfreezing) starts training without a rebuild.
    """
    scale_of = {id(p): s for params, s in (lr_scales or ()) for p in params}
    muon = muon_matrices(module) if cfg.optimizer == "muon" else set()
    buckets: dict[tuple[float, bool, bool], list] = {}
    for p in {id(p): p for p in module.parameters()}.values():  # tied weights once
        buckets.setdefault((scale_of.get(id(p), 1.0), p.dim() >= 2, id(p) in muon), []).append(p)
    ordered = sorted(buckets.items(), key=lambda kv: (kv[0][2], -kv[0][0], not kv[0][1]))
    if muon:
        # Muon's matrices: its own peak rate on the same schedule, and no weight decay (as the speedruns).
        groups = [{"params": ps, "weight_decay": 0.0 if is_muon else cfg.weight_decay if decay else 0.0,
                   "lr_scale": scale * (cfg.muon_lr / cfg.lr if is_muon else 1.0), "muon": is_muon}
                  for (scale, decay, is_muon), ps in ordered]
        return MuonAdamW(groups, lr=cfg.lr, betas=cfg.betas)
    groups = [{"params": ps, "weight_decay": cfg.weight_decay if decay else 0.0, "lr_scale": scale}
              for (scale, decay, _), ps in ordered]
    # Fused AdamW runs one kernel per step for all parameters; it exists for CUDA and (torch >= 2.4) CPU.
    fused_ok = "fused" in inspect.signature(torch.optim.AdamW).parameters and device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused_ok or None)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warmup, then the chosen decay.

    A pure function of the step, so resuming needs no scheduler state.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, progress)
    if cfg.schedule == "linear":
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * (1 - progress)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))
