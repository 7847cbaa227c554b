"""fp32 CPU linear layers, forward + backward: PyTorch's default (MKL sgemm) against headstart's
oneDNN path (``headstart/kernels/linear.py``), same process, same machine, alternating rounds.

The shapes are those of bench/gpt_step_throughput.py's model (2,048 rows = batch 8 x context 256;
4 layers, 256 dims) and a few smaller ones that show where the oneDNN call's overhead stops paying
(``MIN_PRODUCT``). The oneDNN path is forced on here whatever the CPU's vendor, so the figure can be
measured on an Intel CPU too, where headstart leaves it off by default.

    python bench/linear_kernels.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time

import torch
from torch import nn

from headstart.engine.host_memory import retain_freed_memory
from headstart.kernels import Linear

kernel = importlib.import_module("headstart.kernels.linear")

# (rows, in, out): the GPT bench's qkv, attention out, MLP up, MLP down, LM head; then smaller ones.
SHAPES = [(2048, 256, 768), (2048, 256, 256), (2048, 256, 1024), (2048, 1024, 256), (2048, 256, 65),
          (1024, 128, 128), (512, 128, 128), (256, 128, 128), (64, 64, 64)]


def seconds_per_step(layer, x, steps):
    x = x.detach().requires_grad_()
    for _ in range(3):
        layer(x).sum().backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        layer(x).sum().backward()
    return (time.perf_counter() - t0) / steps


def square_matmul_rate(matmul, size=1024, seconds=0.5):
    a, b = torch.randn(size, size), torch.randn(size, size)
    matmul(a, b)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        matmul(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - t0))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not torch.backends.mkldnn.is_available():
        sys.exit("this PyTorch has no oneDNN: nothing to compare")
    retain_freed_memory()  # both paths get the engine's allocator setting
    default_on = kernel.onednn_linear_available()
    kernel._LINEAR, kernel.MIN_PRODUCT = kernel._ONEDNN_LINEAR, 0
    torch.manual_seed(0)
    mkl = square_matmul_rate(torch.mm)
    onednn = square_matmul_rate(kernel.linear)  # linear(a, b) = a @ b.T: the same FLOPs
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU vendor {kernel._cpu_vendor() or '?'}; "
          f"headstart's oneDNN path is {'on' if default_on else 'off'} here by default")
    print(f"1024x1024 fp32 matmul, forward only: MKL {mkl / 1e9:.0f} GFLOP/s, oneDNN {onednn / 1e9:.0f} GFLOP/s "
          f"({onednn / mkl:.2f}x)")
    print(f"{'rows x in x out':>18} {'MKL GFLOP/s':>12} {'oneDNN GFLOP/s':>15} {'ratio':>6}   (forward + backward, "
          f"median of {args.rounds} rounds)")
    for rows, d_in, d_out in SHAPES:
        ours = Linear(d_in, d_out)
        plain = nn.Linear(d_in, d_out)
        plain.load_state_dict(ours.state_dict())
        x = torch.randn(rows, d_in)
        steps = max(3, int(4e8 / (rows * d_in * d_out)))
        times = {"mkl": [], "onednn": []}
        for _ in range(args.rounds):
            times["mkl"].append(seconds_per_step(plain, x, steps))
            times["onednn"].append(seconds_per_step(ours, x, steps))
        flops = 6 * rows * d_in * d_out  # forward, input gradient, weight gradient
        rate = {name: flops / statistics.median(t) / 1e9 for name, t in times.items()}
        print(f"{rows:>6} x{d_in:>5} x{d_out:>5} {rate['mkl']:>12.0f} {rate['onednn']:>15.0f} "
              f"{rate['onednn'] / rate['mkl']:>5.2f}x")
    print("reproduce: python " + " ".join(["bench/linear_kernels.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
