"""nanoGPT's documented CPU recipe on tinyshakespeare (character level), trained by headstart.

Recipe (nanoGPT README, "I only have a macbook"): 4 layers, 4 heads, 128 dims, context 64, batch 12,
2000 iterations, lr 1e-3 decaying to 1e-4 over 2000 iterations, 100 warmup, beta2 0.99, no dropout.
nanoGPT reports validation loss ~1.88 after 2000 iterations.

Prints the validation loss curve, the wall time at which validation loss first reached the target
(training time only: evaluation pauses are excluded and reported separately) and the final loss.
Validation: the last 10% of the file's paragraphs (--val-from-end, whole documents, as nanoGPT's tail
split), estimated on --eval-batches fixed random windows.

    python bench/shakespeare_char.py [--target 1.89 --eval-every 100 --eval-batches 100]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RECIPE = {
    "model": {"preset": "gpt-nano", "dropout": 0.0},
    "objective": {"name": "causal_lm"},
    "train": {"steps": 2000, "batch_size": 12, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100,
              "betas": [0.9, 0.99], "weight_decay": 0.1, "grad_clip": 1.0, "log_every": 100, "progress": False},
}


def run(args, workdir: Path, overrides: dict | None = None, name: str = "nanogpt-recipe") -> dict:
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    cfg = json.loads(json.dumps(RECIPE))
    for section, values in (overrides or {}).items():
        cfg[section].update(values)
    cfg["train"].update(eval_every=args.eval_every, log_every=args.eval_every, eval_batches=args.eval_batches,
                        seed=args.seed)
    cfg.update(run_dir=str(workdir / name), data={"path": str(workdir / "data")})
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate(cfg))
    return {"name": name, **loss_curve(result.run_dir, args.target), "wall": time.perf_counter() - t0}


def loss_curve(run_dir: Path, target: float) -> dict:
    """(step, val loss, training seconds) at each evaluation, the first at or under ``target``, the end."""
    from headstart.engine.metrics import read_metrics

    train_rows = {r["step"]: r for r in read_metrics(run_dir, "train")}
    curve = []
    for row in read_metrics(run_dir, "val"):
        # train_s of the train log at this step: training time, evaluation pauses excluded. Without a
        # log row at this very step, take the next one (never an earlier one: that would flatter).
        later = [s for s in train_rows if s >= row["step"]]
        curve.append((row["step"], row["loss"], train_rows[min(later)]["train_s"] if later else float("nan")))
    hit = next(((s, t) for s, loss, t in curve if loss <= target), None)
    return {"curve": curve, "final": curve[-1][1], "hit": hit, "train_seconds": train_rows[max(train_rows)]["train_s"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=SHARED / "tinyshakespeare" / "input.txt")
    ap.add_argument("--target", type=float, default=1.89)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-batches", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--reference", action="store_true",
                    help="also run nanoGPT's protocol (bench/nanogpt_protocol.py) in the same invocation")
    args = ap.parse_args()
    if not args.input.exists():
        sys.exit(f"{args.input} not found: this benchmark needs ../shared/data/tinyshakespeare")
    from headstart.text.prepare import prepare_text

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare_text([args.input], workdir / "data", tokenizer="char", val_fraction=0.1, val_from_end=True,
                     progress=False)
        r = run(args, workdir)
    print(f"{'step':>6} {'val loss':>9} {'train s':>8}")
    for step, loss, seconds in r["curve"]:
        print(f"{step:>6} {loss:>9.4f} {seconds:>8.1f}")
    reached = (f"reached {args.target} at step {r['hit'][0]} after {r['hit'][1]:.1f} s of training"
               if r["hit"] else f"did NOT reach {args.target}")
    print(f"nanoGPT CPU recipe on headstart: final val loss {r['final']:.4f}; {reached}; "
          f"{r['train_seconds']:.1f} s training, {r['wall']:.1f} s wall including evaluation")
    if args.reference:
        from nanogpt_protocol import run_reference
        ref = run_reference(args.input, seed=args.seed)
        print(f"nanoGPT protocol reference: val loss {ref['val_20']:.4f} on 20 batches (nanoGPT's eval_iters), "
              f"{ref['val_200']:.4f} on 200 batches; {ref['train_seconds']:.1f} s training")
    print("reproduce: python " + " ".join(["bench/shakespeare_char.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
