"""SimCLR pre-training throughput (images/s): headstart vs the PyPI ``lightly`` library, same machine, same run.

What is compared, and why.  The two libraries differ mostly in where augmentation runs.  lightly's
standard path is ``SimCLRTransform`` (torchvision on PIL images, one image at a time) inside a torch
``DataLoader``; headstart augments the whole uint8 -> float batch at once with ``SimCLRAugment``
inside its ``SimCLR`` objective, driven by its own ``Trainer`` step.  Everything else is held equal
so that the ratio measures that difference and the surrounding loop:

- data: the 10,000 MNIST test digits (real images), padded to 32x32 and copied to 3 channels, held
  in memory as uint8 (``--data synthetic`` draws seeded random pixels instead);
- backbone: one headstart ``resnet-tiny`` (CIFAR-style ResNet, 0.3 M parameters), the same module
  class and the same initial weights on both sides; lightly gets it as its backbone
  (``ResNet.forward`` is ``features``: (B, 128));
- projection head 128 -> 512 -> 128 (headstart ``ProjectionHead`` / lightly ``SimCLRProjectionHead``),
  NT-Xent at temperature 0.5 (``nt_xent_loss`` / lightly ``NTXentLoss``);
- augmentation: random resized crop to 32 with scale (0.08, 1), horizontal flip 0.5, colour jitter
  (0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale p 0.2, no blur (SimCLR leaves blur out at 32 px);
  lightly's ImageNet normalisation is turned off because headstart does not normalise;
- batch 256 images (two views each: 512 backbone passes per step), AdamW lr 2e-3, betas
  (0.9, 0.95), weight decay 1e-4, no gradient clipping, fp32, the same ``torch.set_num_threads``.

lightly's loop is the one its docs show: ``(x0, x1), _ = batch``, ``model(x0)``, ``model(x1)``,
``NTXentLoss(z0, z1)``.  Its DataLoader is tried with ``num_workers`` 0 and 2 (the docs use 8; this
is a 2-core machine) and the faster one is taken.  Each side does warm-up steps, then ``--steps``
timed steps; images/s counts batch images (not views).  The time spent getting and augmenting data
is reported beside it, to show where the time goes.

Setup (lightly needs torchvision, which here installs only beside torch 2.14.1, so the benchmark
has its own venv; headstart itself supports torch >= 2.4):

    python3.11 -m venv .venv-lightly
    .venv-lightly/bin/pip install torch==2.14.1 torchvision==0.29.1
    printf 'torch==2.14.1\\ntorchvision==0.29.1\\n' > /tmp/lightly-constraints.txt
    .venv-lightly/bin/pip install -c /tmp/lightly-constraints.txt lightly
    .venv-lightly/bin/pip install -c /tmp/lightly-constraints.txt -e .

Run (from the repository root; ``--quick`` is a smoke run of a few small steps):

    .venv-lightly/bin/python bench/simclr_vs_lightly.py --steps 20
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from torch import nn

from headstart.engine import Trainer, TrainConfig
from headstart.models.vision_presets import build_vision_model
from headstart.objectives.simclr import SimCLR
from headstart.vision.augment import SimCLRAugment
from headstart.vision.batches import ImageBatches
from headstart.vision.idx import read_idx

PRESET, SIZE = "resnet-tiny", 32
HIDDEN_DIM, PROJECTION_DIM, TEMPERATURE = 512, 128, 0.5
CROP_SCALE, FLIP_P, JITTER, JITTER_P, GRAY_P = (0.08, 1.0), 0.5, (0.4, 0.4, 0.4, 0.1), 0.8, 0.2
LR, BETAS, WEIGHT_DECAY = 2e-3, (0.9, 0.95), 1e-4
MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist/t10k-images-idx3-ubyte.gz"


# ---- data ----------------------------------------------------------------------------------------
def load_images(source: str, mnist: Path) -> np.ndarray:
    """(N, 32, 32, 3) uint8: MNIST digits padded 28 -> 32 and copied to RGB, or seeded noise."""
    if source == "synthetic":
        return np.random.default_rng(0).integers(0, 256, (10_000, SIZE, SIZE, 3), dtype=np.uint8)
    if not mnist.is_file():
        sys.exit(f"{mnist} not found: pass --mnist PATH or --data synthetic")
    digits = read_idx(mnist).astype(np.uint8)  # (N, 28, 28)
    pad = (SIZE - digits.shape[1]) // 2
    digits = np.pad(digits, ((0, 0), (pad, pad), (pad, pad)))
    return np.ascontiguousarray(np.repeat(digits[..., None], 3, axis=3))


class InMemoryArrays:
    """The part of ``ImageArrays`` that ``ImageBatches`` reads, over an array in memory rather than
    a prepared folder, so both libraries read the same in-memory uint8 pixels."""

    split, prepared_dir, labels = "train", Path("<memory>"), None

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels

    def __len__(self) -> int:
        return len(self.pixels)

    def read(self, indices):
        return self.pixels[indices], None


class PixelDataset(torch.utils.data.Dataset):
    """What a lightly user feeds ``SimCLRTransform``: one PIL image per item (plus a dummy label,
    the ``(views, label)`` layout of lightly's examples)."""

    def __init__(self, pixels: np.ndarray, transform):
        self.pixels, self.transform = pixels, transform

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int):
        from PIL import Image
        return self.transform(Image.fromarray(self.pixels[index])), 0


