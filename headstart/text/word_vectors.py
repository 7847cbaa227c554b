"""Skip-gram and CBOW word vectors (word2vec, with fastText's subword n-grams when asked) on a prepared
word-level corpus, trained by gensim.

Why gensim and not the engine: word2vec's update touches a handful of 300-float rows per word pair,
which gensim's Cython loop does without Python or tensor overhead.  ``bench/word_vectors_speed.py``
measures it against the engine's own skip-gram (``headstart.objectives.word2vec``) on the same
corpus: see BENCHMARKS.md.  The engine's version is the one for GPUs and torchrun.

A "step" is one pass over the training split (word2vec's epoch); ``train.lr`` is the starting learning
rate (word2vec's alpha), decayed linearly to ``train.min_lr`` as gensim does.  Every ``eval_every``
passes the vectors are scored on the validation split and checkpointed in headstart's layout: the
vectors in ``model.safetensors`` (``WordVectorModel``), word2vec's output vectors in
``objective.safetensors``, the word tokenizer beside them, so ``finetune``, ``compare`` and ``rank`` load
it as any other text checkpoint.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import yaml
from torch import nn

from ..engine import TrainResult
from ..engine.checkpoint import Checkpointer, save_fitted, write_json_atomic
from ..engine.distributed import init_from_env
from ..engine.energy import EnergyMeter
from ..engine.metrics import MetricsLogger
from ..engine.rng import seed_everything
from ..engine.signals import StopRequest
from ..data_engine import usable_cpus
from ..errors import HeadstartError
from ..models.word_vectors import WordVectorModel, WordVectorsConfig, sif_weights
from .shards import TokenShards
from ..tokenizer import load_tokenizer

log = logging.getLogger("headstart")

READ_BLOCK = 1 << 20  # tokens read from the shards at a time
MAX_DOC_WORDS = 10_000  # gensim silently cuts longer "sentences": cut them ourselves, into whole pieces
VAL_PAIRS = 20_000


class WordVectorObjective(nn.Module):
    """What a checkpoint holds: the vectors (``model``) and word2vec's output ("context") vectors."""

    def __init__(self, model: WordVectorModel):
        super().__init__()
        self.model = model
        self.context = nn.Embedding(model.cfg.vocab_size, model.cfg.dim)
        nn.init.zeros_(self.context.weight)  # word2vec starts its output vectors at zero


def word_documents(shards: TokenShards, words: np.ndarray, skip: np.ndarray) -> Iterator[list[str]]:
    """The split's documents as lists of words, special tokens left out; long documents in pieces."""
    eos = shards.special_tokens["eos"]
    carry = np.empty(0, dtype=np.int64)
    for start in range(0, len(shards), READ_BLOCK):
        block = np.concatenate([carry, shards.read(start, min(READ_BLOCK, len(shards) - start))])
        ends = np.flatnonzero(block == eos)
        begin = 0
        for end in ends:
            yield from _pieces(block[begin:end], words, skip)
            begin = end + 1
        carry = block[begin:]
    yield from _pieces(carry, words, skip)


def _pieces(ids: np.ndarray, words: np.ndarray, skip: np.ndarray) -> Iterator[list[str]]:
    ids = ids[~skip[ids]]
    for start in range(0, len(ids), MAX_DOC_WORDS):
        yield words[ids[start:start + MAX_DOC_WORDS]].tolist()


class _Corpus:
    """Re-iterable, as gensim needs one pass per epoch; nothing is held in memory."""

    def __init__(self, shards, words, skip):
        self.shards, self.words, self.skip = shards, words, skip

    def __iter__(self):
        return word_documents(self.shards, self.words, self.skip)


def check_word_tokenizer(tokenizer, cfg) -> None:
    """Word vectors need words: a BPE or character tokenizer's pieces would give vectors of fragments."""
    model = json.loads(tokenizer.to_str())["model"]["type"]
    pre = json.loads(tokenizer.to_str()).get("pre_tokenizer") or {}
    if model != "WordLevel" or "(?m)." in json.dumps(pre):  # the char tokenizer is a WordLevel of characters
        raise HeadstartError(f"data.path: {cfg.data.path} was prepared with a {model} tokenizer; "
                             f"{cfg.objective.name} needs words: prepare it with --tokenizer word")


def vocabulary(tokenizer, vocab_size: int, specials: dict) -> tuple[np.ndarray, np.ndarray]:
    """(word of each id, mask of the ids that are special tokens)."""
    words = np.empty(vocab_size, dtype=object)
    for word, index in tokenizer.get_vocab().items():
        words[index] = word
    skip = np.zeros(vocab_size, dtype=bool)
    skip[[i for i in specials.values() if i is not None]] = True
    return words, skip


def token_counts(shards: TokenShards) -> np.ndarray:
    counts = np.zeros(shards.vocab_size, dtype=np.int64)
    for start in range(0, len(shards), READ_BLOCK):
        counts += np.bincount(shards.read(start, min(READ_BLOCK, len(shards) - start)), minlength=shards.vocab_size)
    return counts


