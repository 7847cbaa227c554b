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
from .models.audio_encoder import AUDIO_PRESETS, AudioEncoderConfig, audio_config
from .models.config import TransformerConfig
from .models.presets import PRESETS, preset_fields
from .models.resnet import ResNetConfig
from .models.vision_presets import VISION_PRESETS, VIT_PRESETS, VisionConfig, vision_config
from .models.vit import ViTConfig
from .models.word_vectors import WordVectorsConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Strict):
    path: Path = Field(description="a directory written by `headstart prepare text` or `headstart prepare images`")
    seq_len: Optional[int] = Field(default=None, gt=0, description="text: tokens per training window; "
                                                                   "default: model context")


TEXT_OBJECTIVES = ("causal_lm", "masked_lm", "electra", "skipgram", "cbow")
# Word vectors: a bag-of-embeddings model (models/word_vectors.py), not a transformer.
WORD_VECTOR_OBJECTIVES = ("skipgram", "cbow")
IMAGE_OBJECTIVES = ("simclr", "mae", "supervised")
AUDIO_OBJECTIVES = ("best_rq",)
PAIR_OBJECTIVES = ("clip", "siglip")
# model.embeddings_from: a skip-gram / CBOW run whose vectors start a new text transformer's token embeddings
# (text/embeddings_from.py).  In the model section, as it says how that model starts, but no architecture
# field: TransformerConfig, which checkpoints are rebuilt from, stays the architecture alone.
TRANSFORMER_TEXT_OBJECTIVES = ("causal_lm", "masked_lm", "electra")
EMBEDDINGS_FROM = "embeddings_from"

# Each objective's knobs and their defaults.  A knob of another objective is an error, so a mistyped
# objective name never silently drops its settings.  causal_lm accepts mask_prob (unused) as it
# always has, so text configs and the run records of earlier text runs read the same.
OBJECTIVE_KNOBS: dict[str, dict[str, Any]] = {
    "masked_lm": {"mask_prob": 0.15},
    "causal_lm": {"mask_prob": 0.15},
    # The official ELECTRA code's defaults (configure_pretraining.py).
    "electra": {"mask_prob": 0.15, "generator_size": 0.25, "disc_weight": 50.0},
    # word2vec's window and negatives; sample 1e-4 rather than gensim's 1e-3: a corpus of millions of
    # words has more frequent words to thin out (measured on IMDb in BENCHMARKS.md).
    "skipgram": {"window": 5, "negative": 5, "sample": 1e-4},
    "cbow": {"window": 5, "negative": 5, "sample": 1e-4},
    "simclr": {"temperature": 0.5, "projection_dim": 128, "projection_hidden_dim": 512,
               "crop_scale": (0.08, 1.0), "flip_p": 0.5, "blur_p": 0.5, "jitter_strength": 0.5},
    "mae": {"mask_ratio": 0.75, "decoder_dim": 128, "decoder_layers": 2, "decoder_heads": 4, "norm_pix_loss": True},
    "supervised": {},
    # BEST-RQ: see headstart/objectives/best_rq.py for why these differ from the paper's 0.01 / 400 ms.
    "best_rq": {"mask_prob": 0.05, "mask_span": 10, "codebook_size": 8192, "codebook_dim": 16, "num_codebooks": 1,
                "noise_std": 0.1},
    # The papers' initial temperatures; SigLIP's bias starts at -10 because almost every pair is a negative.
    "clip": {"init_temperature": 0.07},
    "siglip": {"init_temperature": 0.1, "init_bias": -10.0},
}

# The model an objective gets when the config names none.
DEFAULT_PRESETS = {"causal_lm": "gpt-nano", "masked_lm": "gpt-nano", "simclr": "resnet-tiny", "mae": "vit-nano",
                   "best_rq": "audio-tiny",
                   # ELECTRA's discriminator is BERT's encoder: BERT's layout exports to transformers.
                   "electra": "bert-classic-nano",
                   "supervised": "resnet-tiny"}


