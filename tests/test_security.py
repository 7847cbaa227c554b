"""Security (issue #8): no pickle is ever loaded, and archives cannot place anything outside where
they are read.  Reports and the network are in test_security_reports_offline.py.

Each attack is real: the malicious pickle creates a marker file when unpickled (the test first checks
that it does), the hostile strings would run script if they reached the page as markup, and the network
guard refuses a connection it is shown (checked before the run it watches).
"""
from __future__ import annotations

import ast
import json
import pickle
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from headstart.errors import HeadstartError

from cli_checks import (compare_config, edit_state, finetune_config, headstart, last_checkpoint,  # noqa: F401
                        one_line_error, project, replace_in_checkpoint, succeeded)
from helpers import write
from test_pairs_prepare import COLOURS, add, png
from test_pretrain_cli import write_config

PACKAGE = Path(sys.modules["headstart"].__file__).parent


# ---- no pickle on any load path ------------------------------------------------------------------

class Payload:
    """Unpickling this creates ``marker``: the proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "PICKLE-WAS-EXECUTED"


@pytest.fixture
def payload(marker) -> bytes:
    """A live malicious pickle: the fixture proves it creates the marker, then removes the marker."""
    data = pickle.dumps(Payload(marker))
    pickle.loads(data)  # noqa: S301 - the point: this is what loading it would do
    assert marker.exists()
    marker.unlink()
    return data


# Where other tools keep pickles (PyTorch, Hugging Face Trainer, Lightning): a checkpoint folder copied
# from elsewhere may hold any of them, and none may be read.
STRAY_PICKLES = ("pytorch_model.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin",
                 "model.ckpt", "model.pt", "model.pkl")


def with_stray_pickles(checkpoint: Path, payload: bytes) -> None:
    for name in STRAY_PICKLES:
        (checkpoint / name).write_bytes(payload)


def load_paths(project, run: Path, tmp_path: Path):
    """Every command that loads a checkpoint a user names, as (name, argv)."""
    continued = tmp_path / "continue.yaml"
    continued.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "continued"), "init": str(run),
                                         "data": {"path": str(project.data)},
                                         "train": {"steps": 1, "batch_size": 2, "lr": 1e-3, "eval_every": 1,
                                                   "eval_batches": 1}}))
    return [
        ("finetune init", ["finetune", finetune_config(tmp_path, run, project.train)]),
        ("generate", ["generate", run, "--max-new-tokens", "3"]),
        ("rank", ["rank", run, "--train", project.train, "--max-examples", "20"]),
        ("pretrain init", ["pretrain", continued]),
    ]


def test_stray_pickles_in_a_checkpoint_are_never_read(headstart, project, tmp_path, payload, marker):
    run = shutil.copytree(project.run, tmp_path / "run")
    with_stray_pickles(last_checkpoint(run), payload)
    for name, argv in load_paths(project, run, tmp_path):
        succeeded(headstart(*argv))
        assert not marker.exists(), f"{name} executed a pickle"
    from headstart.text.pretrained import load_text_model
    load_text_model(run)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch.save zip", "plain pickle"])
def test_weights_replaced_by_a_pickle_are_refused_on_every_load_path(headstart, project, tmp_path, payload, marker,
                                                                     kind):
    import torch

    if kind == "torch.save zip":  # what `torch.save(model.state_dict())` writes, with a payload inside
        torch.save({"tok_emb.weight": Payload(marker)}, tmp_path / "weights.pt")
        torch.load(tmp_path / "weights.pt", weights_only=False)  # live: this is what an unsafe load does
        assert marker.exists()
        marker.unlink()
        payload = (tmp_path / "weights.pt").read_bytes()
    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    replace_in_checkpoint(checkpoint, "model.safetensors", payload)
    with_stray_pickles(checkpoint, payload)
    for name, argv in load_paths(project, run, tmp_path):
        line = one_line_error(headstart(*argv), "model.safetensors")
        assert "unreadable" in line, line
        assert not marker.exists(), f"{name} executed a pickle"
    one_line_error(headstart("compare", compare_config(tmp_path, run, project.train, project.test, budgets=["all"], seeds=[0],
                                                         train={"steps": 1, "warmup_steps": 0})), "model.safetensors")
    assert not marker.exists()


def record_of_kind(kind: str, text_model: dict) -> dict:
    """A state.json model record of another kind, so each modality's loader reaches the weights."""
    from headstart.audio.pretrained import audio_model_record
    from headstart.models import TextTransformer, TransformerConfig
    from headstart.models.audio_encoder import audio_config
    from headstart.models.dual_encoder import DualEncoder
    from headstart.models.vision_presets import build_vision_model, vision_config, vision_model_record

    image = vision_config("resnet-tiny", image_size=8, channels=1)
    if kind == "image":
        return vision_model_record(image)
    if kind == "audio":
        return audio_model_record(audio_config("audio-tiny", n_mels=8))
    return DualEncoder(build_vision_model("resnet-tiny", image_size=8, channels=1),
                       TextTransformer(TransformerConfig(**text_model)), 16).record()


