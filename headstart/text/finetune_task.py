"""Text classification for ``headstart finetune`` and ``compare``: labeled files, a tokenizer, and
TF-IDF + logistic regression as the classical baseline."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from torch import nn

from ..config import resolve_model
from ..errors import HeadstartError
from ..finetune.config import DataRef, FinetuneConfig, TaskConfig
from ..modality import TaskBackbone, TaskModality, with_dropout
from ..models import TextTransformer
from ..objectives import Classification
from ..transfer.probes import tfidf_logreg
from .input_texts import read_texts
from .labeled import LabeledTexts, align_labels, read_labeled
from .ngram_features import NgramSide, with_ngrams
from .noise import text_views
from .pretrained import load_text_model, load_word_vectors, text_model_kind
from .task_batches import TextClassificationBatches, encode_texts
from ..tokenizer import load_tokenizer, special_token_ids

log = logging.getLogger("headstart")


class TextBackbone(NgramSide, TaskBackbone):
    def __init__(self, model: TextTransformer, tokenizer, source: str, cfg: FinetuneConfig):
        model = with_dropout(model, cfg.dropout)
        self.model, self.tokenizer, self.source, self.cfg = model, tokenizer, source, cfg
        self.pooling = cfg.pooling if cfg.pooling != "auto" else ("last" if model.cfg.causal else "mean")
        self.max_length = min(cfg.task.max_length or model.cfg.context_length, model.cfg.context_length)

    def checkpoint_files(self, run_dir: Path) -> dict[str, Path]:
        # The tokenizer travels with every fine-tuning checkpoint, so each one loads on its own.
        path = run_dir / "tokenizer.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path))
        return {"tokenizer.json": path, **self.ngram_files(run_dir)}

    def objective(self, num_classes: int) -> nn.Module:
        return Classification(self.model, num_classes, self.pooling, sparse_features=self.sparse_width())

    def batches(self, data: LabeledTexts, batch_size: int, seed: int = 0):
        special = special_token_ids(self.tokenizer)
        return with_ngrams(self.ngrams, TextClassificationBatches(
            encode_texts(self.tokenizer, data.texts, self.max_length), data.labels, batch_size=batch_size,
            pad_id=special["pad"], fallback_id=special["eos"], seed=seed), data)

    def with_fresh_weights(self) -> "TextBackbone":
        return TextBackbone(TextTransformer(self.model.cfg), self.tokenizer,
                            f"random init (architecture of {self.source})", self.cfg)

    def describe(self) -> str:
        return f"{self.pooling} pooling"

    def consistency_views(self, method: str):
        return text_views(self.tokenizer)


class TextTask(TaskModality):
    name = "text"
    baseline_name = "TF-IDF + logistic regression"
    baseline_protocol = "tfidf_logreg"
    ngram_side = True

    def read(self, ref: DataRef, task: TaskConfig, key: str) -> LabeledTexts:
        if ref.split is not None:
            raise HeadstartError(f"{key}.split: {ref.split!r} applies to prepared image folders; "
                                 f"{ref.path} is read as a labeled text file")
        return read_labeled(ref.path, fmt=task.format, text_field=task.text_field, label_field=task.label_field,
                            encoding=task.encoding)

    def align(self, train: LabeledTexts, other: LabeledTexts) -> LabeledTexts:
        return align_labels(train, other)

    def check_overlap(self, task: TaskConfig) -> None:
        """One labeled file in two splits: a test score on training (or validation) examples measures memory,
        and validation on training examples cannot choose a checkpoint.  Compared as files, so ``./a.tsv``,
        ``dir/../a.tsv`` and a link to it are one file."""
        given = [(key, ref) for key, ref in (("task.train", task.train), ("task.val", task.val),
                                             ("task.test", task.test)) if ref is not None]
        for i, (key, ref) in enumerate(given):
            for earlier, earlier_ref in given[:i]:
                if _same_file(ref.path, earlier_ref.path):
                    raise HeadstartError(f"{key}: {ref.path} is the file {earlier} reads; give {key} a file of "
                                         f"its own (held-out examples)")

    def backbone(self, cfg: FinetuneConfig) -> TaskBackbone:
        if cfg.init is not None:
            backbone = self.load(cfg.init, cfg)
            return backbone.with_fresh_weights() if cfg.scratch else backbone
        if cfg.tokenizer is None:
            raise HeadstartError("tokenizer: a text model trained from scratch needs a tokenizer.json (or give init)")
        tokenizer = load_tokenizer(cfg.tokenizer)
        try:
            arch = resolve_model(cfg.model, vocab_size=tokenizer.get_vocab_size())
        except ValueError as e:
            raise HeadstartError(str(e)) from None
        return TextBackbone(TextTransformer(arch), tokenizer, "random init", cfg)

    def load(self, checkpoint: Path, cfg: FinetuneConfig) -> TaskBackbone:
        if text_model_kind(checkpoint) == "word_vectors":
            from .word_vector_task import WordVectorBackbone
            model, tokenizer, found, _ = load_word_vectors(checkpoint)
            return WordVectorBackbone(model, tokenizer, str(found), cfg)
        model, tokenizer, found, _ = load_text_model(checkpoint)
        return TextBackbone(model, tokenizer, str(found), cfg)

    def read_pool(self, ref: DataRef, task: TaskConfig, field: str, label_names: list[str]) -> LabeledTexts:
        """A file of unlabeled texts: one per line, or JSONL / TSV / CSV with the text in ``field``; lines that
        cannot be read are skipped and counted."""
        if ref.split is not None or not Path(ref.path).is_file():
            raise HeadstartError(f"semi_supervised.unlabeled: {ref.path} is not a file of texts (a text task's pool "
                                 f"is one text per line, or JSONL/TSV/CSV with the text in field)")
        items = list(read_texts(str(ref.path), "auto", task.encoding, field, "", set()))
        texts = [item.example for item in items if item.problem is None and item.example.strip()]
        if len(texts) < len(items):
            log.warning("semi_supervised.unlabeled: skipped %d of %d lines of %s (unreadable or empty)",
                        len(items) - len(texts), len(items), ref.path)
        if not texts:
            raise HeadstartError(f"semi_supervised.unlabeled: {ref.path} holds no texts")
        return LabeledTexts(texts, [-1] * len(texts), list(label_names), str(ref.path))

    def baseline(self, train: LabeledTexts, test: LabeledTexts, seed: int) -> float:
        return tfidf_logreg(train.texts, np.asarray(train.labels), test.texts, np.asarray(test.labels), seed=seed)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # a symlink or hard link to the file is the file
    except OSError:  # one is missing: reading it names it
        return False
