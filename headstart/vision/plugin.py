"""The image modality as headstart's core sees it: registered here, in one place (``headstart.modality``).

Only names and settings are defined here; the code behind them (Pillow included) is imported when first used.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modality import Modality, Objective, ObjectiveSettings, lazy, lazy_object, register
from ..models.vision_presets import VISION_KINDS

MANIFEST_FORMAT = "headstart.image_arrays"  # what `headstart prepare images` writes (arrays.py reads it)


class SimCLR(ObjectiveSettings):
    name: Literal["simclr"] = "simclr"
    temperature: float = Field(default=0.5, gt=0, description="NT-Xent temperature")
    projection_dim: int = Field(default=128, gt=0, description="width the loss sees")
    projection_hidden_dim: int = Field(default=512, gt=0, description="projection head's width")
    crop_scale: tuple[float, float] = Field(default=(0.08, 1.0), description="random crop's area range")
    flip_p: float = Field(default=0.5, ge=0, le=1, description="share of views mirrored left-right (0 for digits "
                          "and text, where a mirror image is another symbol)")
    blur_p: float = Field(default=0.5, ge=0, le=1, description="share of views blurred")
    jitter_strength: float = Field(default=0.5, ge=0, description="colour distortion strength s (brightness, "
                                   "contrast, saturation 0.8 s; hue 0.2 s)")

    def check(self) -> None:
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"objective.crop_scale: expected [low, high] with 0 < low <= high <= 1, "
                             f"got {list(self.crop_scale)}")


class MAE(ObjectiveSettings):
    name: Literal["mae"] = "mae"
    mask_ratio: float = Field(default=0.75, gt=0, lt=1, description="share of patches hidden")
    decoder_dim: int = Field(default=128, gt=0)
    decoder_layers: int = Field(default=2, gt=0)
    decoder_heads: int = Field(default=4, gt=0)
    norm_pix_loss: bool = Field(default=True, description="predict per-patch normalised pixels")

    def check(self) -> None:
        if self.decoder_dim % self.decoder_heads:
            raise ValueError(f"objective.decoder_dim ({self.decoder_dim}) must be divisible by "
                             f"objective.decoder_heads ({self.decoder_heads})")


class Supervised(ObjectiveSettings):
    name: Literal["supervised"] = "supervised"


MODALITY = register(Modality(
    name="images",
    formats=(MANIFEST_FORMAT,),
    objectives=(Objective(SimCLR, default_preset="resnet-tiny"), Objective(MAE, default_preset="vit-nano"),
                Objective(Supervised, default_preset="resnet-tiny")),
    pretrain_setup=lazy("headstart.vision.pretrain_setup:image_setup"),
    check_config=lazy("headstart.vision.config_checks:check_images"),
    takes_monitor=True,
    prepare_command=lazy_object("headstart.vision.prepare_cli:images_command"),
    checkpoint_kinds=tuple(VISION_KINDS),
    load_checkpoint=lazy("headstart.vision.pretrained:load_pretrained"),
    task=lazy("headstart.vision.finetune_task:ImageTask"),
    classifier_io=lazy("headstart.vision.classifier_io:IO"),
    demo=lazy("headstart.vision.demo:run_image_demo"),
    audit=lazy("headstart.vision.audit:audit"),
    raw_suffixes=(".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".npy", ".npz",
                  ".gz", ".idx3-ubyte"),
))
