"""Load an audio encoder that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from pydantic import ValidationError

from ..engine.checkpoint import load_model_weights, read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..modality import Pretrained
from ..models.audio_encoder import AudioEncoder, AudioEncoderConfig
from .plugin import AUDIO_KIND  # named where the modality registers


def audio_model_record(cfg: AudioEncoderConfig) -> dict:
    """What a checkpoint stores to rebuild the encoder: ``{"kind": "audio_encoder", **config}``."""
    return {"kind": AUDIO_KIND, **cfg.model_dump(mode="json")}


def load_pretrained(checkpoint, kind: str) -> Pretrained:
    """The registry's loader of audio checkpoints (``headstart.modality.load_pretrained``)."""
    model, found, state = load_audio_model(checkpoint)
    return Pretrained(model, found, state, kind)


def load_audio_model(path, prefer: str = "best"):
    """Return ``(model, checkpoint_dir, state)`` for a run directory or checkpoint; the model is in eval mode.

    >>> model, checkpoint, state = load_audio_model("runs/fsdd-best-rq")
    >>> model.features(frames, padding_mask)   # (B, d_model) for normalised log-mels (B, T, n_mels)
    """
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    record = dict(state.get("config", {}).get("model") or {})
    if record.pop("kind", None) != AUDIO_KIND:
        raise HeadstartError(f"{checkpoint}: not an audio model (its state.json names no model kind "
                             f"{AUDIO_KIND}; for text or images use load_text_model or load_image_model)")
    try:
        model = AudioEncoder(AudioEncoderConfig(**record))
    except (TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid model config ({str(e).splitlines()[0]})") from None
    load_model_weights(model, checkpoint)
    model.eval()
    return model, checkpoint, state