def build_gensim_model(name: str, arch: WordVectorsConfig, knobs: dict, counts: dict[str, int], seed: int,
                       alpha: float, min_alpha: float, workers: int):
    from gensim.models import FastText, Word2Vec

    common = dict(vector_size=arch.dim, window=knobs["window"], min_count=1, sg=int(name == "skipgram"),
                  negative=knobs["negative"], sample=knobs["sample"], seed=seed, workers=workers,
                  alpha=alpha, min_alpha=min_alpha)
    if arch.subword_buckets:
        model = FastText(min_n=arch.min_n, max_n=arch.max_n, bucket=arch.subword_buckets, **common)
    else:
        model = Word2Vec(**common)
    model.build_vocab_from_freq(counts)
    return model


def validation_loss(model, words: np.ndarray, val: TokenShards, skip: np.ndarray, window: int, negative: int,
                    seed: int) -> float:
    """Skip-gram negative-sampling loss of held-out word pairs: a word and one within ``window`` of it,
    against ``negative`` words drawn from word2vec's unigram^0.75 table.  The same pairs at every
    evaluation (seeded), so checkpoints of one run compare; CBOW runs are scored the same way."""
    generator = np.random.default_rng(seed)
    index = model.wv.key_to_index
    ids = val.read(0, min(len(val), 200_000))
    ids = ids[~skip[ids]]
    rows = np.array([index.get(w, -1) for w in words[ids].tolist()], dtype=np.int64)
    rows = rows[rows >= 0]
    if len(rows) < 2 * window + 2:
        return float("nan")
    centers = generator.integers(window, len(rows) - window, VAL_PAIRS)
    offsets = generator.integers(1, window + 1, VAL_PAIRS) * generator.choice([-1, 1], VAL_PAIRS)
    inputs, outputs = model.wv.vectors[rows[centers]], model.syn1neg[rows[centers + offsets]]
    table = model.cum_table
    noise = np.searchsorted(table, generator.integers(0, table[-1], (VAL_PAIRS, negative)))
    positive = np.einsum("nd,nd->n", inputs, outputs)
    negatives = np.einsum("nd,nkd->nk", inputs, model.syn1neg[noise])
    log_sigmoid = lambda x: -np.logaddexp(0, -x)  # noqa: E731
    return float(-(log_sigmoid(positive) + log_sigmoid(-negatives).sum(1)).mean())


def _to_model(gensim_model, words: np.ndarray, skip: np.ndarray, arch: WordVectorsConfig,
              counts: np.ndarray) -> WordVectorObjective:
    """The gensim vectors as rows of the word tokenizer's ids (ids gensim never saw keep zeros)."""
    objective = WordVectorObjective(WordVectorModel(arch))
    vectors = np.zeros((arch.vocab_size, arch.dim), dtype=np.float32)
    context = np.zeros_like(vectors)
    index = gensim_model.wv.key_to_index
    ids = np.array([i for i in range(arch.vocab_size) if not skip[i] and words[i] in index], dtype=np.int64)
    rows = np.array([index[words[i]] for i in ids], dtype=np.int64)
    vectors[ids], context[ids] = gensim_model.wv.vectors[rows], gensim_model.syn1neg[rows]
    with torch.no_grad():
        objective.model.words.weight.copy_(torch.from_numpy(vectors))
        objective.context.weight.copy_(torch.from_numpy(context))
        objective.model.word_weights.copy_(sif_weights(np.where(skip, 0, counts), arch.sif_a))
        if arch.subword_buckets:
            objective.model.subwords.weight.copy_(torch.from_numpy(np.asarray(gensim_model.wv.vectors_ngrams)))
    return objective


def pretrain_word_vectors(cfg, resume) -> TrainResult:
    """``headstart pretrain`` of skip-gram / CBOW: gensim trains them (see above for why), in one process."""
    if init_from_env().distributed:
        raise HeadstartError(f"{cfg.objective.name} runs in one process (gensim uses every core of it); "
                             f"start it without torchrun")
    if resume:
        raise HeadstartError(f"--resume: {cfg.objective.name} runs do not resume; start a new run_dir (each pass "
                             f"left a checkpoint you can fine-tune)")
    if Checkpointer(cfg.run_dir / "checkpoints").latest() is not None:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; set run_dir to a new directory")
    seed_everything(cfg.train.seed)
    return train_word_vectors(cfg, {**cfg.record(), "task": "pretrain_text"})


