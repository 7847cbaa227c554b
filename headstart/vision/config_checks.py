"""What a pre-training config must hold for an image objective, checked when the config is read (registered
in plugin.py as the modality's ``check_config``); raises ValueError naming the key."""
from __future__ import annotations

from ..config import MonitorConfig, model_section, resolve_vision_model
from ..models.presets import PRESETS
from ..models.vision_presets import VISION_PRESETS, VIT_PRESETS


def check_images(cfg) -> None:
    name = cfg.objective.name
    if not model_section(cfg, "images keep the size they were prepared at"):
        return
    spec = dict(cfg.model)
    preset = spec.pop("preset")
    if preset in PRESETS:
        raise ValueError(f"model.preset: {preset} is a text model; objective {name} trains an image model "
                         f"({', '.join(sorted(VISION_PRESETS))})")
    if preset not in VISION_PRESETS:
        raise ValueError(f"model.preset: unknown image preset {preset!r}; known: "
                         f"{', '.join(sorted(VISION_PRESETS))}")
    if name == "mae" and preset not in VIT_PRESETS:
        raise ValueError(f"model.preset: objective mae needs a ViT ({', '.join(sorted(VIT_PRESETS))}); "
                         f"{preset} is a ResNet")
    for key in ("image_size", "channels"):
        if key in spec:
            raise ValueError(f"model.{key}: set by the prepared images; remove it")
    # The image size is not known until the data is read: check the fields on a one-patch image.
    patch = spec.get("patch_size", VISION_PRESETS[preset].get("patch_size", 1))
    resolve_vision_model(cfg.model, image_size=patch if isinstance(patch, int) and patch > 0 else 1, channels=1)
    if cfg.monitor is None:
        cfg.monitor = MonitorConfig()
