"""Time to validation loss 1.89 on tinyshakespeare (character level): headstart's speedrun recipe
(configs/shakespeare-speedrun.yaml) against nanoGPT's documented CPU recipe, in the same invocation.

Both runs train on the same prepared data (bench/shakespeare_char.py's: paragraphs, validation = the
last 10%), are scored on the same 100 fixed validation batches, and report *training* seconds
(evaluation pauses excluded) at the first evaluation at or under the target.  The goal: the speedrun
reaches the target in at most a third of the nanoGPT recipe's full 2,000-step training time (that
recipe itself ends at about 1.91 on this scoring, so its own time to 1.89 does not exist).

    python bench/speedrun.py [--target 1.89] [--set train.lr=3e-3 ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from shakespeare_char import RECIPE, loss_curve

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SPEEDRUN = ROOT / "configs" / "shakespeare-speedrun.yaml"


def train(config: dict, workdir: Path, name: str, target: float) -> dict:
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    config = {**config, "run_dir": str(workdir / name), "data": {**config.get("data", {}), "path": str(workdir / "data")}}
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate(config))
    return {**loss_curve(result.run_dir, target), "wall": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=SHARED / "tinyshakespeare" / "input.txt")
    ap.add_argument("--target", type=float, default=1.89)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key of the speedrun config (to try a change)")
    ap.add_argument("--skip-recipe", action="store_true", help="speedrun only (no ratio)")
    args = ap.parse_args()
    if not args.input.exists():
        sys.exit(f"{args.input} not found: this benchmark needs ../shared/data/tinyshakespeare")
    from headstart.config import apply_overrides
    from headstart.text.prepare import prepare_text

    speedrun = apply_overrides(yaml.safe_load(SPEEDRUN.read_text()), args.overrides)
    speedrun["train"].update(seed=args.seed, progress=False)
    recipe = json.loads(json.dumps(RECIPE))
    recipe["train"].update(eval_every=100, log_every=100, eval_batches=speedrun["train"]["eval_batches"], seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare_text([args.input], workdir / "data", tokenizer="char", val_fraction=0.1, val_from_end=True,
                     progress=False)
        fast = train(speedrun, workdir, "speedrun", args.target)
        slow = None if args.skip_recipe else train(recipe, workdir, "nanogpt-recipe", args.target)
    print(f"{'step':>6} {'val loss':>9} {'train s':>8}   (speedrun)")
    for step, loss, seconds in fast["curve"]:
        print(f"{step:>6} {loss:>9.4f} {seconds:>8.1f}")
    reached = (f"reached {args.target} at step {fast['hit'][0]} after {fast['hit'][1]:.1f} s of training"
               if fast["hit"] else f"did NOT reach {args.target}")
    print(f"speedrun: {reached}; final {fast['final']:.4f} after {fast['train_seconds']:.1f} s")
    if slow is not None:
        print(f"nanoGPT recipe (same invocation): final {slow['final']:.4f} after {slow['train_seconds']:.1f} s of "
              f"training" + (f", {args.target} at {slow['hit'][1]:.1f} s" if slow["hit"] else
                             f", never at {args.target}"))
        if fast["hit"]:
            print(f"speedrun time to {args.target} / nanoGPT recipe training time: "
                  f"{fast['hit'][1] / slow['train_seconds']:.2f} (goal <= 0.33)")
    print("reproduce: python bench/speedrun.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