def train_word_vectors(cfg, run_config: dict) -> TrainResult:
    """Train as ``cfg`` (a ``PretrainConfig`` with objective skipgram or cbow) says; returns the result the
    engine's ``Trainer.fit`` would."""
    train_cfg, knobs = cfg.train, cfg.objective.record()
    shards, val = TokenShards(cfg.data.path, "train"), TokenShards(cfg.data.path, "val")
    tokenizer = load_tokenizer(shards.tokenizer_path)
    check_word_tokenizer(tokenizer, cfg)
    arch = WordVectorsConfig(**{**(cfg.model or {}), "vocab_size": shards.vocab_size})
    run_config = {**run_config, "model": arch.model_dump(mode="json")}
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
    words, skip = vocabulary(tokenizer, shards.vocab_size, shards.special_tokens)
    counts = token_counts(shards)
    frequencies = {words[i]: int(c) for i, c in enumerate(counts) if c > 0 and not skip[i]}
    if not frequencies:
        raise HeadstartError(f"{cfg.data.path}: the train split holds no words to learn vectors of")
    workers = usable_cpus()
    model = build_gensim_model(cfg.objective.name, arch, knobs, frequencies, train_cfg.seed, train_cfg.lr,
                               train_cfg.min_lr, workers)
    corpus, documents = _Corpus(shards, words, skip), shards.documents
    checkpointer = Checkpointer(cfg.run_dir / "checkpoints", train_cfg.keep_last)
    metrics = MetricsLogger(cfg.run_dir)
    meter = EnergyMeter(torch.device("cpu"), power_watts=train_cfg.power_watts,
                        device_tdp_watts=train_cfg.device_tdp_watts, carbon_intensity=train_cfg.carbon_intensity)
    log.info("%s: %d words (%d tokens) in %d documents, %d passes, %d worker threads (gensim)", cfg.objective.name,
             len(frequencies), int(counts[~skip].sum()), documents, train_cfg.steps, workers)
    meter.start()
    started, best, final_eval, last, interrupted, step = time.perf_counter(), None, {}, None, False, 0
    planned, words_per_pass = train_cfg.steps, int(counts[~skip].sum())
    try:
        with StopRequest() as stop:
            while step < planned:
                step += 1
                begin, end = (train_cfg.lr - (train_cfg.lr - train_cfg.min_lr) * f / planned for f in (step - 1, step))
                t0 = time.perf_counter()
                model.train(corpus, total_examples=documents, epochs=1, start_alpha=begin, end_alpha=end)
                seconds = time.perf_counter() - t0
                elapsed = time.perf_counter() - started
                metrics.log(step, "train", {"lr": begin, "words_per_s": words_per_pass / seconds,
                                            "elapsed_s": elapsed, "train_s": elapsed})
                log.info("pass %d/%d: %.0f words/s", step, planned, words_per_pass / seconds)
                if train_cfg.time_budget is not None:
                    planned = _passes_in_budget(train_cfg, step, elapsed, planned)
                if step % train_cfg.eval_every and step < planned and not stop.requested:
                    continue
                final_eval = {"loss": validation_loss(model, words, val, skip, knobs["window"], knobs["negative"],
                                                      train_cfg.seed)}
                metrics.log(step, "val", final_eval)
                log.info("pass %d: validation loss %.4f", step, final_eval["loss"])
                improved = best is None or final_eval["loss"] < best["value"]
                if improved:
                    best = {"metric": "loss", "value": final_eval["loss"], "step": step}
                last = _save(checkpointer, step, _to_model(model, words, skip, arch, counts), run_config, best, elapsed,
                             meter.record(elapsed), shards.tokenizer_path, improved)
                if stop.requested and step < planned:
                    interrupted = True
                    log.warning("stopped after pass %d of %d; checkpoint %s (gensim runs do not resume: start "
                                "again, or fine-tune this checkpoint)", step, planned, last)
                    break
    finally:
        metrics.close()
        meter.stop()
    seconds = time.perf_counter() - started
    cost = meter.record(seconds)
    write_json_atomic(cfg.run_dir / "cost.json", cost)
    return TrainResult(cfg.run_dir, step, interrupted, seconds, last, checkpointer.best(), final_eval, best, cost)


def _passes_in_budget(train_cfg, step: int, elapsed: float, planned: int) -> int:
    """``train.time_budget``: after the first pass, as many passes as its speed lets fit (at most
    ``train.steps``); the learning rate then decays over those.  Past the budget, none more."""
    if elapsed >= train_cfg.time_budget:
        return step
    if step == 1:
        fits = max(1, min(train_cfg.steps, int(train_cfg.time_budget / elapsed)))
        log.info("time budget %.0f s: a pass takes %.0f s, so %d passes of %d", train_cfg.time_budget, elapsed,
                 fits, train_cfg.steps)
        return fits
    return planned


def _save(checkpointer: Checkpointer, step: int, objective: WordVectorObjective, run_config: dict, best,
          elapsed: float, cost: dict, tokenizer_path: Path, improved: bool) -> Path:
    state = {"best": best, "elapsed_seconds": elapsed, "config": run_config, "cost": cost, "trained_by": "gensim"}
    return save_fitted(checkpointer, step, objective, state, extra_files={"tokenizer.json": tokenizer_path},
                       best_metric=("loss", best["value"]) if improved else None)
