"""A fifth modality, added from outside the package: fixed-length float vectors in a ``.npy``, pre-trained by
masking features and predicting them.  This file is its one registration; ``code.py`` is its folder's code.
Nothing in ``headstart/`` names it (tests/test_plugin_modality.py runs it end to end)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from headstart.modality import Modality, Objective, ObjectiveSettings, lazy, lazy_object, register

FORMAT = "toy.vectors"
KIND = "toy_mlp"


class MaskedFeatures(ObjectiveSettings):
    name: Literal["masked_features"] = "masked_features"
    mask_prob: float = Field(default=0.3, gt=0, lt=1, description="share of each vector's features hidden")


MODALITY = register(Modality(
    name="vectors",
    formats=(FORMAT,),
    objectives=(Objective(MaskedFeatures),),
    pretrain_setup=lazy("toy_vectors.code:pretrain_setup"),
    prepare_command=lazy_object("toy_vectors.code:prepare_vectors"),
    checkpoint_kinds=(KIND,),
    load_checkpoint=lazy("toy_vectors.code:load_pretrained"),
    task=lazy("toy_vectors.code:VectorTask"),
))
