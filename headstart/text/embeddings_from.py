"""``model.embeddings_from``: a new text transformer's token embeddings start from pre-trained word vectors.

Why: skip-gram / CBOW vectors cost minutes of CPU where a transformer costs hours of accelerator time.
Seeding the expensive model's token table with the cheap vectors spends its pre-training on what only it
can learn (words in context) instead of first rediscovering which words behave alike.

Only a fresh run is seeded (``PretrainSetup.fresh_start``): on resume the checkpoint holds the weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..engine.checkpoint import read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..models import TextTransformer
from .pretrained import load_word_vectors
from ..tokenizer import load_tokenizer

KEY = "model.embeddings_from"


def seed_token_embeddings(model: TextTransformer, source, data_tokenizer: Path) -> str:
    """Copy the word vectors of run or checkpoint ``source`` into ``model.tok_emb`` in place; returns the
    line to log.  The data's tokenizer must be the vectors' vocabulary (same token -> id)."""
    vectors, checkpoint = word_vector_table(source)
    check_same_vocabulary(Path(data_tokenizer), checkpoint / "tokenizer.json")
    table = model.tok_emb.weight
    if vectors.shape[0] != table.shape[0]:  # past the vocabulary check, only a model built for other data
        raise HeadstartError(f"{KEY}: {checkpoint} has {vectors.shape[0]:,} word vectors but the model "
                             f"{table.shape[0]:,} token embeddings")
    # Ids the vectors never saw (special tokens, words only the val split has) are zero rows there
    # (text/word_vectors._to_model); they keep the transformer's random init.
    seen = np.flatnonzero(np.any(vectors != 0, axis=1))
    if len(seen) == 0:
        raise HeadstartError(f"{KEY}: {checkpoint} holds no trained word vectors (every row is zero)")
    rows, how = fit_width(vectors[seen], table.shape[1])
    # The same scale as the rows init_weights drew: vectors at skip-gram's own scale (or far larger, from
    # a long run) would make the first steps' activations and gradients unlike those the learning rate
    # and warm-up were chosen for.  Measured on the table itself, so it follows whatever init the model has.
    init_std = float(table.detach().float().std())
    rows *= init_std / max(float(np.sqrt(np.mean(rows ** 2))), 1e-12)
    with torch.no_grad():
        # With tie_embeddings, lm_head.weight is this very tensor: the output embedding starts from the
        # vectors too and stays tied.  (ELECTRA's generator reads these embeddings as well.)
        table[torch.from_numpy(seen)] = torch.from_numpy(rows).to(table.dtype)
    return f"token embeddings from {checkpoint}: {len(seen):,} of {table.shape[0]:,} rows copied ({how})"


def word_vector_table(source) -> tuple[np.ndarray, Path]:
    """(vocab_size, dim) word vectors of a skip-gram / CBOW run or checkpoint, and that checkpoint."""
    try:
        checkpoint = resolve_checkpoint(source)
        state = read_state(checkpoint)
    except HeadstartError as e:
        raise HeadstartError(f"{KEY}: {e}; give a skipgram or cbow run") from None
    config = state.get("config") if isinstance(state.get("config"), dict) else {}
    if ((config.get("model") or {}).get("kind")) != "word_vectors":
        objective = (config.get("objective") or {}).get("name", "unknown")
        raise HeadstartError(f"{KEY}: {checkpoint} is a {objective} run, not word vectors; expected a skipgram "
                             f"or cbow run")
    try:
        model, _, checkpoint, _ = load_word_vectors(checkpoint)
    except HeadstartError as e:  # a damaged run: its config, weights or tokenizer
        raise HeadstartError(f"{KEY}: {e}") from None
    # Subword (n-gram) vectors are left behind: the transformer's vocabulary has a row for every id.
    return model.words.weight.detach().float().numpy(), Path(checkpoint)


def check_same_vocabulary(data_file: Path, vectors_file: Path) -> None:
    """Row i of the vectors must be the word the data writes as id i: compare token -> id mappings."""
    data, vectors = load_tokenizer(data_file).get_vocab(), load_tokenizer(vectors_file).get_vocab()
    if data == vectors:
        return
    moved = sum(1 for word, i in vectors.items() if word in data and data[word] != i)
    missing = sum(1 for word in vectors if word not in data)
    new = sum(1 for word in data if word not in vectors)
    parts = [f"{moved:,} of {len(vectors):,} words map to other ids"] if moved else []
    parts += [f"{missing:,} of the vectors' words are not in the data's"] if missing else []
    parts += [f"{new:,} of the data's words are not in the vectors'"] if new else []
    raise HeadstartError(f"{KEY}: vocabularies differ: {', '.join(parts)} ({data_file} vs {vectors_file}); "
                         f"prepare the data with --tokenizer {vectors_file}")


def fit_width(rows: np.ndarray, width: int) -> tuple[np.ndarray, str]:
    """(N, dim) vectors -> (N, width): centred, then by PCA when narrower, zero-padded when wider.

    Centred because skip-gram vectors share one common direction that says nothing about any word; kept,
    it would dominate the copied rows (and, at a fixed scale, shrink what tells words apart).  PCA (the
    top right singular vectors of the centred table: numpy's SVD, deterministic) keeps the most variance
    any linear map to ``width`` dims can.  At equal widths the centred vectors are copied as they are.
    """
    rows = rows.astype(np.float64)
    rows = rows - rows.mean(axis=0)
    dim = rows.shape[1]
    if width < dim:
        _, _, axes = np.linalg.svd(rows, full_matrices=False)
        rows, how = rows @ axes[:width].T, f"{dim} -> {width} dims by PCA"
    else:
        how = f"{dim} dims" if width == dim else f"{dim} -> {width} dims, zero-padded"
    if rows.shape[1] < width:  # wider model, or fewer words than width (SVD gives at most N axes)
        rows = np.pad(rows, ((0, 0), (0, width - rows.shape[1])))
    return rows, how
