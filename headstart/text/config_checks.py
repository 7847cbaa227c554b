"""What a pre-training config must hold for a text objective, checked when the config is read (registered
in plugin.py as the modality's ``check_config``); raises ValueError naming the key."""
from __future__ import annotations

from pydantic import ValidationError

from ..config import format_validation_error, resolve_model
from ..models.presets import PRESETS
from ..models.vision_presets import VISION_PRESETS
from ..models.word_vectors import WordVectorsConfig


def check_text(cfg) -> None:
    if cfg.objective.name in ("skipgram", "cbow"):
        return check_word_vectors(cfg)
    if cfg.init is not None:
        if cfg.model is not None:
            raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
        return
    if not cfg.architecture:  # no model section, or embeddings_from alone: the objective's default size
        cfg.model = {"preset": cfg.default_preset, **(cfg.model or {})}
    if cfg.model.get("preset") in VISION_PRESETS:
        raise ValueError(f"model.preset: {cfg.model['preset']} is an image model; objective "
                         f"{cfg.objective.name} trains a text model ({', '.join(sorted(PRESETS))})")
    arch = resolve_model(cfg.architecture, vocab_size=cfg.model.get("vocab_size", 1),
                         causal=cfg.objective.name == "causal_lm")
    if cfg.data.seq_len and cfg.data.seq_len > arch.context_length:
        raise ValueError(f"data.seq_len ({cfg.data.seq_len}) exceeds the model's context_length "
                         f"({arch.context_length})")


def check_word_vectors(cfg) -> None:
    if cfg.init is not None:
        raise ValueError(f"init: {cfg.objective.name} trains word vectors from the start; continuing a run "
                         f"is not supported")
    if cfg.data.seq_len is not None:
        raise ValueError(f"data.seq_len: {cfg.objective.name} reads whole documents (window: objective.window)")
    cfg.model = dict(cfg.model or {})
    if "vocab_size" in cfg.model:
        raise ValueError("model.vocab_size: set by the prepared data's word tokenizer; remove it")
    try:
        WordVectorsConfig(**{**cfg.model, "vocab_size": 1})
    except ValidationError as e:
        raise ValueError(format_validation_error(e, WordVectorsConfig, prefix="model.")) from None
