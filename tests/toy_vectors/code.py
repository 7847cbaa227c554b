"""The toy vectors modality's code: prepare, arrays, model, objective, batches, checkpoints, task."""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from headstart.engine import draws
from headstart.engine.data import BatchSource, EpochSampler
from headstart.engine.distributed import world
from headstart.finetune.prepared_task import PreparedFolderTask
from headstart.modality import LabeledBatches, Pretrained, PretrainSetup, TaskBackbone
from headstart.modality.checkpoints import rebuild_model, without_kind
from headstart.modality.splits import val_flags
from headstart.objectives.base import ObjectiveOutput
from headstart.objectives.image_classification import ImageClassification
from headstart.output_folder import staged_output, write_manifest
from headstart.transfer.probes import raw_features_logreg

from . import FORMAT, KIND


@click.command("vectors")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--val-fraction", default=0.1, type=click.FloatRange(0, 1, max_open=True))
def prepare_vectors(source: Path, out: Path, labels: Path | None, val_fraction: float) -> None:
    """Vectors (N, D) of a .npy, and their labels (N,) if given, into train/val arrays."""
    x = np.load(source, allow_pickle=False).astype(np.float32)
    y = np.load(labels, allow_pickle=False).astype(np.int64) if labels else None
    val = val_flags((str(i) for i in range(len(x))), val_fraction, "vector")
    with staged_output(out, overwrite=True) as staging:
        for split, rows in (("train", ~val), ("val", val)):
            np.save(staging / f"{split}.npy", x[rows])
            if y is not None:
                np.save(staging / f"{split}-labels.npy", y[rows])
        write_manifest(staging, {"format": FORMAT, "version": 1, "dim": int(x.shape[1]),
                                 "class_names": None if y is None else [str(c) for c in range(int(y.max()) + 1)],
                                 "splits": {"train": {"vectors": int((~val).sum())}, "val": {"vectors": int(val.sum())}}})
    click.echo(f"wrote {out}")


def load_manifest(path) -> dict:
    return json.loads((Path(path) / "manifest.json").read_text())


class VectorArrays:
    def __init__(self, path, split: str):
        manifest = load_manifest(path)
        self.x = np.load(Path(path) / f"{split}.npy", mmap_mode="r")
        labels = Path(path) / f"{split}-labels.npy"
        self.labels = np.load(labels) if labels.exists() else None
        self.class_names, self.dim = manifest["class_names"], manifest["dim"]

    def __len__(self) -> int:
        return len(self.x)

    def read(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return [np.asarray(self.x[i]) for i in indices], (None if self.labels is None else self.labels[indices])


class MLPConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dim: int
    hidden: int = 32


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg, self.feature_dim = cfg, cfg.hidden
        self.net = nn.Sequential(nn.Linear(cfg.dim, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.hidden))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MaskedFeatureModelling(nn.Module):
    """Hide a share of each vector's features (zeros), predict them from the rest."""

    def __init__(self, model: MLP, mask_prob: float):
        super().__init__()
        self.model, self.mask_prob = model, mask_prob
        self.decoder = nn.Linear(model.feature_dim, model.cfg.dim)

    def forward(self, batch: dict) -> ObjectiveOutput:
        x = batch["vectors"]
        hidden = draws.rand(*x.shape, device=x.device) < self.mask_prob
        predicted = self.decoder(self.model.features(x.masked_fill(hidden, 0.0)))
        count = draws.global_count(hidden.sum()).clamp(min=1)
        loss = ((predicted - x) ** 2)[hidden].sum() / count
        return ObjectiveOutput(loss, {"loss": loss.detach()})


class VectorBatches(BatchSource):
    unit = "samples"

    def __init__(self, arrays: VectorArrays, batch_size: int, seed: int):
        here = world()
        self.arrays = arrays
        self.sampler = EpochSampler(len(arrays), batch_size, seed, here.rank, here.world_size)

    def batch(self, index: int) -> dict:
        return {"vectors": torch.from_numpy(np.asarray(self.arrays.x[self.sampler.indices(index)]))}

    def units(self, batch: dict) -> int:
        return len(batch["vectors"])


def pretrain_setup(cfg) -> PretrainSetup:
    train, val = VectorArrays(cfg.data.path, "train"), VectorArrays(cfg.data.path, "val")
    model = MLP(MLPConfig(dim=train.dim, **{k: v for k, v in (cfg.model or {}).items() if k != "preset"}))
    run_config = cfg.record()
    run_config["model"] = {"kind": KIND, **model.cfg.model_dump()}
    return PretrainSetup(MaskedFeatureModelling(model, cfg.objective.mask_prob),
                         VectorBatches(train, cfg.train.batch_size, cfg.train.seed),
                         VectorBatches(val, cfg.train.batch_size, cfg.train.seed + 1), run_config,
                         summary=f"MLP on {train.dim}-dim vectors", per_step=f"{cfg.train.batch_size} vectors")


def load_model(checkpoint, prefer: str = "best"):
    return rebuild_model(checkpoint, prefer, kinds=(KIND,), build=lambda record: MLP(MLPConfig(**without_kind(record))),
                         refusal=lambda kind: f"not a vectors model ({kind})")


def load_pretrained(checkpoint, kind: str) -> Pretrained:
    model, found, state = load_model(checkpoint)
    return Pretrained(model, found, state, kind)


class VectorClassification(ImageClassification):
    def features(self, batch: dict) -> torch.Tensor:
        return self.model.features(batch["vectors"])


class LabeledVectorBatches(LabeledBatches):
    def __init__(self, data, batch_size: int, seed: int = 0):
        self.data = data
        super().__init__(len(data), batch_size, seed)

    def collate(self, indices: np.ndarray) -> dict:
        return {"vectors": torch.from_numpy(np.stack(self.data.items(indices))),
                "labels": torch.from_numpy(self.data.labels[indices])}


class VectorBackbone(TaskBackbone):
    def __init__(self, model: MLP, source: str):
        self.model, self.source = model, source

    def objective(self, num_classes: int) -> nn.Module:
        return VectorClassification(self.model, num_classes)

    def batches(self, data, batch_size: int, seed: int = 0) -> LabeledVectorBatches:
        return LabeledVectorBatches(data, batch_size, seed)

    def with_fresh_weights(self) -> "VectorBackbone":
        return VectorBackbone(MLP(self.model.cfg), f"random init (architecture of {self.source})")


class VectorTask(PreparedFolderTask):
    name = unit = "vectors"
    arrays = VectorArrays
    load_manifest = staticmethod(load_manifest)
    baseline_name = "logistic regression on the vectors"
    baseline_protocol = "raw_features_logreg"

    def backbone(self, cfg) -> VectorBackbone:
        if cfg.init is not None:
            backbone = self.load(cfg.init, cfg)
            return backbone.with_fresh_weights() if cfg.scratch else backbone
        dim = VectorArrays(cfg.task.train.path, "train").dim
        return VectorBackbone(MLP(MLPConfig(dim=dim, **{k: v for k, v in (cfg.model or {}).items()})), "random init")

    def load(self, checkpoint: Path, cfg) -> VectorBackbone:
        model, found, _ = load_model(checkpoint)
        return VectorBackbone(model, str(found))

    def baseline(self, train, test, seed: int) -> float:
        everything = lambda data: np.stack(data.items(np.arange(len(data))))  # noqa: E731
        return raw_features_logreg(everything(train), train.labels, everything(test), test.labels, seed=seed)
