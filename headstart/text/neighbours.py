"""Nearest words of a word-vector run: what ``generate`` is for a language model, a look at what
pre-training learned ("socket" -> "sockets, tcp, udp, ..."), by cosine similarity of the vectors."""
from __future__ import annotations

import numpy as np

from ..errors import HeadstartError
from .pretrained import load_word_vectors
from ..tokenizer import special_token_ids


def nearest_words(checkpoint, words: list[str], k: int = 5) -> dict[str, list[tuple[str, float]]]:
    """``{word: [(neighbour, cosine), ...]}`` for each of ``words`` in the vocabulary (others are skipped
    with a note in their place: ``[]``)."""
    model, tokenizer, _, _ = load_word_vectors(checkpoint)
    vectors = model.words.weight.detach().numpy()
    norms = np.linalg.norm(vectors, axis=1)
    known = norms > 0  # ids the corpus never showed keep zero vectors
    known[list(special_token_ids(tokenizer).values())] = False
    unit = vectors / np.maximum(norms, 1e-12)[:, None]
    vocab = {index: word for word, index in tokenizer.get_vocab().items()}
    out = {}
    for word in words:
        ids = tokenizer.encode(word).ids
        if len(ids) != 1 or not known[ids[0]]:
            out[word] = []
            continue
        similarity = np.where(known, unit @ unit[ids[0]], -np.inf)
        similarity[ids[0]] = -np.inf
        best = np.argsort(-similarity)[:k]
        out[word] = [(vocab[i], float(similarity[i])) for i in best]
    if not any(out.values()):
        raise HeadstartError(f"{checkpoint}: none of {', '.join(words)} has a vector (check the spelling and case)")
    return out