# ---- the two sides -------------------------------------------------------------------------------
def backbone(seed: int) -> nn.Module:
    torch.manual_seed(seed)  # the same initial weights on both sides
    return build_vision_model(PRESET, image_size=SIZE, channels=3)


class TimedAugment:
    """Wraps headstart's augmentation to add up the seconds spent in it (CPU ops are synchronous,
    so a clock around the call is the cost)."""

    def __init__(self, augment):
        self.augment, self.seconds = augment, 0.0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        out = self.augment(images)
        self.seconds += time.perf_counter() - t0
        return out


class HeadstartSide:
    """headstart's engine step (``Trainer._train_step``: batch read and uint8 -> float, forward with
    batched augmentation, backward, AdamW), with the objective built as ``build_image_objective``
    builds it for ``objective.name: simclr``.  ``fit()`` adds only logging, evaluation and
    checkpoints around this step, which a throughput benchmark leaves out."""

    untimed_per_round = 0

    def __init__(self, pixels: np.ndarray, batch: int, run_dir: str):
        self.augment = TimedAugment(SimCLRAugment(size=SIZE, crop_scale=CROP_SCALE, flip_p=FLIP_P, jitter=JITTER,
                                                  jitter_p=JITTER_P, grayscale_p=GRAY_P, blur_p=0.0))
        objective = SimCLR(backbone(0), self.augment, projection_dim=PROJECTION_DIM, hidden_dim=HIDDEN_DIM,
                           temperature=TEMPERATURE)
        train = TrainConfig(steps=10**9, batch_size=batch, lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY,
                            grad_clip=None, schedule="constant", device="cpu", precision="fp32", progress=False)
        source = ImageBatches(InMemoryArrays(pixels), batch_size=batch, seed=0, with_labels=False)
        self.trainer = Trainer(objective, source, None, train, run_dir, run_config={})
        self.trainer.objective.train()

    def begin(self) -> None:
        pass

    def end(self) -> None:
        pass

    def step(self) -> dict:
        self.augment.seconds = 0.0
        out = self.trainer._train_step()
        self.trainer.step += 1
        return {"data": out["data_seconds"], "augment": self.augment.seconds}


