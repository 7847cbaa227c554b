"""``headstart finetune`` configs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..engine.config import TrainConfig
from ..models.presets import check_preset_name
from .strategies import StrategyConfig

# Fine-tuning defaults: a lower learning rate than pre-training, warm-up, early stopping.
TRAIN_DEFAULTS = {"steps": 300, "batch_size": 32, "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 30,
                  "weight_decay": 0.01, "eval_every": 25, "patience": 4, "keep_last": 1, "log_every": 25}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataRef(Strict):
    """Labeled data: a text file, or a folder from ``headstart prepare images`` and which of its splits.

    In a config, a plain path or ``{path: ..., split: ...}``.  A folder's ``split`` defaults to
    "train" for ``task.train`` and to all its images for ``task.val`` and ``task.test``.
    """

    path: Path
    split: Optional[str] = Field(default=None, description="prepared image folders only: train or val")

    @model_validator(mode="before")
    @classmethod
    def _plain_path(cls, data):
        return {"path": data} if isinstance(data, (str, Path)) else data


class TaskConfig(Strict):
    train: DataRef
    val: Optional[DataRef] = Field(default=None, description="default: val_fraction of the budget's labels, "
                                   "stratified; a file given here is used whole, on top of the budget")
    test: Optional[DataRef] = None
    format: Literal["auto", "tsv", "csv", "jsonl", "label-first"] = "auto"
    text_field: str = "text"
    label_field: str = "label"
    encoding: str = "utf-8"
    budget: Optional[int] = Field(default=None, gt=0, description="labels used in all, validation included "
                                  "(unless task.val is given); null = every example of task.train")
    # A fifth, not a tenth: with 100 labels a tenth is 10 examples, too few to tell two checkpoints apart.
    val_fraction: float = Field(default=0.2, gt=0, lt=1, description="share of the budget held out for "
                                "validation (early stopping, the learning-rate search), at least one per class")
    max_length: Optional[int] = Field(default=None, gt=0, description="text: tokens per text; default: model context")
    refit: bool = Field(default=False, description="after validation chose the learning rate and step, train again "
                        "on all the budget's labels (validation ones too) for as many epochs, and score that "
                        "model: no label is spent on validation alone (only when validation comes out of the budget)")
    augment: bool = Field(default=False, description="images: random crops (scale 0.7-1, no flip) while training; "
                          "audio: SpecAugment (2 frequency and 2 time masks)")


SEMI_DEFAULTS = {  # threshold, temperature: each method's paper values
    "fixmatch": (0.95, None),  # Sohn et al. 2020: hard pseudo-labels of the weak view
    "consistency": (0.8, 0.4),  # Xie et al. 2020 (UDA): the clean prediction sharpened
    "self_training": (0.9, None),  # Noisy Student's teacher keeps its confident labels
}


class StudentConfig(Strict):
    """Self-training's student, where it should differ from the teacher.  Noisy Student (Xie et al. 2020) makes
    the student as large or larger and noised: a student that can only draw the teacher's own boundary (a linear
    probe on the same frozen features) learns nothing from its pseudo-labels, one that trains its features can."""

    strategy: Optional[StrategyConfig] = Field(default=None, description="default: the teacher's")
    epochs: Optional[float] = Field(default=None, gt=0, description="passes over labels + pseudo-labels")
    lr: Optional[float] = Field(default=None, gt=0, description="default: the teacher's (min_lr keeps its ratio)")
    dropout: Optional[float] = Field(default=None, ge=0, lt=1, description="the student's noise; default: the "
                                     "teacher's")


class SemiSupervisedConfig(Strict):
    """Use unlabeled examples while fine-tuning: consistency training (UDA), FixMatch, or self-training."""

    method: Literal["consistency", "fixmatch", "self_training"]
    unlabeled: DataRef = Field(description="the unlabeled pool: a file of texts (one per line, JSONL with field, "
                               "TSV/CSV column field) or a prepared image/audio folder; never the test set")
    field: str = Field(default="text", description="text pools: the JSONL field or column holding the text")
    threshold: Optional[float] = Field(default=None, gt=0, le=1, description="confidence an unlabeled "
                                       "prediction needs to teach; default: fixmatch 0.95, consistency 0.8, "
                                       "self_training 0.9")
    temperature: Optional[float] = Field(default=None, gt=0, description="consistency: sharpening of the "
                                         "targets (default 0.4); fixmatch uses hard labels")
    weight: float = Field(default=1.0, ge=0, description="weight of the unlabeled loss")
    ratio: int = Field(default=3, ge=1, description="unlabeled examples per labeled one in each batch "
                       "(FixMatch's mu is 7; less costs less on a CPU)")
    max_pool: Optional[int] = Field(default=None, gt=0, description="use at most this many pool examples "
                                    "(a seeded random subset)")
    student: Optional[StudentConfig] = Field(default=None, description="self_training: how the student trains, "
                                             "where not as the teacher")
    pseudo_labels: Literal["teacher", "graph"] = Field(
        default="teacher", description="self_training: the teacher's own predictions, or graph: the teacher's "
        "scores propagated over a k-nearest-neighbour graph of the pool (features of the backbone fine-tuning "
        "starts from) and balanced to the labels' class shares (finetune/graph_labels.py)")
    keep: Optional[float] = Field(default=None, gt=0, le=1, description="self_training: keep this fraction of the "
                                  "pool, equally many examples per class, each class those it is most probable for "
                                  "(quota_allocation), instead of a confidence threshold; default: 0.5 with graph "
                                  "pseudo-labels, else threshold")
    neighbours: int = Field(default=10, ge=1, description="graph pseudo-labels: neighbours of each pool example")
    alpha: float = Field(default=0.9, gt=0, lt=1, description="graph pseudo-labels: how far scores spread (Zhou "
                         "et al.'s alpha; near 1: over the whole graph, near 0: the teacher's own)")
    rounds: int = Field(default=1, ge=1, description="self_training: teacher-student rounds; each student is the "
                        "next round's teacher (Noisy Student iterates)")

    @model_validator(mode="after")
    def _student_only_for_self_training(self):
        if self.method != "self_training":
            given = [key for key in ("student", "keep", "rounds", "pseudo_labels")
                     if getattr(self, key) != type(self).model_fields[key].default]
            if given:
                raise ValueError(f"{given[0]}: only self_training has it, not {self.method}")
        if self.keep is not None and self.threshold is not None:
            raise ValueError("keep and threshold: give one (keep a fraction of the pool, or a confidence threshold)")
        return self

    def kept_fraction(self) -> Optional[float]:
        """Self-training keeps this fraction of the pool (None: the examples above the threshold)."""
        return self.keep if self.keep is not None else (0.5 if self.pseudo_labels == "graph" else None)

    def rule(self) -> tuple[float, Optional[float]]:
        """(threshold, temperature) with the method's defaults filled in."""
        threshold, temperature = SEMI_DEFAULTS[self.method]
        return (self.threshold or threshold,
                (self.temperature or temperature) if self.method == "consistency" else None)


