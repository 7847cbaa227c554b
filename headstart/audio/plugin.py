"""The audio modality as headstart's core sees it: registered here, in one place (``headstart.modality``).

Only names and settings are defined here; the code behind them is imported when first used.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modality import Modality, Objective, ObjectiveSettings, lazy, lazy_object, register

MANIFEST_FORMAT = "headstart.audio_features"  # what `headstart prepare audio` writes (arrays.py reads it)
AUDIO_KIND = "audio_encoder"  # the kind of model record an audio checkpoint holds


class BestRQ(ObjectiveSettings):
    """See headstart/objectives/best_rq.py for why mask_prob and mask_span differ from the paper's 0.01 / 400 ms."""

    name: Literal["best_rq"] = "best_rq"
    mask_prob: float = Field(default=0.05, gt=0, lt=1, description="chance that a frame starts a masked span")
    mask_span: int = Field(default=10, gt=0, description="frames in each masked span")
    codebook_size: int = Field(default=8192, gt=1, description="random codebook entries")
    codebook_dim: int = Field(default=16, gt=0, description="random projection width")
    num_codebooks: int = Field(default=1, gt=0, description="independent quantizers")
    noise_std: float = Field(default=0.1, ge=0, description="std of the noise in masked frames")


MODALITY = register(Modality(
    name="audio",
    formats=(MANIFEST_FORMAT,),
    objectives=(Objective(BestRQ, default_preset="audio-tiny"),),
    pretrain_setup=lazy("headstart.audio.pretrain_setup:audio_setup"),
    check_config=lazy("headstart.audio.config_checks:check_audio"),
    prepare_command=lazy_object("headstart.audio.prepare_cli:audio_command"),
    checkpoint_kinds=(AUDIO_KIND,),
    load_checkpoint=lazy("headstart.audio.pretrained:load_pretrained"),
    task=lazy("headstart.audio.finetune_task:AudioTask"),
    classifier_io=lazy("headstart.audio.classifier_io:IO"),
    demo=lazy("headstart.audio.demo:run_audio_demo"),
    audit=lazy("headstart.audio.audit:audit"),
    raw_suffixes=(".wav", ".flac", ".ogg"),
))