@pytest.mark.parametrize("loader", ["text", "image", "audio", "image-text"])
def test_every_model_loader_refuses_weights_that_are_a_pickle(project, tmp_path, payload, marker, loader):
    from headstart.audio.pretrained import load_audio_model
    from headstart.pairs.pretrained import load_dual_encoder
    from headstart.text.pretrained import load_text_model
    from headstart.vision.pretrained import load_image_model

    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    if loader != "text":
        edit_state(checkpoint, lambda state: state["config"].update(
            model=record_of_kind(loader, state["config"]["model"])))
    replace_in_checkpoint(checkpoint, "model.safetensors", payload)
    load = {"text": load_text_model, "image": load_image_model, "audio": load_audio_model,
            "image-text": load_dual_encoder}[loader]
    with pytest.raises(HeadstartError, match=r"model\.safetensors: unreadable"):
        load(checkpoint)
    assert not marker.exists()


def test_resuming_from_a_checkpoint_holding_a_pickle_is_refused(headstart, project, tmp_path, payload, marker):
    config = write_config(tmp_path, project.data, "causal_lm", steps=3)
    succeeded(headstart("pretrain", config))
    checkpoint = last_checkpoint(tmp_path / "run-causal_lm")
    with_stray_pickles(checkpoint, payload)
    state = (checkpoint / "state.json").read_bytes()
    for name in ("model.safetensors", "optimizer.safetensors", "rng.safetensors"):
        original = (checkpoint / name).read_bytes()
        replace_in_checkpoint(checkpoint, name, payload)
        one_line_error(headstart("pretrain", config, "--resume", "--set", "train.steps=4"), name)
        assert not marker.exists(), f"resuming read {name} as a pickle"
        (checkpoint / name).write_bytes(original)  # the checkpoint as it was, for the next file
        (checkpoint / "state.json").write_bytes(state)
    # With the safetensors files intact, the stray pickles beside them are ignored: the run resumes.
    assert "finished at step 4" in succeeded(headstart("pretrain", config, "--resume", "--set", "train.steps=4")).out
    assert not marker.exists()


def test_a_state_json_replaced_by_a_pickle_is_one_line(headstart, project, tmp_path, payload, marker):
    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    (checkpoint / "state.json").write_bytes(payload)
    try:
        one_line_error(headstart("generate", checkpoint, "--max-new-tokens", "2"), "state.json")
    finally:
        assert not marker.exists()


def test_an_optimizer_json_replaced_by_a_pickle_is_one_line(headstart, project, tmp_path, payload, marker):
    config = write_config(tmp_path, project.data, "causal_lm", steps=3)
    succeeded(headstart("pretrain", config))
    checkpoint = last_checkpoint(tmp_path / "run-causal_lm")
    replace_in_checkpoint(checkpoint, "optimizer.json", payload)
    try:
        one_line_error(headstart("pretrain", config, "--resume", "--set", "train.steps=4"), "optimizer.json")
    finally:
        assert not marker.exists()


def test_a_hugging_face_directory_with_pickled_weights_is_refused_not_loaded(headstart, tmp_path, payload, marker):
    source = tmp_path / "gpt2"
    write(source / "config.json", json.dumps({"model_type": "gpt2", "vocab_size": 16, "n_positions": 8,
                                              "n_layer": 1, "n_head": 2, "n_embd": 8}))
    (source / "pytorch_model.bin").write_bytes(payload)  # how most of the hub's older models ship
    one_line_error(headstart("import", source, "--out", tmp_path / "run"), "pytorch_model.bin", "loads no pickle")
    (source / "model.safetensors").write_bytes(payload)  # a pickle under the safe name
    one_line_error(headstart("import", source, "--out", tmp_path / "run"), "model.safetensors: unreadable")
    assert not marker.exists() and not (tmp_path / "run").exists()


# ---- the source itself: no way to load a pickle -------------------------------------------------

PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}
FORBIDDEN_CALLS = {"pickle.load", "pickle.loads", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
                   "yaml.load_all", "yaml.unsafe_load_all", "pd.read_pickle", "pandas.read_pickle",
                   "torch.hub.load", "shutil.unpack_archive"}
NEEDS_KEYWORD = {"torch.load": ("weights_only", True), "np.load": ("allow_pickle", False),
                 "numpy.load": ("allow_pickle", False)}


