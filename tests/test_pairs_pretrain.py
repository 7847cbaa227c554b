"""Image–text pre-training: CLIP and SigLIP losses, `headstart pretrain` on prepared pairs, towers started
from unimodal checkpoints, zero-shot classification, and the image tower fine-tuned like any image model."""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from headstart.config import load_pretrain_config
from headstart.engine.metrics import read_metrics
from headstart.errors import HeadstartError
from headstart.objectives.image_text import clip_loss, siglip_loss
from headstart.pairs.evaluate import retrieval_recall, zero_shot_accuracy
from headstart.pairs.pretrained import load_dual_encoder
from headstart.pretrain import build_setup
from headstart.vision import load_image_model
from helpers import shared
from test_pairs_prepare import COLOURS, add, png
from test_pretrain_cli import run_cli

IMAGE = "{preset: resnet-tiny, widths: [8, 16], blocks: [1, 1]}"
TEXT = "{preset: bert-nano, n_layer: 1, n_head: 2, d_model: 32}"
PHRASES = ["a {} square", "{}", "something {}", "the colour {}", "a {} thing"]


def colour_pixels(colour: str, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array(COLOURS[colour])[None, None, None]
    return np.clip(base + rng.integers(-40, 40, (count, 12, 12, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """200 coloured squares, each captioned with its colour in one of several phrasings, prepared."""
    root = tmp_path_factory.mktemp("pairs")
    names = list(COLOURS)
    with tarfile.open(root / "colours.tar", "w") as tar:
        for n in range(200):
            colour = names[n % 4]
            add(tar, f"{n:05d}.png", png(COLOURS[colour], seed=n))
            add(tar, f"{n:05d}.txt", PHRASES[(n // 4) % len(PHRASES)].format(colour).encode())
    code, out = run_cli("prepare", "pairs", root / "colours.tar", "--out", root / "data", "--size", "12",
                        "--caption-len", "8", "--val-fraction", "0.2", "--no-progress")
    assert code == 0, out
    return root / "data"


def clip_config(tmp_path, data, objective="clip", steps=40, model=None, name=None):
    config = tmp_path / f"{name or objective}.yaml"
    model = model or f"{{image: {IMAGE}, text: {TEXT}, embed_dim: 16}}"
    config.write_text(f"""
run_dir: {tmp_path / (name or objective)}
data: {{path: {data}}}
objective: {{name: {objective}}}
model: {model}
train: {{steps: {steps}, batch_size: 32, lr: 3.0e-3, warmup_steps: {min(5, steps)}, eval_every: 20, eval_batches: 1, log_every: 10}}
""")
    return config


def test_clip_and_siglip_losses_reward_matched_pairs():
    torch.manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    shuffled = images[torch.randperm(16)]
    scale = torch.tensor(10.0)
    assert clip_loss(images, images, scale)[0] < clip_loss(images, shuffled, scale)[0]
    loss, accuracy = clip_loss(images, images, scale)
    assert accuracy == 1.0 and loss < np.log(16)
    bias = torch.tensor(-5.0)
    assert siglip_loss(images, images, scale, bias)[0] < siglip_loss(images, shuffled, scale, bias)[0]
    # Retrieval: matched embeddings find each other at rank 1; a reversed order never does.
    assert retrieval_recall(images, images)["i2t_R@1"] == 1.0
    assert retrieval_recall(images, images.flip(0))["t2i_R@1"] == 0.0


@pytest.mark.parametrize("objective", ["clip", "siglip"])
def test_pretrain_image_text_from_the_command_line_then_classify_zero_shot(tmp_path, pairs, objective):
    code, out = run_cli("pretrain", clip_config(tmp_path, pairs, objective, steps=60))
    assert code == 0, out
    val = read_metrics(tmp_path / objective, "val")
    assert {"i2t_R@1", "t2i_R@5", "i2t_R@10"} <= set(val[-1]) and val[-1]["loss"] < val[0]["loss"]
    model, tokenizer, checkpoint, state = load_dual_encoder(tmp_path / objective)
    assert state["config"]["model"]["kind"] == "dual_encoder" and (checkpoint / "tokenizer.json").exists()
    names = list(COLOURS)
    pixels = np.concatenate([colour_pixels(c, 10, seed=1000 + i) for i, c in enumerate(names)])
    labels = np.repeat(np.arange(4), 10)
    # Fresh images, and prompts no caption used ("a photo of a red."): chance is 25%.
    assert zero_shot_accuracy(model, tokenizer, pixels, labels, names) >= 0.9


def test_towers_start_from_unimodal_checkpoints_with_their_weights(tmp_path, pairs):
    images = tmp_path / "images"
    np.savez(tmp_path / "squares.npz", x=np.concatenate([colour_pixels(c, 30, i) for i, c in enumerate(COLOURS)]))
    assert run_cli("prepare", "images", tmp_path / "squares.npz", "--out", images, "--no-progress")[0] == 0
    (tmp_path / "simclr.yaml").write_text(f"""
run_dir: {tmp_path / 'simclr'}
data: {{path: {images}}}
model: {IMAGE}
objective: {{name: simclr, projection_dim: 8, projection_hidden_dim: 16, blur_p: 0.0}}
train: {{steps: 2, batch_size: 16, lr: 1.0e-3, eval_every: 2, eval_batches: 1}}
""")
    assert run_cli("pretrain", tmp_path / "simclr.yaml")[0] == 0
    captions = tmp_path / "captions.txt"
    captions.write_text("\n".join(PHRASES[i % 5].format(c) for i, c in enumerate(list(COLOURS) * 10)) + "\n")
    text_data = tmp_path / "text"
    assert run_cli("prepare", "text", captions, "--out", text_data, "--doc-unit", "line", "--workers", "0",
                   "--vocab-size", "300", "--val-fraction", "0.3")[0] == 0  # 20 short captions: val needs 8 tokens
    (tmp_path / "mlm.yaml").write_text(f"""
run_dir: {tmp_path / 'mlm'}
data: {{path: {text_data}, seq_len: 8}}
model: {{preset: bert-nano, n_layer: 1, n_head: 2, d_model: 32, context_length: 8}}
objective: {{name: masked_lm}}
train: {{steps: 2, batch_size: 8, lr: 1.0e-3, eval_every: 2, eval_batches: 1}}
""")
    assert run_cli("pretrain", tmp_path / "mlm.yaml")[0] == 0
    towers = f"{{image_init: {tmp_path / 'simclr'}, text_init: {tmp_path / 'mlm'}, embed_dim: 16}}"

    # The pairs were prepared with their own tokenizer: the text tower cannot read them.
    with pytest.raises(HeadstartError, match="another tokenizer.*prepare the pairs with --tokenizer"):
        build_setup(load_pretrain_config(clip_config(tmp_path, pairs, model=towers, name="wrong")))

    reused = tmp_path / "pairs-mlm-tokens"
    assert run_cli("prepare", "pairs", pairs.parent / "colours.tar", "--out", reused, "--size", "12",
                   "--caption-len", "8", "--tokenizer", text_data, "--no-progress")[0] == 0
    setup = build_setup(load_pretrain_config(clip_config(tmp_path, reused, model=towers, name="init")))
    model = setup.objective.model
    image_weights = load_file(str(next((tmp_path / "simclr" / "checkpoints").glob("step_*")) / "model.safetensors"))
    text_weights = load_file(str(next((tmp_path / "mlm" / "checkpoints").glob("step_*")) / "model.safetensors"))
    assert all(torch.equal(model.image.state_dict()[k], v) for k, v in image_weights.items())
    assert all(torch.equal(model.text.state_dict()[k], v) for k, v in text_weights.items())
    assert setup.run_config["model"]["initialised_from"] == {"image": str(tmp_path / "simclr"),
                                                            "text": str(tmp_path / "mlm")}


def test_the_image_tower_loads_and_fine_tunes_as_an_image_model(tmp_path, pairs):
    assert run_cli("pretrain", clip_config(tmp_path, pairs, steps=4))[0] == 0
    tower, checkpoint, _ = load_image_model(tmp_path / "clip")
    whole, *_ = load_dual_encoder(tmp_path / "clip")
    assert all(torch.equal(tower.state_dict()[k], v) for k, v in whole.image.state_dict().items())
    names = list(COLOURS)
    np.savez(tmp_path / "task.npz", x=np.concatenate([colour_pixels(c, 20, 50 + i) for i, c in enumerate(names)]),
             y=np.repeat(np.arange(4), 20))
    assert run_cli("prepare", "images", tmp_path / "task.npz", "--out", tmp_path / "task", "--no-progress")[0] == 0
    (tmp_path / "ft.yaml").write_text(f"""
run_dir: {tmp_path / 'ft'}
init: {tmp_path / 'clip'}
task: {{train: {tmp_path / 'task'}}}
train: {{steps: 3, batch_size: 8, warmup_steps: 0, eval_every: 3}}
""")
    code, out = run_cli("finetune", tmp_path / "ft.yaml")
    assert code == 0, out
    assert json.loads((tmp_path / "ft" / "results.json").read_text())["val"]["accuracy"] >= 0


def test_image_text_config_mistakes_are_one_line_errors(tmp_path, pairs):
    cases = [("{image: {preset: gpt-nano}}", "model.image.preset: unknown image preset 'gpt-nano'"),
             ("{text: {preset: vit-nano}}", "model.text.preset: unknown text preset 'vit-nano'"),
             ("{image: {preset: resnet-tiny}, image_init: somewhere}", "model.image and model.image_init: give one"),
             ("{embed_dims: 8}", "model.embed_dims")]
    for model, message in cases:
        code, out = run_cli("pretrain", clip_config(tmp_path, pairs, model=model))
        assert code == 2 and message in out and "Traceback" not in out, out
    (tmp_path / "images.yaml").write_text(f"run_dir: {tmp_path / 'x'}\ndata: {{path: {pairs}}}\n"
                                          f"objective: {{name: simclr}}\ntrain: {{steps: 1, batch_size: 4, lr: 1.0e-3}}\n")
    code, out = run_cli("pretrain", tmp_path / "images.yaml")
    assert code == 2 and "holds pairs" in out and "use clip or siglip" in out, out


def test_the_cc12m_shard_trains_end_to_end_and_reports_retrieval_on_its_32_pairs(tmp_path):
    shard = shared("cc12m/cc12m-train-0000.tar")
    assert run_cli("prepare", "pairs", shard, "--out", tmp_path / "cc12m", "--size", "32", "--val-fraction", "0",
                   "--no-progress")[0] == 0
    code, out = run_cli("pretrain", clip_config(tmp_path, tmp_path / "cc12m", steps=30))
    assert code == 0, out
    first, last = read_metrics(tmp_path / "clip", "val")[0], read_metrics(tmp_path / "clip", "val")[-1]
    assert last["loss"] < first["loss"]
    # Retrieval over all 32 pairs (the shard has no val split): after 30 steps on them, better than chance (1/32).
    assert last["i2t_R@1"] > 1 / 32 and last["t2i_R@10"] > 10 / 32


@pytest.mark.slow
def test_compare_reports_zero_shot_retrieval_and_the_pretraining_curves_of_two_runs(tmp_path, pairs):
    assert run_cli("pretrain", clip_config(tmp_path, pairs, steps=40, name="clip"))[0] == 0
    assert run_cli("pretrain", clip_config(tmp_path, pairs, steps=40, name="reference",
                                           model=f"{{image: {IMAGE}, text: {TEXT}, embed_dim: 8}}"))[0] == 0
    for split, seed in (("train", 0), ("test", 1)):  # class folders named by colour: the class names
        for i, colour in enumerate(COLOURS):
            folder = tmp_path / f"{split}-images" / colour
            folder.mkdir(parents=True)
            for n, pixels in enumerate(colour_pixels(colour, 10, 100 * seed + i)):
                Image.fromarray(pixels).save(folder / f"{n}.png")
        assert run_cli("prepare", "images", tmp_path / f"{split}-images", "--out", tmp_path / split, "--size", "12",
                       "--val-fraction", "0", "--no-progress")[0] == 0
    (tmp_path / "compare.yaml").write_text(f"""
run_dir: {tmp_path / 'compare'}
pretrained: {tmp_path / 'clip'}
pretraining_reference: {tmp_path / 'reference'}
task: {{train: {tmp_path / 'train'}, test: {tmp_path / 'test'}}}
budgets: [8]
seeds: [0]
baseline: false
train: {{steps: 3, batch_size: 8, warmup_steps: 0, eval_every: 3}}
""")
    code, out = run_cli("compare", tmp_path / "compare.yaml")
    assert code == 0, out
    report = json.loads((tmp_path / "compare" / "report" / "report.json").read_text())
    assert report["zero_shot"]["class_names"] == sorted(COLOURS) and report["zero_shot"]["n"] == 40
    assert report["zero_shot"]["accuracy"] >= 0.75  # chance: 25%
    assert set(report["retrieval"]) >= {"step", "i2t_R@1", "t2i_R@10"} and report["retrieval"]["step"] == 40
    curves = report["pretraining_curves"]
    assert len(curves["curves"]) == 2 and set(curves["steps_to_target"]) == set(curves["curves"])
    html = (tmp_path / "compare" / "report" / "report.html").read_text()
    assert "Zero-shot (no labels)" in html and "Pre-training curves (clip)" in html and "image → text" in html


def test_the_example_cc12m_config_runs_from_the_command_line(tmp_path):
    from pathlib import Path

    shard = shared("cc12m/cc12m-train-0000.tar")
    assert run_cli("prepare", "pairs", shard, "--out", tmp_path / "cc12m", "--size", "64", "--val-fraction", "0",
                   "--no-progress")[0] == 0
    config = Path(__file__).resolve().parents[1] / "configs" / "cc12m-clip.yaml"
    code, out = run_cli("pretrain", config, "--set", f"data.path={tmp_path / 'cc12m'}", "--set",
                        f"run_dir={tmp_path / 'run'}", "--set", "train.steps=2", "--set", "train.warmup_steps=1")
    assert code == 0, out
    assert {"i2t_R@1", "t2i_R@10"} <= set(read_metrics(tmp_path / "run", "val")[-1])