class LightlyModel(nn.Module):
    """lightly's SimCLR example model, on the shared backbone."""

    def __init__(self, net: nn.Module):
        super().__init__()
        from lightly.models.modules import SimCLRProjectionHead
        self.backbone = net
        self.projection_head = SimCLRProjectionHead(net.feature_dim, HIDDEN_DIM, PROJECTION_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head(self.backbone(x).flatten(start_dim=1))


class LightlySide:
    """lightly's documented SimCLR loop: SimCLRTransform in a DataLoader, two forward passes, NTXentLoss.

    Each round opens a fresh DataLoader iterator and closes it after (``end``), so worker processes
    never augment in the background while the other side is being timed.  The first step of a round
    (worker start-up and the first batch's latency) is not timed when there are workers.
    """

    def __init__(self, pixels: np.ndarray, batch: int, num_workers: int):
        from lightly.loss import NTXentLoss
        from lightly.transforms import SimCLRTransform
        # cj_strength 0.5 scales lightly's 0.8/0.8/0.8/0.2 to the 0.4/0.4/0.4/0.1 used on both sides.
        transform = SimCLRTransform(input_size=SIZE, cj_prob=JITTER_P, cj_strength=0.5, min_scale=CROP_SCALE[0],
                                    random_gray_scale=GRAY_P, gaussian_blur=0.0, hf_prob=FLIP_P, normalize=None)
        self.loader = torch.utils.data.DataLoader(
            PixelDataset(pixels, transform), batch_size=batch, shuffle=True, drop_last=True,
            num_workers=num_workers, generator=torch.Generator().manual_seed(0))
        self.model = LightlyModel(backbone(0)).train()
        self.criterion = NTXentLoss(temperature=TEMPERATURE)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
        self.untimed_per_round = 1 if num_workers else 0
        self.num_workers, self.batches = num_workers, None

    def begin(self) -> None:
        self.batches = iter(self.loader)

    def end(self) -> None:
        self.batches = None  # shuts the workers down

    def step(self) -> dict:
        t0 = time.perf_counter()
        try:
            (x0, x1), _ = next(self.batches)
        except StopIteration:  # a new epoch, as in a real run
            self.begin()
            (x0, x1), _ = next(self.batches)
        data = time.perf_counter() - t0
        loss = self.criterion(self.model(x0), self.model(x1))
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        # Without workers, waiting for data is augmenting; with them, augmentation runs elsewhere.
        return {"data": data, "augment": data if self.num_workers == 0 else math.nan}


# ---- timing --------------------------------------------------------------------------------------
class OthersMeter:
    """CPU that other processes used while a block ran, in cores: the machine's busy time less this
    process's and its workers'.  Another user's job on a 2-core machine skews a block badly, and
    this says which blocks it hit."""

    def __init__(self):
        self.me = psutil.Process()

    def _mine(self) -> float:
        procs = [self.me, *self.me.children(recursive=True)]
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def _busy(self) -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def start(self) -> None:
        self.t0, self.busy0, self.mine0 = time.perf_counter(), self._busy(), self._mine()

    def stop(self) -> float:
        wall = time.perf_counter() - self.t0
        return max(0.0, (self._busy() - self.busy0) - (self._mine() - self.mine0)) / wall


def timed_block(side, steps: int, untimed: int, meter: OthersMeter) -> dict:
    """``untimed`` steps, then ``steps`` timed ones; the seconds of each timed step and its parts."""
    side.begin()
    try:
        for _ in range(untimed):
            side.step()
        meter.start()
        seconds, parts = [], []
        for _ in range(steps):
            t0 = time.perf_counter()
            parts.append(side.step())
            seconds.append(time.perf_counter() - t0)
        others = meter.stop()
    finally:
        side.end()
    return {"seconds": seconds, "parts": parts, "others": others}


def summarise(blocks: list[dict], batch: int) -> dict:
    seconds = [s for b in blocks for s in b["seconds"]]
    parts = [p for b in blocks for p in b["parts"]]
    total = sum(seconds)
    return {"images_per_s": len(seconds) * batch / total, "step_s": statistics.median(seconds),
            "rounds": [len(b["seconds"]) * batch / sum(b["seconds"]) for b in blocks],
            "others": [b["others"] for b in blocks],
            **{k: 100 * sum(p[k] for p in parts) / total for k in ("data", "augment")}}


def describe(name: str, r: dict) -> str:
    augment = "" if math.isnan(r["augment"]) else f", augmenting {r['augment']:4.1f}%"
    rounds = ", ".join(f"{x:.0f}" for x in r["rounds"])
    others = ", ".join(f"{x:.2f}" for x in r["others"])
    return (f"{name:>19}: {r['images_per_s']:7.1f} images/s  median step {r['step_s']:.2f} s; waiting for data "
            f"{r['data']:4.1f}%{augment}; per round [{rounds}]; other processes' cores [{others}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per configuration, split over the rounds")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds; each times every configuration once, in a rotated order, so that load from "
                         "other processes falls on all of them alike")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per configuration before its first round")
    ap.add_argument("--batch", type=int, default=256, help="images per step (two views each)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="lightly DataLoader num_workers to try")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads for both")
    ap.add_argument("--data", choices=("mnist", "synthetic"), default="mnist")
    ap.add_argument("--mnist", type=Path, default=MNIST, help="MNIST idx images file")
    ap.add_argument("--quick", action="store_true", help="smoke run: batch 64, 1 warm-up, 2 rounds of 1 step")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.rounds, args.warmup, args.batch = 2, 2, 1, 64
    torch.set_num_threads(args.threads)
    pixels = load_images(args.data, args.mnist)
    per_round = max(1, args.steps // args.rounds)

    import lightly
    meter = OthersMeter()
    with tempfile.TemporaryDirectory() as run_dir:
        sides = {"headstart": HeadstartSide(pixels, args.batch, run_dir),
                 **{f"lightly workers={w}": LightlySide(pixels, args.batch, w) for w in args.workers}}
        blocks: dict[str, list] = {name: [] for name in sides}
        names = list(sides)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                untimed = sides[name].untimed_per_round + (args.warmup if r == 0 else 0)
                blocks[name].append(timed_block(sides[name], per_round, untimed, meter))
    results = {name: summarise(b, args.batch) for name, b in blocks.items()}

    best = max((k for k in results if k.startswith("lightly")), key=lambda k: results[k]["images_per_s"])
    ratio = results["headstart"]["images_per_s"] / results[best]["images_per_s"]
    print(f"SimCLR {PRESET}, {len(pixels):,} {args.data} images {SIZE}x{SIZE}x3, batch {args.batch} (x2 views), "
          f"{args.rounds} rounds x {per_round} timed steps after {args.warmup} warm-up; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores; lightly {lightly.__version__}")
    for name, r in results.items():
        print(describe(name, r))
    print(f"ratio headstart / lightly ({best}, the faster): {ratio:.2f}x  "
          f"({results['headstart']['images_per_s']:.1f} vs {results[best]['images_per_s']:.1f} images/s)")
    print("reproduce: " + shlex.join([".venv-lightly/bin/python", "bench/simclr_vs_lightly.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
