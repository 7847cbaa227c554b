"""nanoGPT's shakespeare_char training protocol, re-implemented as a peer for bench/shakespeare_char.py.

What differs from headstart is the *protocol*, not the model: nanoGPT trains on the raw character
stream (65 symbols, no document separators, no deduplication), splits it 90/10 by position, samples
batches with ``torch.randint`` and estimates validation loss on 20 fresh random batches.  The model is
headstart's ``TextTransformer`` with nanoGPT's architecture (pre-norm GPT-2 blocks without biases,
tied embeddings, GPT-2 init), trained with nanoGPT's loop: AdamW (decay on matrices), warmup then
cosine, clip 1.0.  Its estimate is printed on 20 batches (nanoGPT's ``eval_iters``) and on 200 batches,
to show how much of nanoGPT's reported ~1.88 is estimation noise.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from headstart.models import TextTransformer, TransformerConfig


def run_reference(input_file: Path, seed: int = 1337, steps: int = 2000, batch: int = 12, block: int = 64) -> dict:
    torch.manual_seed(seed)
    text = input_file.read_text()
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    data = torch.tensor([stoi[c] for c in text])
    split = int(0.9 * len(data))
    parts = {"train": data[:split], "val": data[split:]}

    def get_batch(name):
        d = parts[name]
        ix = torch.randint(len(d) - block, (batch,))
        return torch.stack([d[i:i + block] for i in ix]), torch.stack([d[i + 1:i + 1 + block] for i in ix])

    model = TextTransformer(TransformerConfig(vocab_size=len(stoi), context_length=block, n_layer=4, n_head=4,
                                              d_model=128))
    params = list(model.parameters())
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))

    def lr(it, warmup=100, top=1e-3, bottom=1e-4):  # nanoGPT's get_lr
        if it < warmup:
            return top * (it + 1) / (warmup + 1)
        return bottom + 0.5 * (1 + math.cos(math.pi * (it - warmup) / (steps - warmup))) * (top - bottom)

    @torch.no_grad()
    def val_loss(n):
        model.eval()
        losses = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in
                  (get_batch("val") for _ in range(n))]
        model.train()
        return sum(losses) / n

    t0 = time.perf_counter()
    for it in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr(it)
        x, y = get_batch("train")
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    train_seconds = time.perf_counter() - t0
    return {"val_20": val_loss(20), "val_200": val_loss(200), "train_seconds": train_seconds}
