"""What a pre-training config must hold for an audio objective, checked when the config is read (registered
in plugin.py as the modality's ``check_config``); raises ValueError naming the key."""
from __future__ import annotations

from ..config import resolve_audio_model
from ..models.audio_encoder import AUDIO_PRESETS


def check_audio(cfg) -> None:
    if cfg.data.seq_len is not None:
        raise ValueError("data.seq_len: a text setting; an audio model's max_frames bounds a clip")
    if cfg.init is not None:
        if cfg.model is not None:
            raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
        return
    cfg.model = dict(cfg.model or {})
    cfg.model.setdefault("preset", cfg.default_preset)
    if cfg.model["preset"] not in AUDIO_PRESETS:
        raise ValueError(f"model.preset: {cfg.model['preset']} is not an audio model; objective "
                         f"{cfg.objective.name} trains one of {', '.join(sorted(AUDIO_PRESETS))}")
    if "n_mels" in cfg.model:
        raise ValueError("model.n_mels: set by the prepared audio; remove it")
    resolve_audio_model(cfg.model, n_mels=1)  # the fields' checks; n_mels comes with the data
