"""One way to load any pre-trained checkpoint: the kind its model record names says which modality
rebuilds it (a record without a kind is text's, from before kinds were written)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Optional

from pydantic import ValidationError
from torch import nn

from ..engine.checkpoint import load_model_weights, read_state, resolve_checkpoint
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


def rebuild_model(path, prefer: str, *, kinds: Collection[Optional[str]], build: Callable[[dict], nn.Module],
                  refusal: Callable[[Optional[str]], str], towers: Optional[dict[str, str]] = None,
                  config_name: str = "model") -> tuple[nn.Module, Path, dict]:
    """The steps every modality's loader shares: find the checkpoint, read its model record, check the record's
    kind is one of ``kinds`` (else ``refusal(kind)``, one line after the checkpoint's path), ``build`` the model
    from the record (a bad record is one line too), load the weights, eval mode.  ``towers`` maps the kind of a
    composite model to the field of the part this loader takes (``{"dual_encoder": "image"}``: the image tower,
    weights under ``image.``).  Returns ``(model, checkpoint, state)``."""
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    record = state.get("config", {}).get("model")
    record = record if isinstance(record, dict) else {}
    prefix = ""
    field = (towers or {}).get(record.get("kind"))
    if field is not None:
        record, prefix = record.get(field) if isinstance(record.get(field), dict) else {}, f"{field}."
    kind = record.get("kind")
    if kind not in kinds:
        raise HeadstartError(f"{checkpoint}: {refusal(kind)}")
    try:
        model = build(record)
    except (KeyError, TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid {config_name} config ({str(e).splitlines()[0]})") from None
    load_model_weights(model, checkpoint, prefix=prefix)
    return model.eval(), checkpoint, state


def without_kind(record: dict) -> dict:
    """A model record less its ``kind``: the config's own fields."""
    return {k: v for k, v in record.items() if k != "kind"}
