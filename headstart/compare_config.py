"""``headstart compare``'s config: the arms, their recipes, the budgets and seeds, and the checks a config must
pass before any run starts (a held-out test set that is not the validation set, arm names that are free)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .finetune.config import DataRef, SemiSupervisedConfig, TaskConfig
from .finetune.strategies import StrategyConfig

ARMS = ("pretrained", "scratch")
SEMI = "+semi"  # the suffix of an arm that also learns from semi_supervised's unlabeled pool


class ArmRecipe(BaseModel):
    """How one arm fine-tunes when it should differ from the shared settings: a practitioner fits a linear
    probe on pre-trained word vectors, but trains randomly initialised ones in full.  Given keys replace
    the shared ones (``train`` is merged key by key)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Optional[StrategyConfig] = None
    train: dict = Field(default_factory=dict)
    lr_search: Optional[list[float]] = None
    epochs: Optional[float] = Field(default=None, gt=0)
    pooling: Optional[Literal["first", "mean", "last", "max", "mean_max", "cnn"]] = None
    refit: Optional[bool] = None
    select: Optional[Literal["best", "last"]] = None
    ngrams: Optional[bool] = None


class CompareConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    pretrained: Path = Field(description="the pre-trained run or checkpoint to prove")
    task: TaskConfig
    budgets: list[Union[int, Literal["all"]]] = Field(default=[50, 100, 500, "all"], min_length=1)
    seeds: list[int] = Field(default=[0, 1, 2], min_length=1)
    strategy: StrategyConfig = StrategyConfig()
    pooling: Literal["auto", "first", "mean", "last", "max", "mean_max", "cnn"] = "auto"
    dropout: Optional[float] = Field(default=None, ge=0, lt=1,
                                     description="backbone dropout while fine-tuning; null: the checkpoint's")
    ngrams: bool = Field(default=False, description="text: every deep arm adds the logits of the baseline's "
                         "TF-IDF + logistic regression, fitted on the arm's labels (finetune's ngrams); the "
                         "difference to the baseline is then what the arm adds to n-grams")
    train: dict = Field(default_factory=dict, description="fine-tuning settings, shared by both arms")
    lr_search: list[float] = Field(
        default_factory=list, description="learning rates tried for every arm, budget and seed; the one with "
                                          "the best validation accuracy counts (empty: train.lr only)")
    epochs: Optional[float] = Field(default=None, gt=0, description="passes over each budget's training labels "
                                    "(sets train.steps per budget); null: train.steps")
    recipes: dict[str, ArmRecipe] = Field(
        default_factory=dict, description="{arm: settings} for an arm that fine-tunes differently from the shared "
                                          "settings, e.g. scratch: {strategy: {name: full}, lr_search: [...]}")
    semi_supervised: Optional[SemiSupervisedConfig] = Field(
        default=None, description="also run both arms with this semi-supervised fine-tuning (arms pretrained+semi "
                                  "and scratch+semi: the report then separates what pre-training and what the "
                                  "unlabeled pool each give); a recipe of pretrained or scratch applies to its +semi arm")
    baseline: bool = True
    target_accuracy: Optional[float] = Field(default=None, gt=0, le=1,
                                             description="for steps-to-target; default 90% of the best arm")
    also: dict[str, Path] = Field(
        default_factory=dict, description="more pre-trained checkpoints, {arm name: path}, each fine-tuned "
                                          "exactly as `pretrained` (same budgets, seeds, learning rates) and "
                                          "reported as an arm beside it, e.g. an imported Hugging Face model")
    rank: list[Path] = Field(default_factory=list, description="more checkpoints to score with LogME")
    probe_examples: int = Field(default=2000, gt=0, description="training examples the probes use at most")
    zero_shot_templates: Optional[list[str]] = Field(
        default=None, min_length=1, description="image-text checkpoints on an image task: prompts, {} = class "
                                                "name, for zero-shot accuracy; default: the image-text modality's")
    pretraining_reference: Optional[Path] = Field(
        default=None, description="another pre-training run of the same objective (e.g. from random towers "
                                  "or random weights): both validation-loss curves and the steps each needs "
                                  "to reach target_loss go into the report")
    target_loss: Optional[float] = Field(default=None, description="for pretraining_reference; default: 90% of "
                                                                   "the reference run's improvement (its final "
                                                                   "loss plus a tenth of its drop from the first "
                                                                   "evaluation)")


    @field_validator("task")
    @classmethod
    def _held_out_test_set(cls, task: TaskConfig) -> TaskConfig:
        if task.test is None:
            raise ValueError("task.test: compare scores every arm on a held-out labeled set that no budget draws "
                             "from; give one (a labeled file, or {path: FOLDER, split: val} for a prepared folder)")
        # Refused, not relabelled: the report's point is accuracy on examples nothing was chosen with, and the
        # validation score of the best of several runs is optimistic by construction.
        if task.val is not None and _same_data(task.val, task.test):
            test = task.test
            shown = test.path if test.split is None else f"{{path: {test.path}, split: {test.split}}}"
            raise ValueError(f"task.test: {shown} is task.val too, which chose each run's checkpoint and learning "
                             f"rate, so a score on it is not a test score; give a held-out set of its own")
        return task

    @field_validator("also")
    @classmethod
    def _arm_names_are_free(cls, also: dict[str, Path]) -> dict[str, Path]:
        taken = [name for name in also if name in (*ARMS, "baseline") or name.endswith(SEMI)]
        if taken:
            raise ValueError(f"arm name {taken[0]!r} is reserved; name the checkpoint something else")
        return also

    @model_validator(mode="after")
    def _recipes_name_arms(self) -> "CompareConfig":
        unknown = [arm for arm in self.recipes if arm not in self.arms()]
        if unknown:
            raise ValueError(f"recipes.{unknown[0]}: not an arm of this comparison ({', '.join(self.arms())})")
        return self

    def arms(self) -> tuple[str, ...]:
        semi = tuple(f"{arm}{SEMI}" for arm in ARMS) if self.semi_supervised is not None else ()
        return (*ARMS, *semi, *self.also)

    def lr_candidates(self, arm: str) -> list[Optional[float]]:
        recipe = self.recipes.get(arm)
        searched = recipe.lr_search if recipe is not None and recipe.lr_search is not None else self.lr_search
        return list(searched) or [None]


def _same_data(a: DataRef, b: DataRef) -> bool:
    """Whether two references share examples: one file, or one prepared folder with a split in common (no
    split: every split of the folder)."""
    try:
        same_path = a.path.resolve() == b.path.resolve()
    except OSError:
        same_path = a.path == b.path
    return same_path and (a.split is None or b.split is None or a.split == b.split)
