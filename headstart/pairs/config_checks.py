"""What a pre-training config must hold for an image-text objective, checked when the config is read
(registered in plugin.py as the modality's ``check_config``); raises ValueError naming the key."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import Field, ValidationError

from ..config import Strict, check_preset_name, format_validation_error, resolve_model, resolve_vision_model
from ..models.presets import PRESETS
from ..models.vision_presets import VISION_PRESETS


def check_pairs(cfg) -> None:
    if cfg.data.seq_len is not None:
        raise ValueError("data.seq_len: a text setting; captions keep the length they were prepared at "
                         "(prepare pairs --caption-len)")
    if cfg.init is not None:
        if cfg.model is not None:
            raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
        return
    try:
        towers = TowersConfig.model_validate(cfg.model or {})
    except ValidationError as e:
        raise ValueError(format_validation_error(e, TowersConfig, prefix="model.")) from None
    cfg.model = towers.filled()


class TowersConfig(Strict):
    """An image-text model's ``model`` section: each tower a preset plus fields, or a headstart checkpoint
    to start from (``image_init``: an image run such as MAE or SimCLR; ``text_init``: a text run such as
    masked LM, whose tokenizer the pairs must be prepared with)."""

    image: Optional[dict[str, Any]] = Field(default=None, description="image tower: preset and fields; "
                                            "default vit-nano")
    text: Optional[dict[str, Any]] = Field(default=None, description="text tower: preset and fields; "
                                           "default bert-nano")
    image_init: Optional[Path] = Field(default=None, description="start the image tower from this image run")
    text_init: Optional[Path] = Field(default=None, description="start the text tower from this text run")
    embed_dim: int = Field(default=128, gt=0, description="width of the shared embedding space")

    def filled(self) -> dict[str, Any]:
        for tower in ("image", "text"):
            check_preset_name(getattr(self, tower), f"model.{tower}.")
            if getattr(self, tower) is not None and getattr(self, f"{tower}_init") is not None:
                raise ValueError(f"model.{tower} and model.{tower}_init: give one (a tower started from a "
                                 f"checkpoint keeps its architecture)")
        image = None if self.image_init else dict(self.image or {"preset": "vit-nano"})
        text = None if self.text_init else dict(self.text or {"preset": "bert-nano"})
        if image is not None:
            image.setdefault("preset", "vit-nano")
            if image["preset"] not in VISION_PRESETS:
                raise ValueError(f"model.image.preset: unknown image preset {image['preset']!r}; known: "
                                 f"{', '.join(sorted(VISION_PRESETS))}")
            patch = image.get("patch_size", VISION_PRESETS[image["preset"]].get("patch_size", 1))
            resolve_vision_model(image, image_size=patch if isinstance(patch, int) and patch > 0 else 1, channels=1)
        if text is not None:
            text.setdefault("preset", "bert-nano")
            if text["preset"] not in PRESETS:
                raise ValueError(f"model.text.preset: unknown text preset {text['preset']!r}; known: "
                                 f"{', '.join(sorted(PRESETS))}")
            text.setdefault("causal", False)
            resolve_model(text, vocab_size=1)
        return {"image": image, "text": text, "image_init": self.image_init and str(self.image_init),
                "text_init": self.text_init and str(self.text_init), "embed_dim": self.embed_dim}