class FinetuneConfig(Strict):
    run_dir: Path
    init: Optional[Path] = Field(default=None, description="pre-trained run or checkpoint; null = from scratch")
    scratch: bool = Field(default=False, description="keep init's architecture and tokenizer, but random weights")
    model: Optional[dict[str, Any]] = Field(default=None, description="architecture when init is null")
    tokenizer: Optional[Path] = Field(default=None, description="text: tokenizer.json when init is null")
    task: TaskConfig
    strategy: StrategyConfig = StrategyConfig()
    pooling: Literal["auto", "first", "mean", "last", "max", "mean_max", "cnn"] = Field(
        default="auto", description="text: auto = mean for encoders, last token for decoders; an image "
                                     "model pools as its config says")
    dropout: Optional[float] = Field(default=None, ge=0, lt=1,
                                     description="backbone dropout while fine-tuning; null: the checkpoint's")
    epochs: Optional[float] = Field(default=None, gt=0, description="passes over the training labels; sets "
                                    "train.steps (and evaluates once a pass), so few labels get as many passes "
                                    "as many labels do; null: train.steps")
    select: Literal["best", "last"] = Field(default="best", description="the checkpoint scored and kept: the best "
                                            "on validation (early stopping), or the last, with no early stopping "
                                            "(FixMatch reports its final model: with a handful of validation "
                                            "labels, accuracy saturates long before training is done)")
    semi_supervised: Optional[SemiSupervisedConfig] = Field(default=None, description="also learn from an "
                                                            "unlabeled pool (see SemiSupervisedConfig)")
    ngrams: bool = Field(default=False, description="text: add the logits of TF-IDF word 1-2-grams + logistic "
                         "regression (the baseline's model, C cross-validated on the same labels) to the "
                         "classifier's, an ensemble that beats either with few labels")
    train: TrainConfig

    @model_validator(mode="before")
    @classmethod
    def _train_defaults(cls, data):
        if isinstance(data, dict):
            data = {**data, "train": {**TRAIN_DEFAULTS, **(data.get("train") or {})}}
        return data

    def schedule(self, n_train: int, processes: int = 1) -> TrainConfig:
        """``train`` with ``epochs`` turned into steps for ``n_train`` training examples: an evaluation per
        pass (at most ``train.eval_every`` steps apart) and warm-up over at most a tenth of the steps.  Under
        torchrun a step takes ``batch_size`` examples in each of ``processes``."""
        if self.epochs is None:
            return self.train
        per_epoch = max(1, -(-n_train // (self.train.batch_size * processes)))
        steps = max(1, round(self.epochs * per_epoch))
        every = min(per_epoch, self.train.eval_every)
        return self.train.model_copy(update={"steps": steps, "eval_every": every, "log_every": every,
                                             "warmup_steps": min(self.train.warmup_steps, steps // 10)})

    @model_validator(mode="after")
    def _source_of_weights(self) -> "FinetuneConfig":
        if self.init is None and self.model is None:
            raise ValueError("give init (a pre-trained checkpoint), or model (and for text, tokenizer) to train "
                             "from scratch")
        check_preset_name(self.model)
        if self.semi_supervised is not None and self.semi_supervised.method != "self_training" \
                and self.strategy.solver == "lbfgs":
            raise ValueError(f"semi_supervised.method {self.semi_supervised.method} trains by gradient; strategy.solver "
                             f"lbfgs solves a head in closed form (use method: self_training, or solver: engine)")
        if self.strategy.solver == "lbfgs" and self.pooling == "cnn":
            raise ValueError("pooling cnn trains its filters by gradient; strategy.solver lbfgs solves a head on "
                             "fixed features (use mean, max or mean_max pooling, or solver: engine)")
        # Fine-tuning from init keeps init's architecture and tokenizer: a model or tokenizer given as
        # well would be silently ignored, so a run would not be what its config says.
        for key in ("model", "tokenizer"):
            if self.init is not None and getattr(self, key) is not None:
                raise ValueError(f"give init or {key}, not both: a model fine-tuned from init keeps its "
                                 f"architecture and tokenizer ({key} is for training from scratch)")
        return self
