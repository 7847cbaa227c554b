"""fp32 CPU linear layers, forward + backward: PyTorch's default (MKL sgemm) against headstart's
oneDNN path (``headstart/kernels/linear.py``), same process, same machine, alternating rounds.

The shapes are those of bench/gpt_step_throughput.py's model (2,048 rows = batch 8 x context 256;
4 layers, 256 dims) and a few smaller ones that show where the oneDNN call's overhead stops paying
(``MIN_PRODUCT``). The oneDNN path is forced on here whatever the CPU's vendor, so the figure can be
measured on an Intel CPU too, where headstart leaves it off by default.

``--models`` also times whole training steps (forward, backward, AdamW) of headstart's models at the
sizes its shipped configs train on a CPU, synthetic inputs, each model in two processes
(``HEADSTART_ONEDNN_LINEAR=0`` and ``=1``) whose rounds alternate.

    python bench/linear_kernels.py [--rounds 7] [--models]
"""
from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import sys
import time

import torch
from torch import nn

from headstart.engine.host_memory import retain_freed_memory
from headstart.engine.throughput import matmul_rate
from headstart.kernels import Linear
from headstart.models import PRESETS, TextTransformer, TransformerConfig
from headstart.models.audio_encoder import AudioEncoder, audio_config
from headstart.models.vision_presets import build_vision_model
from worker_rounds import alternate_rounds, serve_rounds

kernel = importlib.import_module("headstart.kernels.linear")

# (rows, in, out): the GPT bench's qkv, attention out, MLP up, MLP down, LM head; then smaller ones.
SHAPES = [(2048, 256, 768), (2048, 256, 256), (2048, 256, 1024), (2048, 1024, 256), (2048, 256, 65),
          (1024, 128, 128), (512, 128, 128), (256, 128, 128), (64, 64, 64)]


def seconds_per_step(layer, x, steps):
    x = x.detach().requires_grad_()
    grad = torch.randn(x.shape[0], layer.out_features)  # dense, as a loss sends it
    for _ in range(3):
        layer(x).backward(grad)
    t0 = time.perf_counter()
    for _ in range(steps):
        layer(x).backward(grad)
    return (time.perf_counter() - t0) / steps


# name -> what it stands for; built by model_and_loss.
MODELS = {
    "gpt-nano, batch 12": "configs/shakespeare-char.yaml (nanoGPT's CPU recipe)",
    "gpt-nano, batch 48": "configs/shakespeare-speedrun.yaml",
    "bert-micro, batch 32": "the SST-2/TREC masked-LM benchmark's model, context 128 (logits at every position)",
    "bert-micro, batch 32, varying": "fine-tuning's batches, padded to their longest text: a length of 16-128 "
                                     "drawn each step, so most shapes are new to oneDNN (mean pooled)",
    "audio-tiny, batch 64": "configs/fsdd-best-rq.yaml's encoder, 1 s clips (100 frames of 40 mels)",
    "vit-nano 64 px / 8, batch 32": "configs/cc12m-clip.yaml's image tower",
    "vit-nano 28 px / 4, batch 256": "an MNIST-sized ViT",
}


def model_and_loss(name):
    """(model, a function computing a training loss on fixed synthetic inputs)."""
    g = torch.Generator().manual_seed(0)
    if name.endswith("varying"):
        model = TextTransformer(TransformerConfig(vocab_size=8192, **PRESETS["bert-micro"]))
        head = Linear(model.cfg.d_model, 2)
        lengths = random.Random(0)

        def loss():
            tokens = torch.randint(0, 8192, (32, lengths.randint(16, 128)), generator=g)
            return torch.nn.functional.cross_entropy(head(model.hidden_states(tokens).mean(1)), tokens[:, 0] % 2)
        return model, loss
    batch = int(name.rsplit(" ", 1)[1])
    if name.startswith(("gpt", "bert")):
        preset = name.split(",")[0]
        model = TextTransformer(TransformerConfig(vocab_size=65 if preset.startswith("gpt") else 8192,
                                                  **PRESETS[preset]))
        tokens = torch.randint(0, model.cfg.vocab_size, (batch, model.cfg.context_length), generator=g)
        return model, lambda: torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
    if name.startswith("audio"):
        model = AudioEncoder(audio_config("audio-tiny", n_mels=40))
        frames = torch.randn(batch, 100, 40, generator=g)
        return model, lambda: model.encode(frames)[0].pow(2).mean()
    size, patch = (64, 8) if "64 px" in name else (28, 4)
    channels = 3 if size == 64 else 1
    model = build_vision_model("vit-nano", image_size=size, channels=channels, patch_size=patch)
    images = torch.randn(batch, channels, size, size, generator=g)
    return model, lambda: model(images).pow(2).mean()


def model_worker(name, steps):
    """One model in this process: warm up, then time ``steps`` steps each time the parent writes a line."""
    retain_freed_memory()
    model, loss = model_and_loss(name)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    for _ in range(3):
        step()

    def timed_steps():
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - t0) / steps
    serve_rounds(timed_steps)


def compare_models(rounds, steps=10):
    print(f"\n{'model':>30} {'MKL ms/step':>12} {'oneDNN ms/step':>15} {'speed-up':>9}   (median of {rounds} rounds)")
    for name, what in MODELS.items():
        argv = [sys.executable, __file__, "--model-worker", name, str(steps)]
        times = alternate_rounds({flag: argv for flag in ("0", "1")}, rounds,
                                 envs={flag: {**os.environ, "HEADSTART_ONEDNN_LINEAR": flag} for flag in ("0", "1")})
        mkl, onednn = statistics.median(times["0"]), statistics.median(times["1"])
        print(f"{name:>30} {mkl * 1e3:>12.1f} {onednn * 1e3:>15.1f} {mkl / onednn:>8.2f}x   {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--models", action="store_true", help="also time whole training steps of headstart's models")
    ap.add_argument("--model-worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.model_worker:
        return model_worker(args.model_worker[0], int(args.model_worker[1]))
    if not torch.backends.mkldnn.is_available():
        sys.exit("this PyTorch has no oneDNN: nothing to compare")
    retain_freed_memory()  # both paths get the engine's allocator setting
    default_on = kernel.onednn_linear_available()
    kernel._LINEAR, kernel.MIN_PRODUCT = kernel._ONEDNN_LINEAR, 0
    torch.manual_seed(0)
    mkl = onednn = 0.0
    for _ in range(3):  # alternate, best of each: a noisy moment then hits both alike
        mkl = max(mkl, matmul_rate(torch.mm, seconds=0.3))
        onednn = max(onednn, matmul_rate(kernel.linear, seconds=0.3))  # a @ b.T: the same FLOPs
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
    if args.models:
        compare_models(args.rounds)
    print("reproduce: python " + " ".join(["bench/linear_kernels.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
