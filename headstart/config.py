"""Run configs: YAML files validated at the door, so everything downstream can trust them.

Any problem — unknown key, wrong type, impossible value — becomes one ``HeadstartError`` line naming
the key, e.g. ``config.yaml: train.batch_size: must be greater than 0 (got 0)``.
"""
from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .engine.config import TrainConfig
from .errors import HeadstartError
from .models.config import TransformerConfig
from .models.presets import preset_fields


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextDataConfig(Strict):
    path: Path = Field(description="a directory written by `headstart prepare text`")
    seq_len: Optional[int] = Field(default=None, gt=0, description="tokens per training window; default: model context")


class ObjectiveConfig(Strict):
    name: Literal["causal_lm", "masked_lm"] = "causal_lm"
    mask_prob: float = Field(default=0.15, gt=0, lt=1, description="masked_lm: fraction of tokens chosen")


class PretrainConfig(Strict):
    run_dir: Path = Field(description="where checkpoints, metrics and logs go")
    data: TextDataConfig
    init: Optional[Path] = Field(
        default=None, description="continue pre-training this run or checkpoint (domain- or task-adaptive "
                                  "pre-training): its architecture and weights, a fresh optimizer and schedule")
    model: Optional[dict[str, Any]] = Field(
        default=None, description="preset name plus any TransformerConfig field; default gpt-nano, or init's")
    objective: ObjectiveConfig = ObjectiveConfig()
    train: TrainConfig

    @model_validator(mode="after")
    def _check(self) -> "PretrainConfig":
        if self.init is not None:
            if self.model is not None:
                raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
            return self
        if self.model is None:
            self.model = {"preset": "gpt-nano"}
        arch = resolve_model(self.model, vocab_size=self.model.get("vocab_size", 1),
                             causal=self.objective.name == "causal_lm")
        if self.data.seq_len and self.data.seq_len > arch.context_length:
            raise ValueError(f"data.seq_len ({self.data.seq_len}) exceeds the model's context_length "
                             f"({arch.context_length})")
        return self


def resolve_model(spec: dict, *, vocab_size: int, causal: Optional[bool] = None) -> TransformerConfig:
    """Preset fields, then the user's overrides, then what the data and objective dictate."""
    spec = dict(spec)
    fields = preset_fields(spec.pop("preset")) if "preset" in spec else {}
    fields.update(spec)
    fields["vocab_size"] = vocab_size
    if causal is not None:
        fields["causal"] = causal
    try:
        return TransformerConfig(**fields)
    except ValidationError as e:
        raise ValueError(format_validation_error(e, TransformerConfig, prefix="model.")) from None


# ---- loading --------------------------------------------------------------------------------------
def read_yaml(path: Union[str, Path]) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise HeadstartError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise HeadstartError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise HeadstartError(f"{path}: a config must be a mapping of keys to values")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``--set train.lr=3e-4``: dotted key, value parsed as YAML (so numbers, lists and null work)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise HeadstartError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.lr=3e-4")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.setdefault(part, {}), dict):
                raise HeadstartError(f"--set {key}: {part} is not a section")
            node = node[part]
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[parts[-1]] = raw
    return data


def validate(cls: type[BaseModel], data: dict, source: str):
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise HeadstartError(f"{source}: {format_validation_error(e, cls)}") from None


def load_pretrain_config(path, overrides: list[str] = ()) -> PretrainConfig:
    data = apply_overrides(read_yaml(path), list(overrides))
    return validate(PretrainConfig, data, str(path))


# ---- one-line error messages -----------------------------------------------------------------------
def _fields_at(cls: type[BaseModel], loc: tuple) -> list[str]:
    """Known keys of the (sub)section at ``loc``, for 'did you mean'."""
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        ann = field.annotation
        subs = [a for a in (typing.get_args(ann) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not subs:
            return list(TransformerConfig.model_fields) + ["preset"] if part == "model" else []
        cls = subs[0]
    return list(cls.model_fields)


def format_validation_error(e: ValidationError, cls: type[BaseModel], prefix: str = "") -> str:
    parts = []
    for err in e.errors():
        loc = tuple(err["loc"])
        key = prefix + ".".join(str(x) for x in loc) if loc else prefix.rstrip(".")
        if err["type"] == "extra_forbidden":
            known = _fields_at(cls, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else (f" (known: {', '.join(known)})" if known else "")
            parts.append(f"{key}: unknown key{hint}")
        elif err["type"] == "missing":
            parts.append(f"{key}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            shown = err.get("input")
            got = "" if isinstance(shown, dict) or err["type"].startswith("value_error") else f" (got {shown!r})"
            parts.append(f"{key}: {msg[0].lower() + msg[1:]}{got}" if key else msg)
    return "; ".join(parts)
