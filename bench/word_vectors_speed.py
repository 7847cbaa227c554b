"""Skip-gram speed on CPU: gensim's C loop against the same objective written in PyTorch, as headstart's
engine would run it; the figure behind "word vectors are trained by gensim" (README, Word vectors).

Both train skip-gram with negative sampling on the same first N tokens of a prepared word corpus (IMDb's
unlabeled reviews by default): 300 dimensions, window 5 (shrunk at random, as word2vec does), 5 noise words
drawn from the unigram distribution to the 3/4, frequent words subsampled at 1e-4, 2 threads, one pass.
The PyTorch version is a fair one, not a strawman: batches of 8,192 centre words, every (centre, context)
pair of the batch in one gather, sparse embedding gradients, plain SGD at gensim's learning rate.
Reported: raw corpus words a second (subsampled words count, as gensim counts them), and the ratio.

    python bench/word_vectors_speed.py [--data /tmp/headstart-imdb/imdb-words] [--tokens 2000000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch


def corpus_ids(data: Path, tokens: int) -> tuple[np.ndarray, int]:
    from headstart.text.shards import load_manifest

    manifest = load_manifest(data)
    shard = manifest["splits"]["train"]["shards"][0]
    ids = np.memmap(data / shard["file"], dtype=manifest["dtype"], mode="r")[:tokens]
    return np.asarray(ids, dtype=np.int64), int(manifest["vocab_size"])


def gensim_words_per_second(ids: np.ndarray, dim: int) -> float:
    from gensim.models import Word2Vec

    sentences, start = [], 0  # gensim's sentences: 1,000-word chunks of the id stream, as strings
    words = ids.astype(str)
    while start < len(words):
        sentences.append(words[start:start + 1000].tolist())
        start += 1000
    model = Word2Vec(vector_size=dim, window=5, negative=5, sample=1e-4, sg=1, min_count=1, workers=2, seed=1)
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=1)
    return len(ids) / (time.perf_counter() - t0)


def torch_words_per_second(ids: np.ndarray, vocab: int, dim: int, batch: int = 8192) -> float:
    torch.set_num_threads(2)
    counts = np.bincount(ids, minlength=vocab).astype(np.float64)
    freq = counts / counts.sum()
    keep = np.minimum(1.0, (np.sqrt(freq / 1e-4) + 1) * 1e-4 / np.maximum(freq, 1e-12))  # word2vec's rule
    noise = torch.from_numpy(counts ** 0.75 / (counts ** 0.75).sum())
    inp = torch.nn.Embedding(vocab, dim, sparse=True)
    out = torch.nn.Embedding(vocab, dim, sparse=True)
    torch.nn.init.uniform_(inp.weight, -0.5 / dim, 0.5 / dim)
    torch.nn.init.zeros_(out.weight)
    optimizer = torch.optim.SGD([inp.weight, out.weight], lr=0.025)
    rng = np.random.default_rng(1)
    stream = torch.from_numpy(ids)
    offsets = torch.tensor([o for o in range(-5, 6) if o])
    t0 = time.perf_counter()
    for start in range(0, len(ids), batch):
        centre_pos = torch.arange(start, min(start + batch, len(ids)))
        kept = torch.from_numpy(rng.random(len(centre_pos)) < keep[ids[centre_pos.numpy()]])
        centre_pos = centre_pos[kept]
        window = torch.from_numpy(rng.integers(1, 6, len(centre_pos)))  # shrunk window per centre
        context_pos = centre_pos[:, None] + offsets[None, :]
        valid = (offsets.abs()[None, :] <= window[:, None]) & (context_pos >= 0) & (context_pos < len(ids))
        centres = stream[centre_pos][:, None].expand_as(context_pos)[valid]
        contexts = stream[context_pos.clamp(0, len(ids) - 1)][valid]
        negatives = torch.multinomial(noise, len(centres) * 5, replacement=True).view(-1, 5)
        v = inp(centres)
        pos = torch.nn.functional.logsigmoid((v * out(contexts)).sum(-1))
        neg = torch.nn.functional.logsigmoid(-(v[:, None, :] * out(negatives)).sum(-1)).sum(-1)
        loss = -(pos + neg).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return len(ids) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/headstart-imdb/imdb-words"))
    ap.add_argument("--tokens", type=int, default=2_000_000)
    ap.add_argument("--dim", type=int, default=300)
    args = ap.parse_args()
    if not (args.data / "manifest.json").exists():
        sys.exit(f"{args.data}: run bench/imdb_transfer.py first (it prepares IMDb's reviews with a word tokenizer)")
    ids, vocab = corpus_ids(args.data, args.tokens)
    ours = torch_words_per_second(ids, vocab, args.dim)
    theirs = gensim_words_per_second(ids, args.dim)
    print(f"skip-gram, {len(ids):,} words, {args.dim} dims, 2 threads: gensim {theirs:,.0f} words/s, "
          f"PyTorch {ours:,.0f} words/s; gensim / PyTorch = {theirs / ours:.1f}x")
    print("reproduce: python bench/word_vectors_speed.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
