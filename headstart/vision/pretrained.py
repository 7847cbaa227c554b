"""Load an image backbone that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from pydantic import ValidationError

from ..engine.checkpoint import load_model_weights, read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..models.vision_presets import VISION_KINDS, vision_model_from_record


def load_image_model(path, prefer: str = "best"):
    """Return ``(model, checkpoint_dir, state)`` for a run directory or checkpoint; the model is in eval mode.

    ``state["config"]["data"]`` says what it was trained on: ``image_shape`` (H, W, C), ``mode`` and
    ``class_names`` (None for unlabeled images).

    >>> model, checkpoint, state = load_image_model("runs/digits-simclr")
    >>> model.features(images)          # (B, feature_dim) for float images (B, C, H, W) in [0, 1]
    """
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    record = state.get("config", {}).get("model")
    if not isinstance(record, dict) or record.get("kind") not in VISION_KINDS:
        raise HeadstartError(f"{checkpoint}: not an image model (its state.json names no model kind of "
                             f"{', '.join(VISION_KINDS)}; for a text model use load_text_model)")
    try:
        model = vision_model_from_record(record)
    except (TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid model config ({str(e).splitlines()[0]})") from None
    load_model_weights(model, checkpoint)
    model.eval()
    return model, checkpoint, state
