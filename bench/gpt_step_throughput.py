"""Training-step throughput: headstart's GPT (through its real engine step) vs Hugging Face
``transformers`` ``GPT2LMHeadModel`` with the same configuration, same machine, same run.

Config (issue #2): 4 layers, 4 heads, 256 dims, context 256, batch 8, character vocabulary (65),
fp32, AdamW (the same torch AdamW settings for both), gradient clipping 1.0, no dropout.
Rounds alternate between the two so machine noise hits both alike; the figure is the median.

Each model runs in its own process by default, so each gets exactly what its user gets: headstart's
engine raises glibc's malloc thresholds for the process (``headstart/engine/host_memory.py``), and its
linear layers use oneDNN instead of MKL on non-Intel x86 CPUs (``headstart/kernels/linear.py``); a
plain HF loop gets neither. ``--same-process`` runs both in one process after headstart's engine has
started, so HF gets the same allocator settings; ``HEADSTART_ONEDNN_LINEAR=0`` gives headstart MKL's
matmuls too. With both, the ratio is that of the models and steps alone.

    python bench/gpt_step_throughput.py [--rounds 5 --steps 20] [--compile] [--same-process]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import torch

from headstart.engine import Trainer, TrainConfig
from headstart.engine.optim import build_optimizer
from headstart.models import TextTransformer, TransformerConfig
from headstart.objectives import CausalLM
from worker_rounds import alternate_rounds, serve_rounds

LAYERS, HEADS, DIM, CONTEXT, BATCH, VOCAB = 4, 4, 256, 256, 8, 65


class InMemoryTokens:
    """Random token batches held in memory: the engine's data source with no loader to measure."""
    unit = "tokens"

    def __init__(self, n_batches: int, batch: int = BATCH, context: int = CONTEXT, vocab: int = VOCAB):
        g = torch.Generator().manual_seed(0)
        self.data = torch.randint(0, vocab, (n_batches, batch, context + 1), generator=g)

    def batch(self, index):
        return {"tokens": self.data[index % len(self.data)]}

    def units(self, batch):
        return batch["tokens"].shape[0] * (batch["tokens"].shape[1] - 1)


def engine_step(trainer: Trainer) -> None:
    """One optimizer step through the engine, as ``Trainer.fit`` takes it (without logging or saving)."""
    trainer._train_step()
    trainer.step += 1


def headstart_runner(args, run_dir):
    cfg = TransformerConfig(vocab_size=VOCAB, context_length=CONTEXT, n_layer=LAYERS, n_head=HEADS, d_model=DIM)
    train = TrainConfig(steps=10**6, batch_size=BATCH, lr=1e-3, betas=(0.9, 0.99), compile=args.compile,
                        progress=False)
    trainer = Trainer(CausalLM(TextTransformer(cfg)), InMemoryTokens(8), None, train, run_dir, run_config={})
    return lambda: engine_step(trainer)


def hf_runner(args):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=DIM, n_layer=LAYERS, n_head=HEADS,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg)
    model.train()
    optimizer = build_optimizer(model, TrainConfig(steps=1, batch_size=BATCH, lr=1e-3, betas=(0.9, 0.99)),
                                torch.device("cpu"))
    data = InMemoryTokens(8)
    state = {"i": 0}

    def step():
        tokens = data.batch(state["i"])["tokens"]
        state["i"] += 1
        loss = model(input_ids=tokens[:, :-1], labels=tokens[:, :-1]).loss  # HF shifts labels itself
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def tokens_per_s(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return n * BATCH * CONTEXT / (time.perf_counter() - t0)


def build_runner(name, args, tmp):
    step = headstart_runner(args, tmp) if name == "headstart" else hf_runner(args)
    for _ in range(args.warmup):
        step()
    return step


def worker(args):
    """One model in this process: warm up, then run a round each time the parent writes a line."""
    with tempfile.TemporaryDirectory() as tmp:
        step = build_runner(args.worker, args, tmp)
        serve_rounds(lambda: tokens_per_s(step, args.steps))


def rates_in_separate_processes(args, names):
    cmd = [sys.executable, __file__, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    return alternate_rounds({name: cmd + ["--worker", name] + (["--compile"] if args.compile else [])
                             for name in names}, args.rounds)


def rates_in_one_process(args, names):
    with tempfile.TemporaryDirectory() as tmp:
        runners = {name: build_runner(name, args, tmp) for name in names}
        rates = {name: [] for name in names}
        for _ in range(args.rounds):
            for name, step in runners.items():
                rates[name].append(tokens_per_s(step, args.steps))
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="steps per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile headstart's model")
    ap.add_argument("--same-process", action="store_true",
                    help="both models in one process, sharing headstart's allocator settings")
    ap.add_argument("--worker", choices=["headstart", "hf_gpt2"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.worker:
        return worker(args)
    names = ["headstart", "hf_gpt2"]
    rates = (rates_in_one_process if args.same_process else rates_in_separate_processes)(args, names)
    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 CPU; "
          f"{LAYERS}L/{HEADS}H/{DIM}d, context {CONTEXT}, batch {BATCH}, vocab {VOCAB}"
          f"{', headstart compiled' if args.compile else ''}; "
          f"{'one process' if args.same_process else 'one process each'}")
    for name, r in rates.items():
        print(f"{name:>10}: {med[name]:9,.0f} tokens/s (median of {args.rounds}; rounds {[round(x) for x in r]})")
    print(f"ratio headstart / HF GPT2LMHeadModel: {med['headstart'] / med['hf_gpt2']:.2f}x")
    print("reproduce: python " + " ".join(["bench/gpt_step_throughput.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
