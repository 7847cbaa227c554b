"""Utterance classification for ``headstart finetune`` and ``compare``: labeled splits of folders from
``headstart prepare audio``, and logistic regression on each clip's mean and standard deviation of
its log-mel bins as the classical baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch import nn

from ..config import resolve_audio_model
from ..errors import HeadstartError
from ..finetune.config import FinetuneConfig
from ..finetune.prepared_task import LabeledRows, PreparedFolderTask
from ..modality import TaskBackbone, with_dropout
from ..models.audio_encoder import AudioEncoder
from ..objectives.audio_classification import AudioClassification
from ..transfer.probes import linear_probe
from .arrays import AudioArrays, load_audio_manifest
from .augment import random_warp_and_stretch, spec_augment
from .batches import AudioClassificationBatches
from .pretrained import load_audio_model


class LabeledClips(LabeledRows):
    """Labeled clips from prepared folders; ``items`` gives each clip's (frames, n_mels) log-mels."""

    @property
    def n_mels(self) -> int:
        return self.parts[0].n_mels


def pooled_logmel(clips: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 2 * n_mels): each clip's per-bin mean and standard deviation, the classic utterance vector."""
    return np.stack([np.concatenate((c.mean(0), c.std(0))) for c in clips])


class AudioBackbone(TaskBackbone):
    def __init__(self, model: AudioEncoder, source: str, cfg: FinetuneConfig, mean: np.ndarray, std: np.ndarray):
        model = with_dropout(model, cfg.dropout)
        for key, value in (("pooling", cfg.pooling != "auto"), ("task.max_length", cfg.task.max_length)):
            if value:
                raise HeadstartError(f"{key}: not a setting of audio tasks (an audio encoder mean-pools its frames)")
        # Features are normalised with the *training* folder's statistics, the ones pre-training saw
        # when the checkpoint came from the same preparation.
        self.model, self.source, self.cfg, self.mean, self.std = model, source, cfg, mean, std

    def objective(self, num_classes: int) -> nn.Module:
        return AudioClassification(self.model, num_classes, augment=spec_augment if self.cfg.task.augment else None)

    def batches(self, data: LabeledClips, batch_size: int, seed: int = 0) -> AudioClassificationBatches:
        return AudioClassificationBatches(data, batch_size, seed, self.mean, self.std, self.model.cfg.max_frames)

    def with_fresh_weights(self) -> "AudioBackbone":
        return AudioBackbone(AudioEncoder(self.model.cfg), f"random init (architecture of {self.source})",
                             self.cfg, self.mean, self.std)

    def consistency_views(self, method: str):
        """The clean clip teaches a noised copy: pitch and speed perturbed by up to 10%, then SpecAugment's
        frequency and time masks (UDA's audio noise)."""
        def strong(batch: dict) -> dict:
            features, mask = random_warp_and_stretch(batch["features"], batch["padding_mask"])
            return {**batch, "features": spec_augment(features, mask), "padding_mask": mask}
        return (lambda batch: batch), strong

    def describe(self) -> str:
        return "mean pooling over frames" + (", SpecAugment" if self.cfg.task.augment else "")


class AudioTask(PreparedFolderTask):
    name = "audio"
    unit = "clips"
    arrays = AudioArrays
    load_manifest = staticmethod(load_audio_manifest)
    data_class = LabeledClips
    baseline_name = "logistic regression on pooled log-mels"
    baseline_protocol = "pooled_logmel_logreg"

    def compatible(self, train: LabeledClips, other: LabeledClips) -> None:
        if other.n_mels != train.n_mels:
            raise HeadstartError(f"{other.source}: {other.n_mels} mel bins but the training clips have "
                                 f"{train.n_mels}; prepare both with the same --n-mels and --sample-rate")

    def _training_arrays(self, cfg: FinetuneConfig) -> AudioArrays:
        return AudioArrays(cfg.task.train.path, cfg.task.train.split or "train")

    def backbone(self, cfg: FinetuneConfig) -> AudioBackbone:
        if cfg.init is not None:
            backbone = self.load(cfg.init, cfg)
            return backbone.with_fresh_weights() if cfg.scratch else backbone
        train = self._training_arrays(cfg)
        try:
            arch = resolve_audio_model(cfg.model, n_mels=train.n_mels)
        except (ValueError, KeyError) as e:
            raise HeadstartError(str(e)) from None
        return AudioBackbone(AudioEncoder(arch), "random init", cfg, train.feature_mean, train.feature_std)

    def load(self, checkpoint: Path, cfg: FinetuneConfig) -> AudioBackbone:
        model, found, _ = load_audio_model(checkpoint)
        train = self._training_arrays(cfg)
        if model.cfg.n_mels != train.n_mels:
            raise HeadstartError(f"{found}: the model takes {model.cfg.n_mels} mel bins but {cfg.task.train.path} "
                                 f"has {train.n_mels}; prepare the task with --n-mels {model.cfg.n_mels}")
        return AudioBackbone(model, str(found), cfg, train.feature_mean, train.feature_std)

    def baseline(self, train: LabeledClips, test: LabeledClips, seed: int) -> float:
        return linear_probe(pooled_logmel(train.items(np.arange(len(train)))), train.labels,
                            pooled_logmel(test.items(np.arange(len(test)))), test.labels, seed=seed)
