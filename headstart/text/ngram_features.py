"""``ngrams: true``: a text classifier's logits plus those of TF-IDF word 1-2-grams + logistic regression.

Why: with a few hundred labels, bag-of-n-gram models and pre-trained features are right about different
reviews, and summing the two models' logits beats either (Mesnil et al. 2015, "Ensemble of generative and
discriminative techniques for sentiment analysis of movie reviews": NB-SVM + paragraph vectors on IMDb).
The n-gram side is the TF-IDF baseline itself (``transfer.probes.fit_tfidf_logreg``: the same features, C
cross-validated on the same labels), fitted after the classifier is trained, so the difference between such
an arm and the baseline is exactly what the pre-trained (or scratch) classifier adds to n-grams.

The vectorizer is saved as JSON (its vocabulary in column order and its idf weights; never pickled) and
the logistic regression as a sparse head of the classifier (``Classification.attach_sparse_head``), so a
saved classifier predicts with both.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import HeadstartError
from ..modality import LabeledBatches
from ..transfer.probes import fit_tfidf_logreg
from .labeled import LabeledTexts

log = logging.getLogger("headstart")

NGRAMS_FILE = "ngrams.json"
FORMAT = "headstart-tfidf"


class NgramFeatures:
    """A fitted TF-IDF vectorizer: ``rows(texts)`` -> scipy CSR (texts x terms), ``len()`` terms."""

    def __init__(self, vectorizer):
        self.vectorizer = vectorizer

    def __len__(self) -> int:
        return len(self.vectorizer.idf_)

    def rows(self, texts: list[str]):
        return self.vectorizer.transform(texts)

    def save(self, path: Path) -> Path:
        terms = [None] * len(self)
        for term, column in self.vectorizer.vocabulary_.items():
            terms[column] = term
        settings = {"ngram_range": list(self.vectorizer.ngram_range), "sublinear_tf": self.vectorizer.sublinear_tf,
                    "lowercase": self.vectorizer.lowercase, "token_pattern": self.vectorizer.token_pattern,
                    "norm": self.vectorizer.norm}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": FORMAT, **settings, "terms": terms,
                                    "idf": self.vectorizer.idf_.tolist()}), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> "NgramFeatures":
        from sklearn.feature_extraction.text import TfidfVectorizer
        try:
            saved = json.loads(Path(path).read_text(encoding="utf-8"))
            if saved.get("format") != FORMAT:
                raise ValueError(f"format {saved.get('format')!r}, expected {FORMAT!r}")
            vectorizer = TfidfVectorizer(ngram_range=tuple(saved["ngram_range"]), sublinear_tf=saved["sublinear_tf"],
                                         lowercase=saved["lowercase"], token_pattern=saved["token_pattern"],
                                         norm=saved["norm"], vocabulary={t: i for i, t in enumerate(saved["terms"])})
            vectorizer.idf_ = np.asarray(saved["idf"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise HeadstartError(f"{path}: not a readable n-gram vectorizer ({e})") from None
        return cls(vectorizer)


class WithNgrams(LabeledBatches):
    """``inner``'s batches (same order: same count, batch size and seed) plus ``sparse_features``, each
    example's TF-IDF row as a sparse (batch, terms) tensor."""

    def __init__(self, inner: LabeledBatches, rows):
        self.inner, self.sparse_rows = inner, rows.tocsr().astype(np.float32)
        super().__init__(inner.count, inner.batch_size, inner.seed)

    def collate(self, indices) -> dict[str, torch.Tensor]:
        picked = self.sparse_rows[np.asarray(indices)].tocoo()
        sparse = torch.sparse_coo_tensor(np.vstack([picked.row, picked.col]).astype(np.int64), picked.data,
                                         size=picked.shape, dtype=torch.float32, check_invariants=True)
        return {**self.inner.collate(indices), "sparse_features": sparse}


def with_ngrams(ngrams: Optional[NgramFeatures], batches: LabeledBatches, data: LabeledTexts) -> LabeledBatches:
    """``batches`` with the n-gram rows of ``data``'s texts when the backbone has fitted n-grams."""
    return batches if ngrams is None else WithNgrams(batches, ngrams.rows(data.texts))


def fit_ngram_side(objective, labeled: LabeledTexts, seed: int) -> tuple[NgramFeatures, dict]:
    """Fit TF-IDF + logistic regression on ``labeled`` (every label the classifier learned from) and attach it
    to ``objective`` as its sparse head; returns the features and a record for results.json."""
    started = time.perf_counter()
    labels = np.asarray(labeled.labels)
    if len(np.unique(labels)) < 2:
        raise HeadstartError(f"ngrams: the n-gram side needs labels of at least 2 classes; "
                             f"{len(labeled)} labels hold only {labeled.label_names[int(labels[0])]!r}")
    vectorizer, model = fit_tfidf_logreg(labeled.texts, labels, seed)
    objective.attach_sparse_head(model.coef_, model.intercept_, model.classes_)
    features = NgramFeatures(vectorizer)
    log.info("ngrams: TF-IDF + logistic regression on %d labels (%d terms, C %g) added to the classifier's logits",
             len(labeled), len(features), model.C)
    return features, {"terms": len(features), "C": float(model.C), "labels": len(labeled),
                      "seconds": time.perf_counter() - started}


class NgramSide:
    """What a text backbone needs for ``ngrams: true``: the fitted features (None until fitted or loaded), the
    sparse head's width, the file a checkpoint or classifier carries."""

    ngrams: Optional[NgramFeatures] = None

    def fit_ngrams(self, objective, labeled: LabeledTexts, seed: int) -> dict:
        self.ngrams, record = fit_ngram_side(objective, labeled, seed)
        return record

    def sparse_width(self) -> int:
        return len(self.ngrams) if self.ngrams is not None else 0

    def ngram_files(self, run_dir: Path) -> dict[str, Path]:
        return {} if self.ngrams is None else {NGRAMS_FILE: self.ngrams.save(run_dir / NGRAMS_FILE)}
