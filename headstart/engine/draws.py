"""Random draws for a batch that do not depend on how the batch is split across processes.

Masks, noise and augmentations are drawn per example.  If each process drew from its own stream, N
processes with B examples each would train on other masks than one process with N x B examples, and
"2 processes = 1 process" would hold only for objectives without randomness (causal LM).  So, inside
``batch_draws(seed, stream, index)`` (the trainer opens one around each micro-batch and each evaluation
batch), every process draws the *global* batch's values from one generator seeded by
``(seed, stream, index)`` and keeps its own rows: process r of N holds rows ``[r B, (r + 1) B)`` of the
global batch, as the engine's samplers lay batches out (``EpochSampler``, ``TokenWindows``).

The draws are a function of the batch index, not of what ran before, so a resumed run needs no saved
state for them.  Outside ``batch_draws`` (a model or objective called directly), the functions draw from
the global torch RNG, as plain ``torch.rand`` would.

Rows whose length depends on the batch (padded audio: T is the longest clip *in this process's batch*)
use ``rand_rows`` / ``randn_rows``: each row's values come from its own generator, seeded by its global
row index, over the row's own (unpadded) length, so padding elsewhere in the batch changes nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist

TRAIN, EVAL = 0, 1  # streams: training micro-batches, evaluation batches


@dataclass
class _Draws:
    seed: int  # this batch's seed, from (run seed, stream, batch index)
    generators: dict  # device -> torch.Generator, made on first use
    rank: int
    world_size: int
    row_calls: int = 0  # per-row draws made so far in this batch: each call gets its own streams

    def generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self.generators:
            self.generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[key]


_current: contextvars.ContextVar[Optional[_Draws]] = contextvars.ContextVar("headstart_batch_draws", default=None)


def _mix(*keys: int) -> int:
    # SeedSequence takes non-negative entropy: a negative train.seed wraps around (2**64), still one seed each.
    return int(np.random.SeedSequence([int(k) % 2**64 for k in keys]).generate_state(1, np.uint64)[0] >> 1)


@contextlib.contextmanager
def batch_draws(seed: int, stream: int, index: int) -> Iterator[None]:
    """Within this block, the draws below are those of global batch ``index`` of ``stream``."""
    distributed = dist.is_available() and dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    token = _current.set(_Draws(_mix(seed, stream, index), {}, rank, world_size))
    try:
        yield
    finally:
        _current.reset(token)


def _device(device) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def _this_process_rows(draw, shape: tuple[int, ...], device) -> torch.Tensor:
    """``draw(shape)`` for the global batch (shape[0] rows in each process), this process's rows of it."""
    draws, device = _current.get(), _device(device)
    if draws is None:
        return draw(shape, device=device)
    rows = shape[0]
    full = draw((rows * draws.world_size, *shape[1:]), device=device, generator=draws.generator(device))
    return full[draws.rank * rows:(draws.rank + 1) * rows]


def rand(*shape: int, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``torch.rand(shape)`` whose first dimension is this process's rows of the global batch."""
    return _this_process_rows(functools.partial(torch.rand, dtype=dtype), shape, device)


def randint(high: int, *shape: int, device=None) -> torch.Tensor:
    """``torch.randint(high, shape)``, rows as in ``rand``."""
    return _this_process_rows(functools.partial(torch.randint, high), shape, device)


def randperm(n: int, device=None) -> torch.Tensor:
    """One permutation for the whole global batch (the same on every process)."""
    draws, device = _current.get(), _device(device)
    if draws is None:
        return torch.randperm(n, device=device)
    return torch.randperm(n, device=device, generator=draws.generator(device))


def _rows(lengths: torch.Tensor, width: int, rest: tuple[int, ...], fill: float, normal: bool,
          device, dtype) -> torch.Tensor:
    """(B, width, *rest): row i holds ``lengths[i]`` draws (uniform or normal), then ``fill``.  Drawn row by row
    on CPU generators (one per row costs microseconds) into one host tensor, moved to ``device`` once."""
    draws = _current.get()
    out = torch.full((lengths.shape[0], width, *rest), fill, dtype=dtype)
    call = 0
    if draws is not None:  # a second call (noise after a mask) must not reuse the first one's streams
        draws.row_calls += 1
        call = draws.row_calls
    first_row = draws.rank * len(lengths) if draws is not None else 0
    for i, n in enumerate(lengths.clamp(max=width).tolist()):
        if n > 0:
            g = torch.Generator().manual_seed(_mix(draws.seed, call, first_row + i)) if draws is not None else None
            out[i, :n] = (torch.randn if normal else torch.rand)((n, *rest), generator=g, dtype=dtype)
    return out.to(_device(device))


def rand_rows(lengths: torch.Tensor, width: int, *rest: int, fill: float = 1.0, device=None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, width, *rest) uniform draws over each row's first ``lengths[i]`` positions, ``fill`` after: a
    row's values depend on its global row index and length only, never on the batch's padded width."""
    return _rows(lengths, width, rest, fill, False, device, dtype)


def randn_rows(lengths: torch.Tensor, width: int, *rest: int, device=None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """As ``rand_rows``, standard normal draws, zeros after each row's length."""
    return _rows(lengths, width, rest, 0.0, True, device, dtype)


def global_count(count: torch.Tensor) -> torch.Tensor:
    """The mean over processes of ``count`` (e.g. this process's masked tokens), detached: a loss summed over
    this process's positions and divided by it is the global batch's per-position mean once the engine averages
    the processes' losses (and DDP their gradients), however unevenly the positions fall."""
    count = count.detach().float()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return count
    count = count.clone()
    dist.all_reduce(count, op=dist.ReduceOp.SUM)
    return count / dist.get_world_size()
