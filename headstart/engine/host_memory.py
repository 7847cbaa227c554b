"""Keep freed host memory in the process between training steps (glibc on Linux).

A CPU training step frees and re-allocates the same activation buffers every step. glibc serves
buffers over its mmap threshold with fresh ``mmap`` pages and hands freed memory above its trim
threshold back to the OS, so each step page-faults its activations in again: about 20,000 page
faults (80 MB first-touched) per step for a 4-layer, 256-wide GPT at batch 8 × 256 tokens, which
cost that step 8–10% of its time here (``bench/gpt_step_throughput.py``). PyTorch's CPU
performance guide recommends swapping in jemalloc or tcmalloc for this reason; raising the two
thresholds with ``mallopt`` gets the same effect without a system package or ``LD_PRELOAD``.
It is what the CUDA caching allocator does on a GPU: memory freed at the end of a step stays
reserved for the next one, so the resident size stays near the step's peak instead of dropping
between steps. Tensors over 32 MiB (glibc's largest mmap threshold) still get their own mapping.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger("headstart.engine")

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30
_applied = False


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are in effect.

    Does nothing off Linux/glibc, or when the user set ``MALLOC_MMAP_THRESHOLD_`` or
    ``MALLOC_TRIM_THRESHOLD_`` (their choice wins), or ``HEADSTART_KEEP_FREED_MEMORY=0``."""
    global _applied
    if _applied:
        return True
    if (not sys.platform.startswith("linux") or os.environ.get("HEADSTART_KEEP_FREED_MEMORY") == "0"
            or "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # absent on musl and macOS
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either threshold also stops glibc's dynamic adjustment.
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if _applied:
        log.debug("glibc malloc: mmap threshold %d MiB, trim threshold %d MiB",
                  MMAP_THRESHOLD >> 20, TRIM_THRESHOLD >> 20)
    return _applied
