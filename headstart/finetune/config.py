"""``headstart finetune`` configs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..engine.config import TrainConfig
from .strategies import StrategyConfig

# Fine-tuning defaults: a lower learning rate than pre-training, warm-up, early stopping.
TRAIN_DEFAULTS = {"steps": 300, "batch_size": 32, "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 30,
                  "weight_decay": 0.01, "eval_every": 25, "patience": 4, "keep_last": 1, "log_every": 25}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskConfig(Strict):
    train: Path
    val: Optional[Path] = Field(default=None, description="default: val_fraction of train, stratified")
    test: Optional[Path] = None
    format: Literal["auto", "tsv", "csv", "jsonl", "label-first"] = "auto"
    text_field: str = "text"
    label_field: str = "label"
    encoding: str = "utf-8"
    budget: Optional[int] = Field(default=None, gt=0, description="labeled training examples used; null = all")
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    max_length: Optional[int] = Field(default=None, gt=0, description="tokens per text; default: model context")


class FinetuneConfig(Strict):
    run_dir: Path
    init: Optional[Path] = Field(default=None, description="pre-trained run or checkpoint; null = from scratch")
    scratch: bool = Field(default=False, description="keep init's architecture and tokenizer, but random weights")
    model: Optional[dict[str, Any]] = Field(default=None, description="architecture when init is null")
    tokenizer: Optional[Path] = Field(default=None, description="tokenizer.json when init is null")
    task: TaskConfig
    strategy: StrategyConfig = StrategyConfig()
    pooling: Literal["auto", "first", "mean", "last"] = Field(
        default="auto", description="auto: mean for encoders, last token for decoders")
    dropout: Optional[float] = Field(default=None, ge=0, lt=1,
                                     description="backbone dropout while fine-tuning; null: the checkpoint's")
    train: TrainConfig

    @model_validator(mode="before")
    @classmethod
    def _train_defaults(cls, data):
        if isinstance(data, dict):
            data = {**data, "train": {**TRAIN_DEFAULTS, **(data.get("train") or {})}}
        return data

    @model_validator(mode="after")
    def _source_of_weights(self) -> "FinetuneConfig":
        if self.init is None and (self.model is None or self.tokenizer is None):
            raise ValueError("give init (a pre-trained checkpoint), or model and tokenizer to train from scratch")
        return self
