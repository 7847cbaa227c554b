"""Word vectors as a model: one vector per word of a word-level vocabulary, plus (fastText-style) vectors
of hashed character n-grams that give a word outside the vocabulary a vector of its own.

Skip-gram and CBOW (``headstart.text.word_vectors``) train it on unlabeled text; fine-tuning puts a
classifier on its pooled token vectors (a bag of embeddings, as fastText's classifier is), and a
transformer can start its token embeddings from it.  The model holds weights only: which n-grams a
word has is the tokenizer side's business (``headstart.text.word_bags``).
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn


class WordVectorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["word_vectors"] = "word_vectors"
    vocab_size: int = Field(gt=0, description="rows of the word table: the word tokenizer's vocabulary")
    dim: int = Field(default=300, gt=0)
    subword_buckets: int = Field(default=0, ge=0, description="hashed character n-gram vectors; 0 = none")
    min_n: int = Field(default=3, gt=0, description="shortest character n-gram (with the < > word marks)")
    max_n: int = Field(default=6, gt=0, description="longest character n-gram")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="on token vectors, while fine-tuning")
    sif_a: Optional[float] = Field(default=1e-3, gt=0, description="weigh each word a / (a + p(word)), p its "
                                   "frequency in the pre-training corpus (Arora et al. 2017's smooth inverse "
                                   "frequency); null: every word alike")
    # A bag of embeddings has no context limit; Classification and the text batches read these two.
    context_length: int = 1_000_000
    causal: bool = False

    @model_validator(mode="after")
    def _ngram_range(self) -> "WordVectorsConfig":
        if self.min_n > self.max_n:
            raise ValueError(f"min_n ({self.min_n}) must not exceed max_n ({self.max_n})")
        return self

    @property
    def d_model(self) -> int:
        return self.dim


class WordVectorModel(nn.Module):
    """``hidden_states(inputs, padding_mask, subwords) -> (B, T, dim)``: each token's vector;
    ``token_weights(inputs)``: how much each counts in a mean (pre-training's word frequencies).

    ``subwords`` (optional) gives words outside the vocabulary their n-gram vectors:
    ``{"positions": (K,) flat indices into B*T, "buckets": (K, S) n-gram ids padded with -1}``; such a
    word's vector is the mean of its n-gram vectors (fastText's rule for an unseen word).
    """

    def __init__(self, cfg: WordVectorsConfig):
        super().__init__()
        self.cfg = cfg
        self.words = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.subwords = nn.Embedding(cfg.subword_buckets, cfg.dim) if cfg.subword_buckets else None
        self.dropout = nn.Dropout(cfg.dropout)
        # Per-word weights from pre-training's word frequencies (all 1 until a corpus sets them: a model
        # from scratch knows no frequencies).  Saved with the weights, not trained.
        self.register_buffer("word_weights", torch.ones(cfg.vocab_size))
        # word2vec's initialisation: uniform in +-0.5/dim, so a from-scratch model starts from small,
        # distinct vectors (and the same scale as a pre-trained one before its training).
        for table in (self.words, self.subwords):
            if table is not None:
                nn.init.uniform_(table.weight, -0.5 / cfg.dim, 0.5 / cfg.dim)

    def hidden_states(self, inputs: torch.Tensor, padding_mask: Optional[torch.Tensor] = None,
                      subwords: Optional[dict] = None) -> torch.Tensor:
        vectors = self.words(inputs)
        if subwords is not None and self.subwords is not None and len(subwords["positions"]):
            buckets = subwords["buckets"]
            real = (buckets >= 0).unsqueeze(-1).to(vectors.dtype)
            mean = (self.subwords(buckets.clamp(min=0)) * real).sum(1) / real.sum(1).clamp(min=1)
            flat = vectors.reshape(-1, vectors.shape[-1]).index_copy(0, subwords["positions"], mean)
            vectors = flat.view_as(vectors)
        return self.dropout(vectors)

    def token_weights(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.word_weights[inputs]

    def layers(self) -> list[nn.Module]:
        """Bottom-to-top groups for fine-tuning strategies: the tables are the whole model."""
        tables = nn.ModuleList([t for t in (self.words, self.subwords) if t is not None])
        return [tables, nn.Identity()]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def sif_weights(counts, a: Optional[float]):
    """a / (a + p(word)) from corpus counts (a float tensor, one per vocabulary id); all 1 when a is None."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if a is None or counts.sum() == 0:
        return torch.ones(len(counts))
    return (a / (a + counts / counts.sum())).float()
