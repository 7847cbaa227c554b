"""bench/gpu_mfu.py, the GPU MFU benchmark of issue #7, runs its own code on a CPU with --tiny, so the
script a lent GPU will run is known to work before device time is spent on it."""
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gpu_mfu.py"


def test_the_gpu_benchmark_runs_through_the_engine_and_reports_mfu():
    out = subprocess.run([sys.executable, str(BENCH), "--tiny", "--no-compile", "--steps", "2", "--warmup", "1",
                          "--batch", "4"], capture_output=True, text=True, timeout=300, check=True).stdout
    tokens_per_s = float(re.search(r"([\d,]+) tokens/s", out).group(1).replace(",", ""))
    mfu = float(re.search(r"MFU ([\d.]+)%", out).group(1))
    assert tokens_per_s > 0
    assert 0 < mfu < 100, out
    assert "reproduce: python bench/gpu_mfu.py --tiny" in out
