"""Tokens/s and model FLOPs utilisation of a GPT-2-124M-sized model through headstart's engine step
(issue #7: goal ≥ 45% MFU on an H100/H200).

The model is the ``gpt2-small`` preset (12 layers, 12 heads, 768 dims, context 1024) with GPT-2's
vocabulary padded to 50,304, trained on random tokens (the data loader is not what is measured) through
``Trainer._train_step``: bf16 autocast on CUDA, fused AdamW, SDPA attention, gradient clipping, and
``torch.compile`` unless ``--no-compile``. MFU counts the model's FLOPs (6N + 12·L·H·Q·T per token, as
nanoGPT and PaLM) against the device's dense bf16 peak from ``headstart/engine/throughput.py``.

    python bench/gpu_mfu.py [--batch 32 --steps 30 --warmup 10] [--no-compile] [--also-eager]
    python bench/gpu_mfu.py --tiny     # a CPU smoke run of the same code on a 2-layer model
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch

from headstart.engine import Trainer, TrainConfig
from headstart.engine.throughput import device_peak_flops, peak_memory_gb
from headstart.models import TextTransformer, TransformerConfig
from headstart.models.presets import PRESETS
from headstart.objectives import CausalLM

from gpt_step_throughput import InMemoryTokens, engine_step


def model_config(tiny: bool) -> TransformerConfig:
    if tiny:
        return TransformerConfig(vocab_size=512, context_length=128, n_layer=2, n_head=2, d_model=64)
    return TransformerConfig(vocab_size=50304, **PRESETS["gpt2-small"])


def measure(cfg: TransformerConfig, args, compile_model: bool) -> dict:
    torch.manual_seed(0)
    model = TextTransformer(cfg)
    data = InMemoryTokens(4, args.batch, cfg.context_length, cfg.vocab_size)
    train = TrainConfig(steps=10**6, batch_size=args.batch, lr=6e-4, compile=compile_model, progress=False)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(CausalLM(model), data, None, train, run_dir, run_config={})
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        for _ in range(args.warmup):  # the first steps compile
            engine_step(trainer)
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            engine_step(trainer)
        sync()
        seconds = time.perf_counter() - t0
        peak, source = device_peak_flops(trainer.device)
        tokens_per_s = args.steps * args.batch * cfg.context_length / seconds
        flops_per_token = model.train_flops_per_token(cfg.context_length)
        return {"device": str(trainer.device), "peak": peak, "peak_source": source,
                "precision": str(trainer.amp_dtype or torch.float32).replace("torch.", ""),
                "tokens_per_s": tokens_per_s, "step_ms": 1000 * seconds / args.steps,
                "mfu_pct": 100 * flops_per_token * tokens_per_s / peak if peak else float("nan"),
                "peak_mem_gb": peak_memory_gb(trainer.device), "params_m": model.num_params() / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32, help="sequences per step")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation happens here)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--also-eager", action="store_true", help="measure eager mode after the compiled run")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model: a smoke run of this script on a CPU")
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.tiny:
        sys.exit("no CUDA GPU here: this benchmark measures GPU MFU (use --tiny for a CPU smoke run)")
    cfg = model_config(args.tiny)
    modes = [not args.no_compile] + ([False] if args.also_eager and not args.no_compile else [])
    for compile_model in modes:
        r = measure(cfg, args, compile_model)
        name = torch.cuda.get_device_name() if r["device"].startswith("cuda") else "CPU"
        print(f"{name} ({r['peak_source']}, {r['peak'] / 1e12:.3g} TFLOP/s), torch {torch.__version__}, "
              f"{r['precision']}, {'compiled' if compile_model else 'eager'}: {r['params_m']:.1f} M parameters, "
              f"batch {args.batch} x {cfg.context_length}")
        print(f"  {r['tokens_per_s']:,.0f} tokens/s, {r['step_ms']:.1f} ms/step, MFU {r['mfu_pct']:.1f}%, "
              f"peak memory {r['peak_mem_gb']:.1f} GiB", flush=True)
    print("reproduce: python " + " ".join(["bench/gpu_mfu.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
