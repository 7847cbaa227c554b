"""Projection heads, in one place: the small networks an objective puts between the backbone and its
loss, trained with it and thrown away after pre-training."""
from __future__ import annotations

from torch import nn

from ..kernels import Linear


class ProjectionHead(nn.Sequential):
    """Linear -> BatchNorm -> ReLU -> Linear: SimCLR's head (Chen et al. 2020).

    The loss is computed on its output, not on the backbone's features: the head absorbs the
    invariances the loss forces (colour, crop), and the features before it transfer better.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128):
        super().__init__(
            Linear(in_dim, hidden_dim, bias=False),  # the BatchNorm after it has the bias
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            Linear(hidden_dim, out_dim),
        )
