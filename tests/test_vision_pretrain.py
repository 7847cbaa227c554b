"""Image pre-training from the command line: prepare images -> pretrain (SimCLR, MAE, supervised) -> reload."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from headstart.config import load_pretrain_config
from headstart.engine.metrics import read_metrics
from headstart.errors import HeadstartError
from headstart.vision import ImageArrays, ImageBatches, load_image_model
from headstart.vision.online_knn import OnlineKNN, warn_if_collapsed
from test_pretrain_cli import CORPUS, run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "digits-simclr.yaml"
RESNET = "{preset: resnet-tiny, widths: [8, 16], blocks: [1, 1]}"
VIT = "{preset: vit-nano, patch_size: 2, n_layer: 1, n_head: 2, d_model: 32}"  # 8x8 digits -> 16 patches
SMALL_HEADS = {"simclr": "projection_dim: 16, projection_hidden_dim: 32, blur_p: 0.0",
               "mae": "decoder_dim: 32, decoder_layers: 1, decoder_heads: 2", "supervised": ""}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """scikit-learn's digits, prepared as the example config's comment says."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    d = load_digits()
    np.savez(root / "digits.npz", x=(d.images * 255 / 16).round().astype("uint8"), y=d.target)
    code, out = run_cli("prepare", "images", root / "digits.npz", "--out", root / "data", "--mode", "L",
                        "--no-progress")
    assert code == 0, out
    return root / "data"


@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabeled")
    np.save(root / "noise.npy", np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8))
    assert run_cli("prepare", "images", root / "noise.npy", "--out", root / "data", "--no-progress")[0] == 0
    return root / "data"


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    (root / "corpus.txt").write_text(CORPUS)
    assert run_cli("prepare", "text", root / "corpus.txt", "--out", root / "data", "--tokenizer", "char",
                   "--workers", "0")[0] == 0
    return root / "data"


def write_config(tmp_path, data, objective, model=RESNET, steps=6, train=""):
    config = tmp_path / f"{objective}.yaml"
    config.write_text(f"""
run_dir: {tmp_path / ('run-' + objective)}
data: {{path: {data}}}
{'model: ' + model if model else ''}
objective: {{name: {objective}, {SMALL_HEADS.get(objective, '')}}}
{'monitor: {knn_train_images: 400, knn_val_images: 100}' if objective in SMALL_HEADS else ''}
train: {{steps: {steps}, batch_size: 16, lr: 3.0e-3, eval_every: 3, eval_batches: 2, log_every: 1, {train}}}
""")
    return config


@pytest.mark.parametrize("objective, model, metrics", [
    ("simclr", RESNET, {"loss", "contrastive_accuracy", "embedding_std"}),
    ("mae", VIT, {"loss"}),
    ("supervised", VIT, {"loss", "accuracy"}),
])
def test_pretrain_each_image_objective_from_the_command_line(tmp_path, digits, objective, model, metrics):
    code, out = run_cli("pretrain", write_config(tmp_path, digits, objective, model))
    assert code == 0, out
    run = tmp_path / f"run-{objective}"
    last = run / "checkpoints" / "step_000006"
    assert (last / "model.safetensors").exists() and (last / "objective.safetensors").exists()  # head apart
    val = read_metrics(run, "val")[-1]
    assert set(val) >= metrics | {"knn_accuracy"} and 0 <= val["knn_accuracy"] <= 1
    assert all(np.isfinite(val[k]) for k in metrics)
    recorded = json.loads((last / "state.json").read_text())["config"]
    assert recorded["task"] == "pretrain_images" and recorded["model"]["kind"] == ("vit" if model == VIT else "resnet")
    assert recorded["model"]["channels"] == 1 and recorded["data"]["image_shape"] == [8, 8, 1]
    assert recorded["data"]["class_names"] == [str(d) for d in range(10)]
    assert (run / "config.yaml").exists()


