"""Timed rounds that alternate between worker processes, so machine noise hits each alike.

A worker warms up, prints ``ready``, then answers each line it reads on stdin with one figure. Each
worker gets a process of its own, so each has exactly the settings (environment, allocator, kernels)
its user would have.
"""
from __future__ import annotations

import subprocess
import sys
from typing import Callable, Optional


def serve_rounds(measure: Callable[[], float]) -> None:
    """The worker side: say ``ready``, then print ``measure()`` once per line the parent writes."""
    print("ready", flush=True)
    for _ in sys.stdin:
        print(measure(), flush=True)


def alternate_rounds(commands: dict[str, list[str]], rounds: int,
                     envs: Optional[dict[str, dict]] = None) -> dict[str, list[float]]:
    """The parent side: start every worker, let all warm up, then ask each for a figure in turn,
    ``rounds`` times (the others wait on their stdin meanwhile). Returns name -> figures."""
    procs = {name: subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    env=(envs or {}).get(name))
             for name, argv in commands.items()}
    for name, proc in procs.items():
        if proc.stdout.readline().strip() != "ready":
            sys.exit(f"the {name} worker failed to start (exit {proc.wait()})")
    figures = {name: [] for name in procs}
    for _ in range(rounds):
        for name, proc in procs.items():
            proc.stdin.write("go\n")
            proc.stdin.flush()
            figures[name].append(float(proc.stdout.readline()))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    return figures
