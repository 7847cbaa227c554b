"""What a pre-training config must hold for an audio objective, checked when the config is read (registered
in plugin.py as the modality's ``check_config``); raises ValueError naming the key."""
from __future__ import annotations

from ..config import model_section, resolve_audio_model
from ..models.audio_encoder import AUDIO_PRESETS


def check_audio(cfg) -> None:
    if not model_section(cfg, "an audio model's max_frames bounds a clip"):
        return
    if cfg.model["preset"] not in AUDIO_PRESETS:
        raise ValueError(f"model.preset: {cfg.model['preset']} is not an audio model; objective "
                         f"{cfg.objective.name} trains one of {', '.join(sorted(AUDIO_PRESETS))}")
    if "n_mels" in cfg.model:
        raise ValueError("model.n_mels: set by the prepared audio; remove it")
    resolve_audio_model(cfg.model, n_mels=1)  # the fields' checks; n_mels comes with the data
