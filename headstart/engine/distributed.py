"""torch.distributed, for the engine: one process per device, started by ``torchrun``.

headstart has no launcher of its own.  ``torchrun --nproc_per_node N -m headstart pretrain cfg.yaml``
sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address in each process's environment;
``init_from_env`` turns them into a process group (NCCL on CUDA GPUs, gloo on CPUs) and everything
else asks ``world()``.  Without torchrun (no WORLD_SIZE), nothing is initialised and ``world()`` is
one process of rank 0, so single-process runs never touch this module's collectives.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..errors import HeadstartError

log = logging.getLogger("headstart.engine")


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, metrics and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return World()


def init_from_env(timeout_minutes: float = 30) -> World:
    """Join the process group torchrun described in the environment, once; a no-op without torchrun."""
    if dist.is_available() and dist.is_initialized():
        return world()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_available():
        raise HeadstartError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
    except (RuntimeError, ValueError) as e:
        raise HeadstartError(f"could not join the torchrun process group ({backend}): {str(e).splitlines()[0]}") from None
    here = world()
    if not here.is_main:  # one voice in the log: the other ranks only warn
        logging.getLogger("headstart").setLevel(logging.WARNING)
    log.info("distributed: %d processes, backend %s", here.world_size, backend)
    return here


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over ranks (itself with one process)."""
    if not world().distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / dist.get_world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any: a stop request (SIGTERM reaches ranks at different
    steps) must stop all of them at the same step, or the others wait forever in the next all-reduce."""
    if not world().distributed:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier() -> None:
    if world().distributed:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group at the end of a torchrun job (PyTorch warns when a job exits without it)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
