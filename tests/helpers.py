"""Small stand-ins shared by the engine tests: a deterministic batch source and a tiny model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from headstart.models import TextTransformer, TransformerConfig
from headstart.objectives import CausalLM, MaskedLM


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(relative: str) -> Path:
    """A file of ../shared/data, or a skip saying why (a fresh checkout has no ../shared)."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not found: the shared data sets live next to the project checkout")
    return path


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


class RandomTokens:
    """Batch ``i`` is random tokens from a generator seeded by ``(seed, i)``, like real sources."""

    unit = "tokens"

    def __init__(self, seed: int, length: int, batch_size: int = 4, vocab: int = 60):
        self.seed, self.length, self.batch_size, self.vocab = seed, length, batch_size, vocab

    def batch(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        return {"tokens": torch.randint(0, self.vocab, (self.batch_size, self.length), generator=g)}

    def units(self, batch: dict) -> int:
        return batch["tokens"].numel()


def tiny_objective(kind: str = "causal", dropout: float = 0.1, seed: int = 0, d_model: int = 32):
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=64, context_length=16, n_layer=2, n_head=2, d_model=d_model,
                            causal=kind == "causal", dropout=dropout)
    model = TextTransformer(cfg)
    if kind == "causal":
        return CausalLM(model), RandomTokens(1, 17), RandomTokens(2, 17)
    return MaskedLM(model, mask_id=63, special_ids=[60, 61, 62, 63]), RandomTokens(1, 16), RandomTokens(2, 16)
