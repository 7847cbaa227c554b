"""Compute kernels chosen per device, shared by models and the engine (no I/O, no distributed code)."""
from .linear import Linear, linear, onednn_linear_available

__all__ = ["Linear", "linear", "onednn_linear_available"]
