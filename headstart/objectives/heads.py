"""Projection heads, in one place: the small networks an objective puts between the backbone and its
loss, trained with it and thrown away after pre-training."""
from __future__ import annotations

import torch
from torch import nn

from ..engine import draws
from ..kernels import Linear


class ExampleDropout(nn.Module):
    """``nn.Dropout`` whose mask is drawn per example by the engine (``engine.draws``): under torchrun, the same
    mask whichever process holds the example, so a classifier head's dropout keeps N processes equal to one.
    Outside training it draws from the global RNG, as ``nn.Dropout`` does; no parameters, no state."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = draws.rand(*x.shape, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
