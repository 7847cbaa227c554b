"""Load an image–text model that ``headstart pretrain`` saved (objective clip or siglip)."""
from __future__ import annotations

from pathlib import Path

from ..engine.checkpoint import read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..modality import Pretrained
from ..modality.checkpoints import rebuild_model
from ..models.dual_encoder import KIND, DualEncoder, dual_encoder_from_record
from ..tokenizer import load_tokenizer


def load_dual_encoder(path, prefer: str = "best") -> tuple[DualEncoder, object, Path, dict]:
    """Return ``(model, tokenizer, checkpoint_dir, state)`` for a run directory or checkpoint; eval mode.

    >>> model, tokenizer, checkpoint, state = load_dual_encoder("runs/mnist-clip")
    >>> zero_shot_accuracy(model, tokenizer, pixels, labels, ["0", "1", ...])   # headstart.pairs.evaluate
    """
    model, checkpoint, state = rebuild_model(
        path, prefer, kinds=(KIND,), build=dual_encoder_from_record,
        refusal=lambda kind: "not an image-text model (pre-train one with objective clip or siglip)")
    return model, load_tokenizer(Path(checkpoint) / "tokenizer.json"), checkpoint, state


def load_pretrained(checkpoint, kind: str) -> Pretrained:
    """The registry's loader of image-text checkpoints (``headstart.modality.load_pretrained``)."""
    model, tokenizer, found, state = load_dual_encoder(checkpoint)
    return Pretrained(model, found, state, kind, tokenizer)


def is_dual_encoder(path) -> bool:
    """Whether ``path`` (a run or checkpoint) holds an image-text model."""
    try:
        record = read_state(resolve_checkpoint(path)).get("config", {}).get("model")
    except HeadstartError:
        return False
    return isinstance(record, dict) and record.get("kind") == KIND
