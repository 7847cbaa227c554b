"""A word-vector checkpoint (skip-gram, CBOW) as a fine-tuning backbone: fastText's classifier, a bag of
the text's word vectors pooled (mean, max or both) under a linear head."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..finetune.config import FinetuneConfig
from ..modality import TaskBackbone, with_dropout
from ..models.word_vectors import WordVectorModel
from ..objectives import Classification
from .labeled import LabeledTexts
from .ngram_features import NgramSide, with_ngrams
from .noise import text_views
from ..tokenizer import special_token_ids
from .word_bags import WordBagBatches, WordBagEncoder


class WordVectorBackbone(NgramSide, TaskBackbone):
    def __init__(self, model: WordVectorModel, tokenizer, source: str, cfg: FinetuneConfig):
        self.model, self.tokenizer, self.source, self.cfg = with_dropout(model, cfg.dropout), tokenizer, source, cfg
        self.pooling = "mean" if cfg.pooling == "auto" else cfg.pooling
        arch = model.cfg
        self.encoder = WordBagEncoder(tokenizer, arch.subword_buckets, arch.min_n, arch.max_n)

    def checkpoint_files(self, run_dir: Path) -> dict[str, Path]:
        path = run_dir / "tokenizer.json"  # every fine-tuning checkpoint loads on its own
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path))
        return {"tokenizer.json": path, **self.ngram_files(run_dir)}

    def objective(self, num_classes: int, pooling: str | None = None) -> nn.Module:
        return Classification(self.model, num_classes, pooling or self.pooling, feature_norm=True,
                              sparse_features=self.sparse_width())

    @torch.no_grad()
    def features(self, data: LabeledTexts, num_classes: int) -> np.ndarray:
        """Frozen features for probes and LogME: a CNN's filters are untrained here, so its runs are
        probed on the mean of the word vectors instead."""
        objective = self.objective(num_classes, "mean" if self.pooling == "cnn" else None).eval()
        return np.concatenate([objective.features(b).float().numpy() for b in self.batches(data, 64).in_order()])

    def batches(self, data: LabeledTexts, batch_size: int, seed: int = 0):
        special = special_token_ids(self.tokenizer)
        return with_ngrams(self.ngrams, WordBagBatches(self.encoder.encode(data.texts, self.cfg.task.max_length),
                                                       data.labels, batch_size=batch_size, pad_id=special["pad"],
                                                       fallback_id=special["unk"], seed=seed), data)

    def with_fresh_weights(self) -> "WordVectorBackbone":
        return WordVectorBackbone(WordVectorModel(self.model.cfg), self.tokenizer,
                                  f"random init (architecture of {self.source})", self.cfg)

    def consistency_views(self, method: str):
        return text_views(self.tokenizer)  # one text noise for both text backbones

    def describe(self) -> str:
        arch = self.model.cfg
        subwords = f", {arch.subword_buckets:,} subword buckets" if arch.subword_buckets else ""
        return f"bag of {arch.dim}-d word vectors{subwords}, {self.pooling} pooling"