class ObjectiveConfig(Strict):
    """The pre-training objective and its knobs; knobs left out take the defaults in OBJECTIVE_KNOBS."""

    name: Literal["causal_lm", "masked_lm", "electra", "skipgram", "cbow", "simclr", "mae", "supervised", "best_rq", "clip",
                  "siglip"] = "causal_lm"
    mask_prob: Optional[float] = Field(default=None, gt=0, lt=1, description="masked_lm, electra: fraction of "
                                       "tokens chosen; best_rq: chance that a frame starts a masked span")
    # electra
    generator_size: Optional[float] = Field(default=None, gt=0, le=1, description="electra: the generator's "
                                            "width as a fraction of the discriminator's, in whole heads (at "
                                            "least one), at the same depth")
    disc_weight: Optional[float] = Field(default=None, gt=0, description="electra: weight of the discriminator's "
                                         "loss beside the generator's masked-LM loss")
    # skipgram, cbow
    window: Optional[int] = Field(default=None, gt=0, description="skipgram/cbow: words on each side that count "
                                  "as context (word2vec's window; each pass draws a shorter one per word)")
    negative: Optional[int] = Field(default=None, gt=0, description="skipgram/cbow: noise words per pair "
                                    "(negative sampling)")
    sample: Optional[float] = Field(default=None, ge=0, lt=1, description="skipgram/cbow: frequent words are "
                                    "thinned out above this frequency (word2vec's sample; 0 = off)")
    # simclr
    temperature: Optional[float] = Field(default=None, gt=0, description="simclr: NT-Xent temperature")
    projection_dim: Optional[int] = Field(default=None, gt=0, description="simclr: width the loss sees")
    projection_hidden_dim: Optional[int] = Field(default=None, gt=0, description="simclr: projection head's width")
    crop_scale: Optional[tuple[float, float]] = Field(default=None, description="simclr: random crop's area range")
    flip_p: Optional[float] = Field(default=None, ge=0, le=1, description="simclr: share of views mirrored "
                                    "left-right (0 for digits and text, where a mirror image is another symbol)")
    blur_p: Optional[float] = Field(default=None, ge=0, le=1, description="simclr: share of views blurred")
    jitter_strength: Optional[float] = Field(default=None, ge=0, description="simclr: colour distortion strength s "
                                             "(brightness, contrast, saturation 0.8 s; hue 0.2 s)")
    # mae
    mask_ratio: Optional[float] = Field(default=None, gt=0, lt=1, description="mae: share of patches hidden")
    decoder_dim: Optional[int] = Field(default=None, gt=0)
    decoder_layers: Optional[int] = Field(default=None, gt=0)
    decoder_heads: Optional[int] = Field(default=None, gt=0)
    norm_pix_loss: Optional[bool] = Field(default=None, description="mae: predict per-patch normalised pixels")
    # best_rq
    mask_span: Optional[int] = Field(default=None, gt=0, description="best_rq: frames in each masked span")
    codebook_size: Optional[int] = Field(default=None, gt=1, description="best_rq: random codebook entries")
    codebook_dim: Optional[int] = Field(default=None, gt=0, description="best_rq: random projection width")
    num_codebooks: Optional[int] = Field(default=None, gt=0, description="best_rq: independent quantizers")
    noise_std: Optional[float] = Field(default=None, ge=0, description="best_rq: std of the noise in masked frames")
    # clip, siglip
    init_temperature: Optional[float] = Field(default=None, gt=0, description="clip/siglip: the learnable "
                                              "temperature's start (logits = cosine / temperature)")
    init_bias: Optional[float] = Field(default=None, description="siglip: the learnable logit bias's start")

    @property
    def modality(self) -> str:
        if self.name in TEXT_OBJECTIVES:
            return "text"
        return "audio" if self.name in AUDIO_OBJECTIVES else "pairs" if self.name in PAIR_OBJECTIVES else "images"

    def fill_knobs(self) -> None:
        """Refuse knobs of other objectives; give this one's the defaults."""
        own = OBJECTIVE_KNOBS[self.name]
        for key in sorted(self.model_fields_set - {"name"} - set(own)):
            if getattr(self, key) is not None:
                owner = next(name for name, knobs in OBJECTIVE_KNOBS.items() if key in knobs)
                takes = f"its knobs: {', '.join(own)}" if own else "it has no knobs"
                raise ValueError(f"objective.{key}: a knob of {owner}, not of {self.name} ({takes})")
        for key, default in own.items():
            if getattr(self, key) is None:
                setattr(self, key, default)
        if self.name == "simclr" and not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"objective.crop_scale: expected [low, high] with 0 < low <= high <= 1, "
                             f"got {list(self.crop_scale)}")
        if self.name == "mae" and self.decoder_dim % self.decoder_heads:
            raise ValueError(f"objective.decoder_dim ({self.decoder_dim}) must be divisible by "
                             f"objective.decoder_heads ({self.decoder_heads})")

    def record(self) -> dict:
        """The name and this objective's knobs, as a run records them."""
        return self.model_dump(mode="json", exclude_none=True)