def unsafe_loading(source: str, where: str = "<source>") -> list[str]:
    """What in ``source`` could load a pickle or unpack an archive to disk, as "where:line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{at}: import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in PICKLE_MODULES:
                found.append(f"{at}: from {node.module} import")
            if node.module in ("torch", "numpy") and any(a.name == "load" for a in node.names):
                found.append(f"{at}: from {node.module} import load")  # a bare load() the checks below miss
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in FORBIDDEN_CALLS or name.endswith((".extractall", ".extract")):
                found.append(f"{at}: {name}()")
            elif name in NEEDS_KEYWORD:
                keyword, value = NEEDS_KEYWORD[name]
                given = {k.arg: k.value for k in node.keywords}
                if not (isinstance(given.get(keyword), ast.Constant) and given[keyword].value is value):
                    found.append(f"{at}: {name}() without {keyword}={value}")
    return found


def test_the_scan_finds_each_way_of_loading_a_pickle():
    # So that an empty result below means "none there", not "the scan sees nothing".
    source = ("import pickle\nfrom joblib import load\nfrom torch import load\nimport torch, numpy as np, yaml\n"
              "torch.load(f)\ntorch.load(f, weights_only=False)\nnp.load(p)\nnp.load(p, allow_pickle=True)\n"
              "yaml.load(s)\ntar.extractall(d)\n"
              "torch.load(f, weights_only=True)\nnp.load(p, allow_pickle=False)\nyaml.safe_load(s)\n")
    assert len(unsafe_loading(source)) == 9


def test_no_module_can_load_a_pickle_or_unpack_an_archive():
    found = [problem for path in sorted(PACKAGE.rglob("*.py"))
             for problem in unsafe_loading(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert found == []


# Modules that open archives, and the test here that covers each: a new archive reader must join them.
ARCHIVE_READERS = {"headstart/pairs/readers.py": "tarfile",  # WebDataset shards: test_tar_members_...
                   "headstart/vision/readers.py": "zipfile",  # .npz, opened by NumPy: test_npz_members_...
                   "headstart/vision/idx.py": "gzip"}  # one compressed stream, no member names


def test_every_archive_reader_is_one_these_tests_cover():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                if name.split(".")[0] in ("tarfile", "zipfile", "gzip", "bz2", "lzma", "py7zr", "rarfile"):
                    found[str(path.relative_to(PACKAGE.parent))] = name
    assert found == ARCHIVE_READERS


# ---- archives cannot reach outside ---------------------------------------------------------------

def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_tar_members_that_would_escape_are_skipped_counted_and_never_followed(headstart, tmp_path, caplog):
    outside = tmp_path / "outside"
    secret = write(outside / "secret.png", png(COLOURS["green"], seed=99))  # what a link would point at
    shard = tmp_path / "shards" / "evil.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for n, colour in enumerate(list(COLOURS) * 2):
            add(tar, f"{n:03d}.png", png(COLOURS[colour], seed=n))
            add(tar, f"{n:03d}.txt", f"a {colour} square".encode())
        unsafe = [(str(outside / "absolute.png"), {}),  # an absolute path
                  (str(outside / "absolute.txt"), {}),
                  ("../../outside/climb.png", {}),  # `..` at the start
                  ("deep/../../outside/climb.txt", {}),  # `..` in the middle
                  ("C:/Windows/evil.png", {}),  # a Windows drive
                  ("symlink.png", {"type": tarfile.SYMTYPE, "linkname": str(secret)}),  # links out
                  ("hardlink.png", {"type": tarfile.LNKTYPE, "linkname": "../outside/secret.png"}),
                  ("fifo.png", {"type": tarfile.FIFOTYPE}), ("device.png", {"type": tarfile.CHRTYPE})]
        for name, kind in unsafe:
            data = b"" if kind else png(COLOURS["red"]) if name.endswith(".png") else b"escaped"
            add(tar, name, data, **kind)
        add(tar, "symlink.txt", b"the caption of a linked image")
        add(tar, "hardlink.txt", b"the caption of a hard-linked image")
    before = files_under(tmp_path)

    result = succeeded(headstart("prepare", "pairs", shard, "--out", tmp_path / "pairs", "--size", "8",
                                 "--val-fraction", "0", "--max-bad-fraction", "1", "--no-progress"))
    stats = json.loads((tmp_path / "pairs" / "manifest.json").read_text())["stats"]
    assert stats["kept"] == 8
    # The links' own captions are left without an image: the link was never followed to secret.png.
    assert stats["skipped_by_reason"] == {"unsafe_member": len(unsafe), "missing_image": 2}
    assert f"{len(unsafe)} unsafe_member" in result.out
    assert f"skipping evil.tar:{outside / 'absolute.png'}: unsafe_member (an absolute path)" in caplog.text
    # Nothing was written anywhere but the output folder.
    assert files_under(tmp_path) - before == files_under(tmp_path / "pairs") | {tmp_path / "pairs"}
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]


def test_npz_members_named_to_escape_are_only_names(headstart, tmp_path):
    # NumPy reads .npz members into memory by name; a hostile name writes nothing anywhere.
    archive = tmp_path / "in" / "evil.npz"
    archive.parent.mkdir()
    member = tmp_path / "member.npy"
    np.save(member, np.zeros((2, 4, 4), np.uint8))
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("../../escaped.npy"), member.read_bytes())
        zf.writestr(zipfile.ZipInfo(str(tmp_path / "absolute.npy")), member.read_bytes())
    before = files_under(tmp_path)
    one_line_error(headstart("prepare", "images", archive, "--out", tmp_path / "out"), str(archive), "no array 'x'")
    assert files_under(tmp_path) == before
