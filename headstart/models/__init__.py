"""Models: architecture only, no I/O and no distributed code."""
from .config import TransformerConfig
from .presets import PRESETS
from .text_transformer import TextTransformer

__all__ = ["PRESETS", "TextTransformer", "TransformerConfig"]
