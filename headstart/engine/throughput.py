"""Throughput accounting: units/s and model FLOPs utilisation (MFU).

MFU = achieved model FLOP/s / peak FLOP/s of the device, where achieved FLOP/s counts the FLOPs the
model needs (``train_flops_per_token`` x tokens per second: 6N + 12·L·H·Q·T per token, PaLM
appendix B), not recomputation.  Peaks: a table of dense bf16 tensor-core figures for known GPUs; on a
CPU, a measured fp32 matmul rate (below), so a CPU MFU says how close training runs to the best this
machine did on one large matmul, with MKL or with oneDNN (``headstart.kernels``), whichever was faster.
"""
from __future__ import annotations

import functools
import sys
import time

import torch

from ..kernels import linear, onednn_linear_available

# Dense (no sparsity) bf16 peak FLOP/s from the vendors' data sheets.
GPU_PEAK_BF16 = {
    "H200": 989e12, "H100": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12,
    "L4": 121e12, "A10G": 70e12, "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12, "T4": 65e12,
}


def matmul_rate(matmul, size: int = 1024, seconds: float = 0.25) -> float:
    """Best FLOP/s of ``matmul(a, b)`` on fp32 ``size``x``size`` matrices over ``seconds``, torch's threads."""
    g = torch.Generator().manual_seed(0)  # never touch the global RNG: training streams depend on it
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    matmul(a, b)  # warm-up
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        matmul(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - t0))
    return best


@functools.lru_cache(maxsize=None)
def measured_cpu_peak(size: int = 1024, seconds: float = 0.5) -> float:
    """The better of ``torch.mm`` (MKL) and headstart's ``linear`` (oneDNN where it is on), each timed for
    half of ``seconds``."""
    return max(matmul_rate(matmul, size, seconds / 2) for matmul in (torch.mm, linear))


def device_peak_flops(device: torch.device) -> tuple[float, str]:
    """(peak FLOP/s, where the figure comes from)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_PEAK_BF16.items():
            if key in name:
                return peak, f"{name} bf16 data sheet"
        return 0.0, f"{name}: peak unknown"
    if device.type == "cpu":
        kernel = ("linear layers on oneDNN; HEADSTART_ONEDNN_LINEAR=0 for MKL" if onednn_linear_available()
                  else "matmuls on PyTorch's default BLAS")
        return measured_cpu_peak(), f"measured fp32 matmul peak; {kernel}"
    return 0.0, f"{device.type}: peak unknown"


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory so far, GiB: tensors allocated on a CUDA device (what limits the batch there), or the
    process's peak resident set on a CPU (where tensors share memory with everything else)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20  # bytes on macOS, KiB on Linux