def test_a_reloaded_checkpoint_gives_the_trained_models_features(tmp_path, digits, monkeypatch):
    # Keep the objective the run trained, to compare with what load_image_model rebuilds from disk.
    import headstart.vision.pretrain_setup as vision_setup
    from headstart.pretrain import pretrain

    trained, build = [], vision_setup.image_setup

    def build_and_keep(cfg):
        trained.append(build(cfg))
        return trained[-1]

    monkeypatch.setattr(vision_setup, "image_setup", build_and_keep)
    pretrain(write_config(tmp_path, digits, "simclr"))
    model, checkpoint, state = load_image_model(tmp_path / "run-simclr" / "checkpoints" / "step_000006")
    images = ImageBatches(ImageArrays(digits, "val"), batch_size=32, seed=0).batch(0)["images"]
    with torch.no_grad():  # eval mode both: BatchNorm's running statistics were saved too
        assert torch.equal(model.features(images), trained[0].objective.model.eval().features(images))
    assert not model.training and state["step"] == 6 and checkpoint.name == "step_000006"


def test_resume_finishes_an_image_run_exactly_as_one_uninterrupted_run(tmp_path, digits):
    # SimCLR on a ResNet: augmentations draw from the RNG and BatchNorm keeps running statistics,
    # all restored on resume.  A constant rate, so that the shorter first leg has the same schedule.
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    straight = write_config(tmp_path / "a", digits, "simclr", train="schedule: constant")
    split = write_config(tmp_path / "b", digits, "simclr", train="schedule: constant")
    assert run_cli("pretrain", straight)[0] == 0
    assert run_cli("pretrain", split, "--set", "train.steps=3")[0] == 0
    code, out = run_cli("pretrain", split, "--resume")
    assert code == 0 and "finished at step 6" in out, out
    runs = (tmp_path / "a" / "run-simclr", tmp_path / "b" / "run-simclr")
    for name in ("model.safetensors", "objective.safetensors"):  # the backbone, and the projection head
        a, b = (load_file(run / "checkpoints" / "step_000006" / name) for run in runs)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[(r["step"], r["loss"]) for r in read_metrics(run, "train")] for run in runs]
    assert losses[0] == losses[1] and len(losses[0]) == 6


@pytest.mark.parametrize("data, objective, model, override, message", [
    ("digits", "masked_lm", None, None, "objective.name: masked_lm trains on text, but data.path"),
    ("text", "simclr", RESNET, None, "objective.name: simclr trains on images, but data.path"),
    ("digits", "mae", RESNET, None, "model.preset: objective mae needs a ViT"),
    ("unlabeled", "supervised", RESNET, None, "objective.name: supervised needs labels"),
    ("digits", "simclr", "{preset: gpt-nano}", None, "model.preset: gpt-nano is a text model"),
    ("digits", "causal_lm", "{preset: vit-nano}", None, "model.preset: vit-nano is an image model"),
    ("digits", "simclr", RESNET, "objective.mask_ratio=0.5", "objective.mask_ratio: a knob of mae, not of simclr"),
    ("digits", "mae", VIT, "model.patch_size=3", "image_size (8, 8) is not a multiple of patch_size 3"),
    ("digits", "mae", VIT, "model.channels=3", "model.channels: set by the prepared images"),
    ("digits", "simclr", RESNET, "data.seq_len=8", "data.seq_len: a text setting"),
])
def test_image_config_mistakes_are_one_line_errors(tmp_path, request, data, objective, model, override, message):
    config = write_config(tmp_path, request.getfixturevalue(data), objective, model)
    code, out = run_cli("pretrain", config, *(["--set", override] if override else []))
    assert code == 2 and message in out and "\n" not in out.strip(), out


def test_load_image_model_refuses_a_text_checkpoint(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"config": {"model": {"vocab_size": 65, "n_layer": 2}}}))
    with pytest.raises(HeadstartError, match="not an image model .*use load_text_model"):
        load_image_model(tmp_path)


