"""Audio classifiers for ``headstart predict`` / ``evaluate`` / ``load_classifier``: a sound file becomes
log-mels exactly as ``prepare audio`` made the training clips (rate, mels, window, silence rule), then is
normalised with the training folder's statistics."""
from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..classifier.io import ClassifierIO, InputItem, expand_files, inference_config
from ..errors import HeadstartError
from ..models.audio_encoder import AudioEncoder, AudioEncoderConfig
from .arrays import load_audio_manifest
from .features import LogMel
from .finetune_task import AudioBackbone
from .prepare import FORMATS_OF_SUFFIX, AudioPrepareOptions, read_clip
from .pretrained import AUDIO_KIND, audio_model_record

# The prepare options that decide what a file's features are (the rest are about labels and splits).
FEATURE_OPTIONS = ("sample_rate", "n_mels", "win_ms", "hop_ms", "silence_db", "max_seconds")


class IO(ClassifierIO):
    def record(self, backbone: AudioBackbone, cfg) -> tuple[dict, dict[str, Path]]:
        options = load_audio_manifest(cfg.task.train.path).get("options", {})
        features = {key: options.get(key, getattr(AudioPrepareOptions, key)) for key in FEATURE_OPTIONS}
        return ({"model": audio_model_record(backbone.model.cfg), "head": {},
                 "inputs": {**features, "feature_mean": [float(v) for v in backbone.mean],
                            "feature_std": [float(v) for v in backbone.std]}}, {})

    def backbone(self, meta: dict, folder: Path) -> AudioBackbone:
        record = dict(meta["model"])
        if record.pop("kind", None) != AUDIO_KIND:
            raise HeadstartError(f"{folder}/classifier.json: model kind is not {AUDIO_KIND}")
        inputs = meta["inputs"]
        return AudioBackbone(AudioEncoder(AudioEncoderConfig(**record)), str(folder), inference_config(folder),
                             np.asarray(inputs["feature_mean"], dtype=np.float32),
                             np.asarray(inputs["feature_std"], dtype=np.float32))

    def from_python(self, meta: dict, inputs: Sequence) -> Iterator[InputItem]:
        for i, value in enumerate(inputs):
            if isinstance(value, (str, Path)):
                yield _clip(Path(value), meta["inputs"])
            elif isinstance(value, np.ndarray) and value.ndim == 1 and np.issubdtype(value.dtype, np.floating):
                if not np.isfinite(value).all():
                    yield InputItem(f"input {i}", problem="the waveform holds NaN or infinite samples")
                else:
                    yield InputItem(f"input {i}", _features(meta["inputs"], value))
            else:
                yield InputItem(f"input {i}", problem=f"an audio classifier takes sound file paths or 1-D float "
                                                      f"waveforms at {meta['inputs']['sample_rate']} Hz")

    def from_sources(self, meta: dict, sources: Sequence[str], options: dict) -> Iterator[InputItem]:
        labels = set(meta["labels"])
        for path, root in expand_files(sources, frozenset(FORMATS_OF_SUFFIX)):
            item = _clip(path, meta["inputs"])
            if root is not None and len(path.relative_to(root).parts) > 1 and path.relative_to(root).parts[0] in labels:
                item.label = path.relative_to(root).parts[0]
            yield item

    def length(self, example: np.ndarray) -> int:
        return len(example)

    def data(self, examples: list, labels: Sequence[int]):
        return _Clips(examples, np.asarray(labels, dtype=np.int64))

    def check(self, meta: dict, data) -> None:
        if data.n_mels != meta["inputs"]["n_mels"]:
            raise HeadstartError(f"{data.source}: {data.n_mels} mel bins but the classifier takes "
                                 f"{meta['inputs']['n_mels']}; prepare it with --n-mels {meta['inputs']['n_mels']} "
                                 f"--sample-rate {meta['inputs']['sample_rate']}")


def _options(inputs: dict) -> AudioPrepareOptions:
    known = {f.name for f in fields(AudioPrepareOptions)}
    return AudioPrepareOptions(**{k: v for k, v in inputs.items() if k in known})


@lru_cache(maxsize=4)
def _logmel(sample_rate: int, n_mels: int, win_ms: float, hop_ms: float) -> LogMel:
    """One feature extractor per setting: its filterbank and window are built once, not once per file."""
    return LogMel(sample_rate, n_mels, win_ms, hop_ms)


def _features(inputs: dict, waveform: np.ndarray) -> np.ndarray:
    """Log-mels stored as ``prepare audio`` stores them (float16), so a file predicts exactly as its
    prepared copy does."""
    logmel = _logmel(inputs["sample_rate"], inputs["n_mels"], inputs["win_ms"], inputs["hop_ms"])
    return logmel(waveform).astype(np.float16)


def _clip(path: Path, inputs: dict) -> InputItem:
    if path.suffix.lower() not in FORMATS_OF_SUFFIX:
        return InputItem(str(path), problem=f"not a sound file suffix ({', '.join(sorted(FORMATS_OF_SUFFIX))})")
    try:
        waveform, problem, _ = read_clip(path, _options(inputs))
    except OSError as e:
        return InputItem(str(path), problem=f"cannot read ({e.strerror or e})")
    if problem is not None:
        return InputItem(str(path), problem=f"{problem[0]} ({problem[1]})")
    if not np.isfinite(waveform).all():
        return InputItem(str(path), problem="the file holds NaN or infinite samples")
    return InputItem(str(path), _features(inputs, waveform))


class _Clips:
    """Log-mel clips as the audio batches read them."""

    def __init__(self, clips: list, labels: np.ndarray):
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.clips)

    def items(self, indices) -> list:
        return [self.clips[i] for i in np.asarray(indices)]
