"""The engine keeps freed activation memory in the process on Linux, so a CPU step does not
page-fault its buffers in again every time (headstart/engine/host_memory.py)."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")

# A training step's pattern: allocate ten 8 MiB activations, free them all; page faults per step.
FAULTS_PER_STEP = """
import resource, sys, torch
from headstart.engine.host_memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "tuned" else False
def step():
    activations = [torch.ones(2 * 2**20) for _ in range(10)]
    del activations
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_step(mode: str, **env) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP, mode], capture_output=True, text=True,
                         check=True, env={**_base_env(), **env}).stdout.split()
    return out[0], float(out[1])


def _base_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def test_retained_memory_is_reused_without_page_faults():
    applied, faults = faults_per_step("tuned")
    if applied != "True":
        pytest.skip("this C library has no mallopt (not glibc)")
    assert faults < 100, f"{faults:.0f} page faults per step after retain_freed_memory()"


def test_the_users_own_malloc_settings_win():
    # Mapping every buffer over 128 KiB afresh (glibc's static default) faults all 20,480 pages in each step;
    # glibc's dynamic default does so on some runs and not others, so the control pins it.
    applied, faults = faults_per_step("tuned", MALLOC_MMAP_THRESHOLD_="131072")
    assert applied == "False"
    assert faults > 15000, f"expected the user's mmap threshold to page-fault every step, saw {faults:.0f}"
    applied, _ = faults_per_step("tuned", HEADSTART_KEEP_FREED_MEMORY="0")
    assert applied == "False"