def test_an_image_config_takes_its_objectives_defaults_and_records_only_them(tmp_path):
    path = tmp_path / "mae.yaml"
    path.write_text("run_dir: r\ndata: {path: d}\nobjective: {name: mae}\ntrain: {steps: 1, batch_size: 1, lr: 1}\n")
    cfg = load_pretrain_config(path)
    assert cfg.model == {"preset": "vit-nano"} and cfg.monitor.knn_train_images == 2000
    assert cfg.record()["objective"] == {"name": "mae", "mask_ratio": 0.75, "decoder_dim": 128, "decoder_layers": 2,
                                         "decoder_heads": 4, "norm_pix_loss": True}
    text = load_pretrain_config(path, ["objective.name=causal_lm", "model.preset=gpt-nano"]).record()
    assert text["objective"] == {"name": "causal_lm", "mask_prob": 0.15} and "monitor" not in text  # as before images


class RawPixels(nn.Module):
    """A stand-in backbone whose features are the pixels themselves."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def features(self, images):
        return images.flatten(1)


def test_online_knn_scores_frozen_features_and_collapse_is_warned(digits, caplog):
    knn = OnlineKNN(ImageArrays(digits, "train"), ImageArrays(digits, "val"), train_images=1000, val_images=100)
    assert len(knn.train_pixels) == 1000 and len(knn.val_pixels) == 100
    assert knn(RawPixels())["knn_accuracy"] > 0.9  # raw pixels already separate the digits well
    with caplog.at_level(logging.WARNING, logger="headstart.vision"):
        warn_if_collapsed({"loss": 5.0, "embedding_std": 0.8})
        assert not caplog.records
        warn_if_collapsed({"loss": 5.0, "embedding_std": 0.02})
    assert "collapsing" in caplog.text


def test_the_example_config_runs_on_prepared_digits(tmp_path, digits):
    code, out = run_cli("pretrain", EXAMPLE, "--set", f"run_dir={tmp_path / 'run'}", "--set", f"data.path={digits}",
                        "--set", "train.steps=2", "--set", "train.warmup_steps=1",
                        "--set", "monitor.knn_train_images=200")
    assert code == 0 and "knn_accuracy" in out, out


def test_init_continues_image_pretraining_from_a_checkpoint(tmp_path, digits):
    """SimCLR first, then supervised pre-training on top: the second run starts from the first's weights."""
    assert run_cli("pretrain", write_config(tmp_path, digits, "simclr"))[0] == 0
    first = tmp_path / "run-simclr" / "checkpoints" / "step_000006"
    config = write_config(tmp_path, digits, "supervised", model=None, steps=1,
                          train="lr: 1.0e-12, warmup_steps: 0, eval_every: 1")
    code, out = run_cli("pretrain", config, "--set", f"init={first}")
    assert code == 0, out
    before, after = (load_file(run / "model.safetensors")
                     for run in (first, tmp_path / "run-supervised" / "checkpoints" / "step_000001"))
    conv = "stem.0.weight"  # one step at a vanishing rate: the stem's convolution is the first run's
    assert torch.allclose(before[conv], after[conv], atol=1e-6)

    code, out = run_cli("pretrain", config, "--set", f"init={first}", "--set", "model.preset=resnet-tiny",
                        "--set", f"run_dir={tmp_path / 'other'}")
    assert code == 2 and "give model or init, not both" in out
    code, out = run_cli("pretrain", write_config(tmp_path, digits, "mae", model=None), "--set", f"init={first}")
    assert code == 2 and "objective mae needs a ViT" in out


def test_a_knob_of_another_objective_is_refused_in_one_line(tmp_path):
    config = tmp_path / "simclr.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndata: {{path: {tmp_path}}}\nmodel: {RESNET}\n"
                      "objective: {name: simclr, mask_prob: 0.15}\ntrain: {steps: 2, batch_size: 8, lr: 1.0e-3}\n")
    with pytest.raises(HeadstartError) as refused:
        load_pretrain_config(config)
    assert "objective.mask_prob: a knob of" in str(refused.value) and "not of simclr" in str(refused.value)
    assert "\n" not in str(refused.value)
