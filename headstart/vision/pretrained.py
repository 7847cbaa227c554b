"""Load an image backbone that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from torch import nn

from ..errors import HeadstartError
from ..modality import Pretrained
from ..modality.checkpoints import rebuild_model
from ..models.dual_encoder import KIND as DUAL_ENCODER
from ..models.vision_presets import VISION_KINDS, vision_model_from_record
from ..models.vit import VisionTransformer


def load_image_model(path, prefer: str = "best"):
    """Return ``(model, checkpoint_dir, state)`` for a run directory or checkpoint; the model is in eval mode.

    For an image-text (dual encoder) checkpoint, the model is its image tower.
    ``state["config"]["data"]`` says what it was trained on: ``image_shape`` (H, W, C), ``mode`` and
    ``class_names`` (None for unlabeled images).

    >>> model, checkpoint, state = load_image_model("runs/digits-simclr")
    >>> model.features(images)          # (B, feature_dim) for float images (B, C, H, W) in [0, 1]
    """
    return rebuild_model(path, prefer, kinds=VISION_KINDS, build=vision_model_from_record,
                         towers={DUAL_ENCODER: "image"}, refusal=lambda kind: (
                             f"not an image model (its state.json names no model kind of {', '.join(VISION_KINDS)}; "
                             f"for a text model use load_text_model)"))


def load_pretrained(checkpoint, kind: str) -> Pretrained:
    """The registry's loader of image checkpoints (``headstart.modality.load_pretrained``)."""
    model, found, state = load_image_model(checkpoint)
    return Pretrained(model, found, state, kind)


def check_image_model_fits(model: nn.Module, shape: tuple[int, int, int], checkpoint) -> None:
    """A checkpoint's backbone must take the task's images: same channels, and a ViT the same size."""
    height, width, channels = shape
    if model.cfg.channels != channels:
        mode = "L" if model.cfg.channels == 1 else "RGB"
        raise HeadstartError(f"{checkpoint}: the model takes {model.cfg.channels}-channel images but these are "
                             f"{height}x{width}x{channels}; prepare them with --mode {mode}")
    if isinstance(model, VisionTransformer):
        size = model.cfg.image_size
        expected = (size, size) if isinstance(size, int) else tuple(size)
        if expected != (height, width):
            raise HeadstartError(f"{checkpoint}: the ViT takes {expected[0]}x{expected[1]} images but these are "
                                 f"{height}x{width}x{channels}; prepare them with --size {expected[0]}")
