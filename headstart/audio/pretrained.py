"""Load an audio encoder that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from ..modality import Pretrained
from ..modality.checkpoints import rebuild_model, without_kind
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
    return rebuild_model(path, prefer, kinds=(AUDIO_KIND,),
                         build=lambda record: AudioEncoder(AudioEncoderConfig(**without_kind(record))),
                         refusal=lambda kind: (f"not an audio model (its state.json names no model kind {AUDIO_KIND}; "
                                               f"for text or images use load_text_model or load_image_model)"))
