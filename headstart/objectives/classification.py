"""Sequence classification on top of any backbone that maps inputs to hidden states.

The backbone needs ``hidden_states(inputs, padding_mask) -> (B, T, D)`` and ``cfg.d_model``: the text
transformer has them, and vision/audio encoders built on the same blocks will too.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import Linear
from .base import ObjectiveOutput
from .consistency import Consistency, supervised_plus_consistency
from .heads import ExampleDropout

POOLINGS = ("first", "mean", "last", "max", "mean_max", "cnn")
CNN_WIDTHS, CNN_FILTERS = (2, 3, 4), 100  # Kim (2014)'s sentence CNN, with bigram filters for short questions


def pooled_width(d_model: int, how: str) -> int:
    if how == "cnn":
        return CNN_FILTERS * len(CNN_WIDTHS)
    return 2 * d_model if how == "mean_max" else d_model


class ConvPooling(nn.Module):
    """Kim (2014)'s sentence CNN as a pooling: filters over 2, 3 and 4 consecutive tokens, ReLU, the max over
    positions.  It sees word order, which averaging does not ("how many" vs "many how"), and trains from
    scratch in every arm, so a comparison still isolates what the token vectors bring."""

    def __init__(self, d_model: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(d_model, CNN_FILTERS, width, padding=width - 1) for width in CNN_WIDTHS)

    def forward(self, hidden: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x, length = hidden.transpose(1, 2), hidden.shape[1]
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))[:, :, :length]  # position t: the window ending at token t
            if padding_mask is not None:
                h = h.masked_fill(~padding_mask.unsqueeze(1), 0.0)  # ReLU outputs are >= 0: 0 never wins
            pooled.append(h.amax(2))
        return torch.cat(pooled, dim=1)


def pool(hidden: torch.Tensor, padding_mask: Optional[torch.Tensor], how: str,
         weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(B, T, D) -> (B, D), or (B, 2D) for ``mean_max`` (the mean and the per-dimension max, concatenated,
    as bag-of-embeddings classifiers pool).  ``last`` takes the last real position (a decoder has seen
    everything there).  ``weights`` (B, T) make the mean a weighted one (a word-vector model's word weights)."""
    if how == "first":
        return hidden[:, 0]
    if how == "mean_max":
        return torch.cat([pool(hidden, padding_mask, "mean", weights), pool(hidden, padding_mask, "max")], dim=-1)
    if how == "max":
        if padding_mask is not None:
            hidden = hidden.masked_fill(~padding_mask.unsqueeze(-1), float("-inf"))
        return hidden.amax(1)
    if how == "mean" and (padding_mask is not None or weights is not None):
        if weights is None:
            weights = padding_mask.to(hidden.dtype)
        elif padding_mask is not None:
            weights = weights * padding_mask.to(weights.dtype)
        weights = weights.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-6)
    if padding_mask is None:
        return hidden.mean(1) if how == "mean" else hidden[:, -1]
    last = padding_mask.long().sum(1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class Classification(nn.Module):
    """Batch ``{"inputs", "padding_mask" (optional, True = real), "labels"}`` -> cross-entropy."""

    def __init__(self, model: nn.Module, num_classes: int, pooling: str = "mean", dropout: float = 0.1,
                 feature_norm: bool = False, sparse_features: int = 0):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model, self.pooling = model, pooling
        width = pooled_width(model.cfg.d_model, pooling)
        self.conv = ConvPooling(model.cfg.d_model) if pooling == "cnn" else None
        # A transformer's pooled states come out of its final norm; a bag of word vectors has none, and
        # its averages are small (word2vec's vectors, averaged over hundreds of words): normalised, one
        # learning rate suits the head of both.
        self.norm = nn.LayerNorm(width) if feature_norm else nn.Identity()
        self.dropout = ExampleDropout(dropout)  # per-example masks: N processes = 1
        self.head = Linear(width, num_classes)
        nn.init.zeros_(self.head.weight)  # start from uniform predictions: no random bias towards a class
        nn.init.zeros_(self.head.bias)
        # A second, linear model over sparse per-example features the modality supplies (text: TF-IDF n-grams,
        # ``ngrams: true``), its logits added to the head's; fitted in closed form, never by gradient.
        self.sparse_head = self._sparse_linear(sparse_features, num_classes) if sparse_features else None

    @staticmethod
    def _sparse_linear(width: int, num_classes: int) -> nn.Linear:
        layer = nn.Linear(width, num_classes)
        layer.requires_grad_(False)
        return layer

    def attach_sparse_head(self, weight, bias, classes) -> None:
        """Set the sparse head from a fitted scikit-learn linear model (``coef_``, ``intercept_``, ``classes_``)."""
        self.sparse_head = self._sparse_linear(np.asarray(weight).shape[1], self.head.out_features)
        load_linear_solution(self.sparse_head, weight, bias, classes)

    def features(self, batch: dict) -> torch.Tensor:
        mask = batch.get("padding_mask")
        hidden = self.model.hidden_states(batch["inputs"], mask, **self._extra_inputs(batch))
        if self.conv is not None:
            return self.conv(hidden, mask)
        weights = self.model.token_weights(batch["inputs"]) if hasattr(self.model, "token_weights") else None
        return pool(hidden, mask, self.pooling, weights)

    @staticmethod
    def _extra_inputs(batch: dict) -> dict:
        """Subword n-grams of words outside a word-vector model's vocabulary (``text/word_bags.py``)."""
        if "subword_positions" not in batch:
            return {}
        return {"subwords": {"positions": batch["subword_positions"], "buckets": batch["subword_buckets"]}}

    def logits(self, batch: dict) -> torch.Tensor:
        logits = self.head(self.dropout(self.norm(self.features(batch)))).float()
        if self.sparse_head is None:
            return logits
        if "sparse_features" not in batch:  # the sum is the classifier: without its second half it would be another
            raise ValueError("this classifier adds a sparse head's logits; its batches must carry sparse_features")
        sparse = batch["sparse_features"]
        return logits + torch.sparse.mm(sparse, self.sparse_head.weight.t().to(sparse.dtype)) + self.sparse_head.bias

    consistency: Optional[Consistency] = None  # semi-supervised fine-tuning sets it (objectives/consistency.py)

    def forward(self, batch: dict) -> ObjectiveOutput:
        return supervised_plus_consistency(self, batch, self.logits)


def load_linear_solution(layer: nn.Linear, weight, bias, classes) -> None:
    """Copy a scikit-learn linear classifier's solution into ``layer`` (one row per class).  Its binary solution
    is one row (the second class's logit; the first's is 0), its multinomial one a row per class present; a
    class with no label keeps a logit far below the rest."""
    weight, bias = np.asarray(weight), np.asarray(bias)
    full_w = np.zeros((layer.out_features, weight.shape[1]), dtype=np.float32)
    full_b = np.full(layer.out_features, -1e4, dtype=np.float32)
    if len(classes) == 2 and weight.shape[0] == 1:
        full_w[classes[1]], full_b[classes[1]], full_b[classes[0]] = weight[0], bias[0], 0.0
    else:
        full_w[classes], full_b[classes] = weight, bias
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(full_w))
        layer.bias.copy_(torch.from_numpy(full_b))
