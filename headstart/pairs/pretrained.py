"""Load an image–text model that ``headstart pretrain`` saved (objective clip or siglip)."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..engine.checkpoint import load_model_weights, read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..modality import Pretrained
from ..models.dual_encoder import KIND, DualEncoder, dual_encoder_from_record
from ..text.tokenizer import load_tokenizer


def load_dual_encoder(path, prefer: str = "best") -> tuple[DualEncoder, object, Path, dict]:
    """Return ``(model, tokenizer, checkpoint_dir, state)`` for a run directory or checkpoint; eval mode.

    >>> model, tokenizer, checkpoint, state = load_dual_encoder("runs/mnist-clip")
    >>> zero_shot_accuracy(model, tokenizer, pixels, labels, ["0", "1", ...])   # headstart.pairs.evaluate
    """
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    record = state.get("config", {}).get("model")
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise HeadstartError(f"{checkpoint}: not an image-text model (pre-train one with objective clip or siglip)")
    try:
        model = dual_encoder_from_record(record)
    except (KeyError, TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid model config ({str(e).splitlines()[0]})") from None
    load_model_weights(model, checkpoint)
    tokenizer = load_tokenizer(Path(checkpoint) / "tokenizer.json")
    model.eval()
    return model, tokenizer, checkpoint, state


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