class MonitorConfig(Strict):
    """Image pre-training: what each evaluation measures besides the objective's own validation loss."""

    knn_train_images: int = Field(default=2000, ge=0, description="labeled train images the online kNN probe "
                                                                  "is fitted on; 0 turns it off")
    knn_val_images: int = Field(default=1000, gt=0, description="val images it is scored on")


class TowersConfig(Strict):
    """An image-text model's ``model`` section: each tower a preset plus fields, or a headstart checkpoint
    to start from (``image_init``: an image run such as MAE or SimCLR; ``text_init``: a text run such as
    masked LM, whose tokenizer the pairs must be prepared with)."""

    image: Optional[dict[str, Any]] = Field(default=None, description="image tower: preset and fields; "
                                            "default vit-nano")
    text: Optional[dict[str, Any]] = Field(default=None, description="text tower: preset and fields; "
                                           "default bert-nano")
    image_init: Optional[Path] = Field(default=None, description="start the image tower from this image run")
    text_init: Optional[Path] = Field(default=None, description="start the text tower from this text run")
    embed_dim: int = Field(default=128, gt=0, description="width of the shared embedding space")

    def filled(self) -> dict[str, Any]:
        for tower in ("image", "text"):
            check_preset_name(getattr(self, tower), f"model.{tower}.")
            if getattr(self, tower) is not None and getattr(self, f"{tower}_init") is not None:
                raise ValueError(f"model.{tower} and model.{tower}_init: give one (a tower started from a "
                                 f"checkpoint keeps its architecture)")
        image = None if self.image_init else dict(self.image or {"preset": "vit-nano"})
        text = None if self.text_init else dict(self.text or {"preset": "bert-nano"})
        if image is not None:
            image.setdefault("preset", "vit-nano")
            if image["preset"] not in VISION_PRESETS:
                raise ValueError(f"model.image.preset: unknown image preset {image['preset']!r}; known: "
                                 f"{', '.join(sorted(VISION_PRESETS))}")
            patch = image.get("patch_size", VISION_PRESETS[image["preset"]].get("patch_size", 1))
            resolve_vision_model(image, image_size=patch if isinstance(patch, int) and patch > 0 else 1, channels=1)
        if text is not None:
            text.setdefault("preset", "bert-nano")
            if text["preset"] not in PRESETS:
                raise ValueError(f"model.text.preset: unknown text preset {text['preset']!r}; known: "
                                 f"{', '.join(sorted(PRESETS))}")
            text.setdefault("causal", False)
            resolve_model(text, vocab_size=1)
        return {"image": image, "text": text, "image_init": self.image_init and str(self.image_init),
                "text_init": self.text_init and str(self.text_init), "embed_dim": self.embed_dim}


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
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    monitor: Optional[MonitorConfig] = Field(default=None, description="images only; default: the kNN probe on")
    train: TrainConfig

    @property
    def modality(self) -> str:
        """"text" or "images": what the objective trains on."""
        return self.objective.modality

    @property
    def embeddings_from(self) -> Optional[Path]:  # the word-vector run that seeds the token embeddings
        return None if (self.model or {}).get(EMBEDDINGS_FROM) is None else Path(self.model[EMBEDDINGS_FROM])

    @property
    def architecture(self) -> dict[str, Any]:  # the model section less embeddings_from: preset and fields
        return {k: v for k, v in (self.model or {}).items() if k != EMBEDDINGS_FROM}

    @model_validator(mode="after")
    def _check(self) -> "PretrainConfig":
        self.objective.fill_knobs()
        check_preset_name(self.model, "model.")
        self._check_embeddings_from()
        if self.modality == "images":
            return self._check_images()
        if self.monitor is not None:
            raise ValueError(f"monitor: the online kNN probe watches image pre-training, not {self.objective.name}")
        if self.modality == "audio":
            return self._check_audio()
        if self.modality == "pairs":
            return self._check_pairs()
        if self.objective.name in WORD_VECTOR_OBJECTIVES:
            return self._check_word_vectors()
        if self.init is not None:
            if self.model is not None:
                raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
            return self
        if not self.architecture:  # no model section, or embeddings_from alone: the objective's default size
            self.model = {"preset": DEFAULT_PRESETS[self.objective.name], **(self.model or {})}
        if self.model.get("preset") in VISION_PRESETS:
            raise ValueError(f"model.preset: {self.model['preset']} is an image model; objective "
                             f"{self.objective.name} trains a text model ({', '.join(sorted(PRESETS))})")
        arch = resolve_model(self.architecture, vocab_size=self.model.get("vocab_size", 1),
                             causal=self.objective.name == "causal_lm")
        if self.data.seq_len and self.data.seq_len > arch.context_length:
            raise ValueError(f"data.seq_len ({self.data.seq_len}) exceeds the model's context_length "
                             f"({arch.context_length})")
        return self

    def _check_embeddings_from(self) -> None:
        if EMBEDDINGS_FROM not in (self.model or {}):
            return
        name, source = self.objective.name, self.model[EMBEDDINGS_FROM]
        if name not in TRANSFORMER_TEXT_OBJECTIVES:
            trains = ("word vectors, from scratch" if name in WORD_VECTOR_OBJECTIVES else
                      {"images": "an image model", "audio": "an audio model"}.get(self.modality, "an image-text model"))
            raise ValueError(f"model.embeddings_from: word vectors start a text transformer's token embeddings "
                             f"({', '.join(TRANSFORMER_TEXT_OBJECTIVES)}); objective {name} trains {trains}")
        if self.init is not None:
            raise ValueError("model.embeddings_from: init already holds the token embeddings; give one of the two")
        if not isinstance(source, (str, Path)) or not str(source).strip():
            raise ValueError(f"model.embeddings_from: expected the path of a skipgram or cbow run, got {source!r}")

    def _check_word_vectors(self) -> "PretrainConfig":
        if self.init is not None:
            raise ValueError(f"init: {self.objective.name} trains word vectors from the start; continuing a run "
                             f"is not supported")
        if self.data.seq_len is not None:
            raise ValueError(f"data.seq_len: {self.objective.name} reads whole documents (window: objective.window)")
        self.model = dict(self.model or {})
        if "vocab_size" in self.model:
            raise ValueError("model.vocab_size: set by the prepared data's word tokenizer; remove it")
        try:
            WordVectorsConfig(**{**self.model, "vocab_size": 1})
        except ValidationError as e:
            raise ValueError(format_validation_error(e, WordVectorsConfig, prefix="model.")) from None
        return self

    def _check_images(self) -> "PretrainConfig":
        name = self.objective.name
        if self.data.seq_len is not None:
            raise ValueError("data.seq_len: a text setting; images keep the size they were prepared at")
        if self.init is not None:
            if self.model is not None:
                raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
            return self
        self.model = dict(self.model or {})
        self.model.setdefault("preset", DEFAULT_PRESETS[name])
        spec = dict(self.model)
        preset = spec.pop("preset")
        if preset in PRESETS:
            raise ValueError(f"model.preset: {preset} is a text model; objective {name} trains an image model "
                             f"({', '.join(sorted(VISION_PRESETS))})")
        if preset not in VISION_PRESETS:
            raise ValueError(f"model.preset: unknown image preset {preset!r}; known: "
                             f"{', '.join(sorted(VISION_PRESETS))}")
        if name == "mae" and preset not in VIT_PRESETS:
            raise ValueError(f"model.preset: objective mae needs a ViT ({', '.join(sorted(VIT_PRESETS))}); "
                             f"{preset} is a ResNet")
        for key in ("image_size", "channels"):
            if key in spec:
                raise ValueError(f"model.{key}: set by the prepared images; remove it")
        # The image size is not known until the data is read: check the fields on a one-patch image.
        patch = spec.get("patch_size", VISION_PRESETS[preset].get("patch_size", 1))
        resolve_vision_model(self.model, image_size=patch if isinstance(patch, int) and patch > 0 else 1, channels=1)
        if self.monitor is None:
            self.monitor = MonitorConfig()
        return self

    def _check_audio(self) -> "PretrainConfig":
        if self.data.seq_len is not None:
            raise ValueError("data.seq_len: a text setting; an audio model's max_frames bounds a clip")
        if self.init is not None:
            if self.model is not None:
                raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
            return self
        self.model = dict(self.model or {})
        self.model.setdefault("preset", DEFAULT_PRESETS[self.objective.name])
        if self.model["preset"] not in AUDIO_PRESETS:
            raise ValueError(f"model.preset: {self.model['preset']} is not an audio model; objective "
                             f"{self.objective.name} trains one of {', '.join(sorted(AUDIO_PRESETS))}")
        if "n_mels" in self.model:
            raise ValueError("model.n_mels: set by the prepared audio; remove it")
        resolve_audio_model(self.model, n_mels=1)  # the fields' checks; n_mels comes with the data
        return self

    def _check_pairs(self) -> "PretrainConfig":
        if self.data.seq_len is not None:
            raise ValueError("data.seq_len: a text setting; captions keep the length they were prepared at "
                             "(prepare pairs --caption-len)")
        if self.init is not None:
            if self.model is not None:
                raise ValueError("give model or init, not both: a run continued from init keeps its architecture")
            return self
        try:
            towers = TowersConfig.model_validate(self.model or {})
        except ValidationError as e:
            raise ValueError(format_validation_error(e, TowersConfig, prefix="model.")) from None
        self.model = towers.filled()
        return self

    def record(self) -> dict:
        """The resolved config as a run records it (config.yaml, state.json): other objectives' knobs
        and sections this run does not use are left out."""
        data = self.model_dump(mode="json")
        data["objective"] = self.objective.record()
        if self.monitor is None:
            del data["monitor"]
        return data


def check_preset_name(spec: Optional[dict], prefix: str = "model.") -> None:
    """A preset is named by a string; a list or mapping there would fail later as a TypeError (unhashable)."""
    if isinstance(spec, dict) and "preset" in spec and not isinstance(spec["preset"], str):
        raise ValueError(f"{prefix}preset: expected the name of a preset, got {spec['preset']!r}")


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


def format_validation_error(e: ValidationError, cls: type[BaseModel], prefix: str = "") -> str:
    parts = []
    for err in e.errors():
        loc = tuple(err["loc"])
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
