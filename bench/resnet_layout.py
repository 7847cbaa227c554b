"""Forward + backward time of ``resnet-tiny`` on 512 images of 32 px: activation layout and passes per step.

Why ``ResNet.feature_map`` converts its input to channels-last and SimCLR makes one backbone pass per
view: this times the four combinations of activation layout (the default NCHW, as the ResNet ran
before; channels-last, as it runs now) and passes (one of 512 images; two of 256, one per SimCLR
view), in rotated rounds in one process, and prints each one's fastest round and its speed-up over
the old path (NCHW, one pass).

    .venv/bin/python bench/resnet_layout.py [--rounds 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import torch

from headstart.models.vision_presets import build_vision_model


def features_nchw(model, images: torch.Tensor) -> torch.Tensor:
    """``ResNet.features`` as it was before the channels-last conversion."""
    x = model.stem(images)
    for stage in model.stages:
        x = stage(x)
    return x.mean((2, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds; the first is a warm-up")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_vision_model("resnet-tiny", image_size=32, channels=3).train()
    images = torch.rand(512, 3, 32, 32)
    forwards = {"NCHW": lambda x: features_nchw(model, x), "channels-last": model.features}
    configs = [(layout, passes) for layout in forwards for passes in (1, 2)]
    seconds = {c: [] for c in configs}
    for r in range(args.rounds):
        for layout, passes in configs[r % len(configs):] + configs[:r % len(configs)]:
            t0 = time.perf_counter()
            model.zero_grad()
            sum(forwards[layout](chunk).sum() for chunk in images.chunk(passes)).backward()
            seconds[(layout, passes)].append(time.perf_counter() - t0)
    base = min(seconds[("NCHW", 1)][1:])
    print(f"resnet-tiny forward + backward, 512 images 32x32x3, torch {torch.__version__}, {args.threads} threads; "
          f"fastest of rounds 2-{args.rounds}")
    for (layout, passes), times in seconds.items():
        best = min(times[1:])
        print(f"  {layout:13} {passes} pass{'es' if passes > 1 else '  '}: {best:.2f} s  ({base / best:.2f}x)")
    print("reproduce: " + shlex.join([".venv/bin/python", "bench/resnet_layout.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
