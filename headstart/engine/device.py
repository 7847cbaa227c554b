"""Device and numeric precision: the one place that decides where and in what type training runs."""
from __future__ import annotations

import contextlib
import logging

import torch

from ..errors import HeadstartError

log = logging.getLogger("headstart.engine")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: the GPU of this process (``cuda:LOCAL_RANK`` under torchrun), else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise HeadstartError(f"train.device: {name!r} is not a device ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HeadstartError(f"train.device: {name!r} asked for, but this machine has no CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise HeadstartError(f"train.device: {name!r} asked for, but MPS is not available")
    return device


def autocast_dtype(precision: str, device: torch.device):
    """bf16 autocast on CUDA by default; fp32 on CPU, whose bf16 matmuls are far slower without bf16 units."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if device.type == "cpu":
        log.warning("bf16 on CPU: most CPUs have no bf16 units and run it far slower than fp32")
    return torch.bfloat16


def autocast(device: torch.device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
