"""One way to load any pre-trained checkpoint: the kind its model record names says which modality
rebuilds it (a record without a kind is text's, from before kinds were written)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..engine.checkpoint import read_state, resolve_checkpoint
from ..errors import HeadstartError
from .registry import checkpoint_kind, modalities, of_checkpoint_kind


@dataclass
class Pretrained:
    model: nn.Module  # in eval mode, weights loaded
    checkpoint: Path  # the step_* folder it came from
    state: dict  # its state.json: state["config"] is the run's config
    kind: str  # the model record's kind, e.g. "transformer", "vit", "audio_encoder"
    tokenizer: Any = None  # for models that read text


def load_pretrained(path, prefer: str = "best") -> Pretrained:
    """The model of run or checkpoint ``path`` (a run: its ``prefer`` checkpoint, "best" or "latest")."""
    checkpoint = resolve_checkpoint(path, prefer)
    kind = checkpoint_kind(read_state(checkpoint).get("config", {}).get("model"))
    owner = of_checkpoint_kind(kind)
    if owner is None or owner.load_checkpoint is None:
        known = ", ".join(k for m in modalities() if m.load_checkpoint is not None for k in m.checkpoint_kinds)
        raise HeadstartError(f"{checkpoint}: state.json names a model kind headstart cannot load ({kind!r}; "
                             f"known: {known})")
    return owner.load_checkpoint(checkpoint, kind)
