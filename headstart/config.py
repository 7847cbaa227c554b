"""Run configs: YAML files validated at the door, so everything downstream can trust them.

Any problem — unknown key, wrong type, impossible value — becomes one ``HeadstartError`` line naming
the key, e.g. ``config.yaml: train.batch_size: must be greater than 0 (got 0)``.
"""
from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from . import modality as registry  # the objectives each modality registered, with their settings
from .engine.config import TrainConfig
from .errors import HeadstartError
from .modality import ObjectiveSettings
from .models.audio_encoder import AudioEncoderConfig, audio_config
from .models.config import TransformerConfig
from .models.presets import check_preset_name, preset_fields
from .models.resnet import ResNetConfig
from .models.vision_presets import VIT_PRESETS, VisionConfig, vision_config
from .models.vit import ViTConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Strict):
    path: Path = Field(description="a directory written by `headstart prepare text` or `headstart prepare images`")
    seq_len: Optional[int] = Field(default=None, gt=0, description="text: tokens per training window; "
                                                                   "default: model context")


# model.embeddings_from: a skip-gram / CBOW run whose vectors start a new text transformer's token embeddings
# (text/embeddings_from.py).  In the model section, as it says how that model starts, but no architecture
# field: TransformerConfig, which checkpoints are rebuilt from, stays the architecture alone.
EMBEDDINGS_FROM = "embeddings_from"
DEFAULT_OBJECTIVE = "causal_lm"  # an objective section without a name, as it always was


def _objective_name(section: Any) -> Optional[str]:
    if isinstance(section, dict):
        return section.get("name", DEFAULT_OBJECTIVE)
    return getattr(section, "name", None)


def objective_union():
    """The ``objective`` section's type: one settings class per registered objective, told apart by ``name``,
    so that a knob of another objective is an unknown key of this one."""
    settings = [objective.settings for m in registry.modalities() for objective in m.objectives]
    tagged = tuple(Annotated[cls, Tag(cls.model_fields["name"].default)] for cls in settings)
    return Annotated[Union[tagged], Discriminator(_objective_name)]


ObjectiveConfig = objective_union()


def objective_settings(name: str) -> type[ObjectiveSettings]:
    return registry.objective(name).settings


class MonitorConfig(Strict):
    """Image pre-training: what each evaluation measures besides the objective's own validation loss."""

    knn_train_images: int = Field(default=2000, ge=0, description="labeled train images the online kNN probe "
                                                                  "is fitted on; 0 turns it off")
    knn_val_images: int = Field(default=1000, gt=0, description="val images it is scored on")


class PretrainConfig(Strict):
    run_dir: Path = Field(description="where checkpoints, metrics and logs go")
    data: DataConfig
    init: Optional[Path] = Field(
        default=None, description="continue pre-training this run or checkpoint (domain- or task-adaptive "
                                  "pre-training): its architecture and weights, a fresh optimizer and schedule")
    model: Optional[dict[str, Any]] = Field(
        default=None, description="preset name plus any field of its config (TransformerConfig, ViTConfig, "
                                  "ResNetConfig); default by objective: gpt-nano, resnet-tiny, mae: vit-nano; "
                                  "text transformers: embeddings_from, a skipgram/cbow run to seed the tokens")
    objective: ObjectiveConfig = Field(default_factory=lambda: objective_settings(DEFAULT_OBJECTIVE)())
    monitor: Optional[MonitorConfig] = Field(default=None, description="images only; default: the kNN probe on")
    train: TrainConfig

    @property
    def modality(self) -> str:
        """What the objective trains on: the name of the modality that registered it ("text", "images", ...)."""
        return registry.of_objective(self.objective.name).name

    @property
    def embeddings_from(self) -> Optional[Path]:  # the word-vector run that seeds the token embeddings
        return None if (self.model or {}).get(EMBEDDINGS_FROM) is None else Path(self.model[EMBEDDINGS_FROM])

    @property
    def architecture(self) -> dict[str, Any]:  # the model section less embeddings_from: preset and fields
        return {k: v for k, v in (self.model or {}).items() if k != EMBEDDINGS_FROM}

    @model_validator(mode="after")
    def _check(self) -> "PretrainConfig":
        self.objective.check()
        check_preset_name(self.model, "model.")
        self._check_embeddings_from()
        owner = registry.of_objective(self.objective.name)
        if self.monitor is not None and not owner.takes_monitor:
            raise ValueError(f"monitor: the online kNN probe watches image pre-training, not {self.objective.name}")
        if owner.check_config is not None:  # the modality's own checks; it fills in its defaults
            owner.check_config(self)
        return self

    @property
    def default_preset(self) -> Optional[str]:
        """The model the objective trains when the config names none."""
        return registry.objective(self.objective.name).default_preset

    def _check_embeddings_from(self) -> None:
        if EMBEDDINGS_FROM not in (self.model or {}):
            return
        name, source = self.objective.name, self.model[EMBEDDINGS_FROM]
        text = registry.modality("text")  # whose transformers (trained by the engine) it seeds
        transformers = [o.name for o in text.objectives if o.own_trainer is None]
        if name not in transformers:
            trains = ("word vectors, from scratch" if self.modality == "text" else
                      {"images": "an image model", "audio": "an audio model"}.get(self.modality, "an image-text model"))
            raise ValueError(f"model.embeddings_from: word vectors start a text transformer's token embeddings "
                             f"({', '.join(transformers)}); objective {name} trains {trains}")
        if self.init is not None:
            raise ValueError("model.embeddings_from: init already holds the token embeddings; give one of the two")
        if not isinstance(source, (str, Path)) or not str(source).strip():
            raise ValueError(f"model.embeddings_from: expected the path of a skipgram or cbow run, got {source!r}")

    def record(self) -> dict:
        """The resolved config as a run records it (config.yaml, state.json): other objectives' knobs
        and sections this run does not use are left out."""
        data = self.model_dump(mode="json")
        data["objective"] = self.objective.record()
        if self.monitor is None:
            del data["monitor"]
        return data


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


