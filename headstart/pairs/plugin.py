"""The image-text (pairs) modality as headstart's core sees it: registered here, in one place
(``headstart.modality``).  It builds on the text and image modalities' code (its two towers).

Only names and settings are defined here; the code behind them is imported when first used.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modality import Modality, Objective, ObjectiveSettings, lazy, lazy_object, register
from ..models.dual_encoder import KIND as DUAL_ENCODER_KIND

MANIFEST_FORMAT = "headstart.image_text_pairs"  # what `headstart prepare pairs` writes (arrays.py reads it)
INIT_TEMPERATURE = "the learnable temperature's start (logits = cosine / temperature)"


class CLIP(ObjectiveSettings):
    name: Literal["clip"] = "clip"
    init_temperature: float = Field(default=0.07, gt=0, description=INIT_TEMPERATURE)  # the paper's


class SigLIP(ObjectiveSettings):
    name: Literal["siglip"] = "siglip"
    init_temperature: float = Field(default=0.1, gt=0, description=INIT_TEMPERATURE)  # the paper's
    # -10: almost every pair in a batch is a negative, so the sigmoid starts near 0.
    init_bias: float = Field(default=-10.0, description="the learnable logit bias's start")


MODALITY = register(Modality(
    name="pairs",
    formats=(MANIFEST_FORMAT,),
    objectives=(Objective(CLIP), Objective(SigLIP)),  # the towers are configured in model (TowersConfig)
    pretrain_setup=lazy("headstart.pairs.pretrain_setup:pairs_setup"),
    check_config=lazy("headstart.pairs.config_checks:check_pairs"),
    prepare_command=lazy_object("headstart.pairs.prepare_cli:pairs_command"),
    checkpoint_kinds=(DUAL_ENCODER_KIND,),
    load_checkpoint=lazy("headstart.pairs.pretrained:load_pretrained"),
    compare_studies=lazy("headstart.pairs.compare_studies:image_text_studies"),
    uses=("text", "images"),
))
