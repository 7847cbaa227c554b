"""Checkpoints of an FSDP2 (``fully_shard``) run: every rank holds a shard, the files hold the whole.

Saving gathers each sharded tensor (a DTensor) into a full one on every rank, and rank 0 writes the
same safetensors files a single-process run writes, so fine-tuning, export and a resume with DDP or
one process read them unchanged.  torch.distributed.checkpoint would write shards in parallel, but its
metadata is a pickle, and headstart loads no pickle (see checkpoint.py).  Resuming gives every rank
the full tensors and lets ``set_model_state_dict`` / ``set_optimizer_state_dict`` keep its shard.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_tensors, optimizer_from_tensors, optimizer_state_to_tensors, strip_compile_prefix


def _full(value):
    return value.full_tensor() if hasattr(value, "full_tensor") else value


def _aliases(module: nn.Module) -> set[str]:
    """Names of tied parameters after the first (``lm_head.weight`` of a tied ``tok_emb.weight``)."""
    seen, aliases = set(), set()
    for name, param in module.named_parameters(remove_duplicate=False):
        (aliases.add(name) if id(param) in seen else seen.add(id(param)))
    return aliases


def gather_full_state(objective: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Full model, objective and optimizer tensors, on every rank (a collective: all ranks call it)."""
    skip = _aliases(objective)
    state = {k: _full(v).detach().cpu().contiguous() for k, v in objective.state_dict().items() if k not in skip}
    model = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    extra = {k: v for k, v in state.items() if not k.startswith("model.")}
    opt = optimizer.state_dict()
    opt["state"] = {idx: {name: _full(value).detach().cpu() if torch.is_tensor(value) else value
                          for name, value in entry.items()} for idx, entry in opt["state"].items()}
    return {"model": model, "objective": extra, "optimizer": optimizer_state_to_tensors(opt)}


def load_full_state(objective: nn.Module, optimizer: torch.optim.Optimizer, checkpoint: Path, meta: dict) -> None:
    """Resume a sharded run from a checkpoint of full tensors."""
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                         set_optimizer_state_dict)

    options = StateDictOptions(full_state_dict=True)
    full = {f"model.{k}": v for k, v in strip_compile_prefix(load_tensors(checkpoint / "model.safetensors")).items()}
    if (checkpoint / "objective.safetensors").exists():
        full.update(load_tensors(checkpoint / "objective.safetensors"))
    for alias in _aliases(objective):  # a tied weight is saved once; the state dict names it twice
        source = next(name for name, p in objective.named_parameters() if p is objective.get_parameter(alias))
        full[alias] = full[source]
    set_model_state_dict(objective, full, options=options)
    # The saved optimizer state is keyed by position in the param groups; set_optimizer_state_dict wants names.
    by_index = optimizer_from_tensors(load_tensors(checkpoint / "optimizer.safetensors"), meta)
    name_of = {id(p): name for name, p in objective.named_parameters()}
    order = [name_of[id(p)] for group in optimizer.param_groups for p in group["params"]]
    named = {"state": {order[idx]: entry for idx, entry in by_index["state"].items()},
             "param_groups": [{**group, "params": [order[i] for i in group["params"]]}
                              for group in by_index["param_groups"]]}
    set_optimizer_state_dict(objective, optimizer, named, options=options)