def resolve_vision_model(spec: dict, *, image_size, channels: int) -> VisionConfig:
    """An image model's config: preset fields, the user's overrides, the data's size and channels."""
    spec = dict(spec)
    preset = spec.pop("preset")
    try:
        return vision_config(preset, image_size=image_size, channels=channels, **spec)
    except ValidationError as e:
        config_class = ViTConfig if preset in VIT_PRESETS else ResNetConfig
        raise ValueError(format_validation_error(e, config_class, prefix="model.")) from None


def model_section(cfg, no_seq_len: str) -> bool:
    """The start every image and audio objective's config check shares: no ``data.seq_len`` (``no_seq_len`` says
    what bounds an example instead), not both ``model`` and ``init``; then ``model`` as a dict with the
    objective's default preset filled in.  False when the run continues from ``init``, which keeps its own
    architecture and leaves nothing more to check."""
    if cfg.data.seq_len is not None:
        raise ValueError(f"data.seq_len: a text setting; {no_seq_len}")
    if cfg.init is not None:
        if cfg.model is not None:
            raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
        return False
    cfg.model = dict(cfg.model or {})
    cfg.model.setdefault("preset", cfg.default_preset)
    return True


def resolve_audio_model(spec: dict, *, n_mels: int) -> AudioEncoderConfig:
    """An audio encoder's config: preset fields, the user's overrides, the data's mel bins."""
    spec = dict(spec)
    try:
        return audio_config(spec.pop("preset"), n_mels=n_mels, **spec)
    except ValidationError as e:
        raise ValueError(format_validation_error(e, AudioEncoderConfig, prefix="model.")) from None


# ---- loading --------------------------------------------------------------------------------------
def read_yaml(path: Union[str, Path]) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HeadstartError(f"config file not found: {path}") from None
    except OSError as e:  # a folder, no permission
        raise HeadstartError(f"{path}: cannot read the config ({e.strerror or e})") from None
    except UnicodeDecodeError as e:  # a binary file, or text saved in another encoding
        raise HeadstartError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                             f"a config is a YAML text file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        # A reader error (a control character) has no "problem" and a two-line str(): keep its first line.
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise HeadstartError(f"{path}{where}: not valid YAML ({problem})") from None
    except ValueError as e:  # a YAML timestamp that is no date, e.g. 2024-13-45 (PyYAML builds a datetime)
        raise HeadstartError(f"{path}: not valid YAML ({e})") from None
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
        except (yaml.YAMLError, ValueError):  # not YAML, or a date that is none (2024-13-45): the text itself
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


def _shown_key(part) -> str:
    """A key as a message shows it: quoted when it holds a newline or another control character (YAML
    allows them), so the message stays one line."""
    text = str(part)
    return text if text.isprintable() else repr(text)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _objective_error(err: dict, prefix: str) -> Optional[str]:
    """The message of an error in the ``objective`` section (a union told apart by ``name``): keys as the user
    wrote them (``objective.KEY``, not the union member's tag), a knob of another objective named as such."""
    loc, names = tuple(err["loc"]), registry.objective_names()
    if err["type"] == "union_tag_invalid":
        expected = _listed([repr(n) for n in names])
        return f"{prefix}objective.name: input should be {expected} (got {err['ctx']['tag']!r})"
    if err["type"] == "union_tag_not_found":
        return f"{prefix}objective: expected a section with a name, one of {', '.join(names)} (got {err.get('input')!r})"
    if len(loc) < 2 or loc[1] not in names:
        return None
    tag, key = loc[1], loc[2] if len(loc) > 2 else None
    if err["type"] != "extra_forbidden" or len(loc) != 3:
        err = {**err, "loc": ("objective",) + loc[2:]}
        return format_validation_error(ValidationError.from_exception_data("objective", [err]), BaseModel, prefix)
    own = [k for k in objective_settings(tag).model_fields if k != "name"]
    owners = [n for n in names if n != tag and key in objective_settings(n).model_fields]
    if owners:
        takes = f"its knobs: {', '.join(own)}" if own else "it has no knobs"
        return f"{prefix}objective.{_shown_key(key)}: a knob of {_listed(owners)}, not of {tag} ({takes})"
    close = difflib.get_close_matches(str(key), own, n=1)
    hint = f" (did you mean {close[0]}?)" if close else (f" (known: {', '.join(own)})" if own else " (it has no knobs)")
    return f"{prefix}objective.{_shown_key(key)}: unknown key{hint}"


def format_validation_error(e: ValidationError, cls: type[BaseModel], prefix: str = "") -> str:
    parts = []
    for err in e.errors():
        loc = tuple(err["loc"])
        if loc[:1] == ("objective",) and (message := _objective_error(err, prefix)) is not None:
            parts.append(message)
            continue
        key = prefix + ".".join(map(_shown_key, loc)) if loc else prefix.rstrip(".")
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
