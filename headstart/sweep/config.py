"""``headstart sweep`` configs: what to search, over which base config, by which metric.

The base config is read once; each trial is that config with ``fixed`` and the trial's params set on
it (dotted keys, as ``--set`` takes them) and its own run_dir.  Every param is checked against the base
config at its extremes before any trial runs, so an unknown key or an impossible value is a one-line
error up front, not a failure an hour in.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import PretrainConfig, apply_overrides, format_validation_error, read_yaml, validate
from ..errors import HeadstartError
from ..finetune.config import FinetuneConfig

CONFIG_CLASSES = {"finetune": FinetuneConfig, "pretrain": PretrainConfig}
# Keys no trial may set: each trial's run_dir is the sweep's to choose.
RESERVED_KEYS = ("run_dir",)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RangeParam(Strict):
    """A number between low and high: an integer when low, high (and step) are integers."""

    low: Union[int, float]
    high: Union[int, float]
    log: bool = Field(default=False, description="sample on a log scale (learning rates)")
    step: Optional[Union[int, float]] = Field(default=None, gt=0, description="a grid of low, low + step, ...")

    @model_validator(mode="after")
    def _check(self) -> "RangeParam":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("give log or step, not both")
        return self

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step or 1))


Scalar = Union[bool, int, float, str, None]


class SweepConfig(Strict):
    run_dir: Path = Field(description="the study, every trial's run, best.yaml and the report go here")
    base: Path = Field(description="a finetune or pretrain config: the starting point of every trial")
    kind: Optional[Literal["finetune", "pretrain"]] = Field(default=None, description="default: from the base "
                                                                                      "config's keys")
    metric: Optional[str] = Field(default=None, description="val.<metric>; default: val.accuracy for "
                                                            "finetune, val.loss for pretrain")
    direction: Literal["auto", "maximize", "minimize"] = Field(default="auto",
                                                               description="auto: minimize a loss, else maximize")
    trials: Optional[int] = Field(default=None, gt=0, description="trials in all, the default one included; "
                                                                  "default: the grid's size (grid sampler)")
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "none"] = "median"
    pruner_startup_trials: int = Field(default=3, ge=0, description="finished trials before any is pruned")
    pruner_warmup_steps: int = Field(default=0, ge=0, description="no pruning before this training step")
    seed: int = 0
    include_default: bool = Field(default=True, description="trial 0 runs the base config unchanged")
    fixed: dict[str, Any] = Field(default_factory=dict, description="dotted keys set in every trial, the default "
                                                                    "one too, e.g. {train.steps: 200}")
    params: dict[str, Union[RangeParam, list[Scalar]]] = Field(min_length=1)

    @field_validator("params", mode="before")
    @classmethod
    def _param_spaces(cls, params):
        """Each param is a list of choices or a {low, high} range; checked here, one by one, so an error
        names the param (a plain union would report how the value failed as each alternative)."""
        if not isinstance(params, dict):
            return params
        spaces = {}
        for key, space in params.items():
            if key in RESERVED_KEYS:
                raise ValueError(f"{key}: the sweep sets each trial's {key}; it cannot be searched")
            if isinstance(space, list):
                if not space or any(isinstance(c, (list, dict)) for c in space):
                    raise ValueError(f"{key}: give a non-empty list of plain values (numbers, strings)")
                spaces[key] = space
            elif isinstance(space, dict):
                try:
                    spaces[key] = RangeParam.model_validate(space)
                except ValidationError as e:
                    raise ValueError(format_validation_error(e, RangeParam, prefix=f"{key}.")) from None
            else:
                raise ValueError(f"{key}: give a list of values or a range {{low: .., high: ..}}, got {space!r}")
        return spaces

    @field_validator("fixed")
    @classmethod
    def _dotted(cls, fixed: dict) -> dict:
        # `--set fixed.train.steps=200` arrives nested: {train: {steps: 200}}; set key by key, merged
        # into the base config rather than replacing its whole train section.
        flat = {}
        for key, value in fixed.items():
            if isinstance(value, dict) and value:
                flat.update({f"{key}.{k}": v for k, v in cls._dotted(value).items()})
            else:
                flat[key] = value
        return flat

    @field_validator("metric")
    @classmethod
    def _validation_metric(cls, metric: Optional[str]) -> Optional[str]:
        # Choosing settings by test accuracy would make the test score an optimistic estimate.
        if metric is not None and (not metric.startswith("val.") or metric == "val."):
            raise ValueError(f"must be a validation metric, val.<name> (e.g. val.accuracy), got {metric!r}")
        return metric

    @model_validator(mode="after")
    def _grid(self) -> "SweepConfig":
        if self.sampler == "grid":
            ranged = [k for k, v in self.params.items() if not isinstance(v, list)]
            if ranged:
                raise ValueError(f"sampler: grid needs a list of values for every param; {ranged[0]} is a range")
        elif self.trials is None:
            raise ValueError("trials: required key is missing (only the grid sampler can count them itself)")
        return self

    def grid_size(self) -> int:
        size = 1
        for choices in self.params.values():
            size *= len(choices) if isinstance(choices, list) else 1
        return size

    def total_trials(self) -> int:
        return self.trials if self.trials is not None else self.grid_size() + self.include_default


class Sweep:
    """A validated sweep config with its base config read, its kind, metric and direction settled."""

    def __init__(self, cfg: SweepConfig, source: str):
        self.cfg, self.source = cfg, source
        self.base_data = apply_overrides(read_yaml(cfg.base), [])
        self.kind = cfg.kind or _kind_of(self.base_data, cfg.base)
        self.config_class = CONFIG_CLASSES[self.kind]
        for key, value in cfg.fixed.items():
            _set(self.base_data, key, value, f"{source}: fixed.{key}")
        self.metric = cfg.metric or ("val.accuracy" if self.kind == "finetune" else "val.loss")
        self.metric_key = self.metric.removeprefix("val.")
        self.direction = cfg.direction if cfg.direction != "auto" else (
            "minimize" if self.metric_key.endswith("loss") else "maximize")
        # The base config with its defaults filled in: what the default trial runs with.
        self.resolved_base = self.validate(self.base_data, str(cfg.base)).model_dump(mode="json")
        self.default_values = {key: _get(self.resolved_base, key) for key in cfg.params}

    def trial_data(self, params: dict[str, Any], run_dir: Path) -> dict:
        """The raw config of a trial: the base, the trial's params, its run_dir."""
        data = copy.deepcopy(self.base_data)
        for key, value in params.items():
            _set(data, key, value, f"{self.source}: params.{key}")
        # An lr searched without min_lr keeps the base's min_lr/lr ratio, so the cosine decay has the
        # same shape in every trial and an lr below the base's min_lr is not an error.
        if "train.lr" in params and "train.min_lr" not in params:
            base = self.resolved_base["train"]
            _set(data, "train.min_lr", params["train.lr"] * base["min_lr"] / base["lr"], self.source)
        data["run_dir"] = str(run_dir)
        return data

    def validate(self, data: dict, source: str):
        return validate(self.config_class, data, source)

    def check(self) -> None:
        """Each param at each extreme (every choice of a list) on the base config: a key the config
        does not have, or a value it refuses, stops the sweep here with the key named."""
        probe_dir = self.cfg.run_dir / "trials" / "check"
        for key, space in self.cfg.params.items():
            values = space if isinstance(space, list) else [space.low, space.high]
            for value in values:
                try:
                    self.validate(self.trial_data({key: value}, probe_dir), "")
                except HeadstartError as e:
                    raise HeadstartError(f"{self.source}: params.{key} = {value!r} on {self.cfg.base}: "
                                         f"{str(e).removeprefix(': ')}") from None
        if self.cfg.total_trials() <= int(self.cfg.include_default):
            raise HeadstartError(f"{self.source}: trials: {self.cfg.total_trials()} leaves no trial to search "
                                 f"besides the default one")


def load_sweep(path, overrides: list[str] = ()) -> Sweep:
    cfg = validate(SweepConfig, apply_overrides(read_yaml(path), list(overrides)), str(path))
    sweep = Sweep(cfg, str(path))
    sweep.check()
    return sweep


def _kind_of(data: dict, path: Path) -> str:
    if "task" in data:
        return "finetune"
    if "data" in data or "objective" in data:
        return "pretrain"
    raise HeadstartError(f"{path}: neither a finetune config (no task) nor a pretrain config (no data); "
                         f"set kind: finetune or kind: pretrain in the sweep config")


def _get(data: dict, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None  # not set in the file: the config's default applies
        node = node[part]
    return node


def _set(data: dict, key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if child is None:  # `strategy:` left empty in YAML
            child = node[part] = {}
        if not isinstance(child, dict):
            raise HeadstartError(f"{where}: {part} is not a section of the base config")
        node = child
    node[parts[-1]] = value


def trial_dir(sweep: Sweep, number: int) -> Path:
    """Where trial ``number`` of ``sweep`` runs."""
    return sweep.cfg.run_dir / "trials" / f"trial-{number:03d}"
