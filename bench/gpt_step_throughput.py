"""Training-step throughput: headstart's GPT (through its real engine step) vs Hugging Face
``transformers`` ``GPT2LMHeadModel`` with the same configuration, same machine, same run.

Config (issue #2): 4 layers, 4 heads, 256 dims, context 256, batch 8, character vocabulary (65),
fp32, AdamW (the same torch AdamW settings for both), gradient clipping 1.0, no dropout.
Rounds alternate between the two so machine noise hits both alike; the figure is the median.

    python bench/gpt_step_throughput.py [--rounds 5 --steps 20] [--compile]
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

LAYERS, HEADS, DIM, CONTEXT, BATCH, VOCAB = 4, 4, 256, 256, 8, 65


class InMemoryTokens:
    unit = "tokens"

    def __init__(self, n_batches: int):
        g = torch.Generator().manual_seed(0)
        self.data = torch.randint(0, VOCAB, (n_batches, BATCH, CONTEXT + 1), generator=g)

    def batch(self, index):
        return {"tokens": self.data[index % len(self.data)]}

    def units(self, batch):
        return BATCH * CONTEXT


def headstart_runner(args, run_dir):
    cfg = TransformerConfig(vocab_size=VOCAB, context_length=CONTEXT, n_layer=LAYERS, n_head=HEADS, d_model=DIM)
    train = TrainConfig(steps=10**6, batch_size=BATCH, lr=1e-3, betas=(0.9, 0.99), compile=args.compile,
                        progress=False)
    trainer = Trainer(CausalLM(TextTransformer(cfg)), InMemoryTokens(8), None, train, run_dir, run_config={})

    def step():
        trainer._train_step()
        trainer.step += 1
    return step


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="steps per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile headstart's model")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        runners = {"headstart": headstart_runner(args, tmp), "hf_gpt2": hf_runner(args)}
        for step in runners.values():
            for _ in range(args.warmup):
                step()
        rates = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, step in runners.items():
                rates[name].append(tokens_per_s(step, args.steps))
    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 CPU; "
          f"{LAYERS}L/{HEADS}H/{DIM}d, context {CONTEXT}, batch {BATCH}, vocab {VOCAB}"
          f"{', headstart compiled' if args.compile else ''}")
    for name, r in rates.items():
        print(f"{name:>10}: {med[name]:9,.0f} tokens/s (median of {args.rounds}; rounds {[round(x) for x in r]})")
    print(f"ratio headstart / HF GPT2LMHeadModel: {med['headstart'] / med['hf_gpt2']:.2f}x")
    print("reproduce: python " + " ".join(["bench/gpt_step_throughput.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
