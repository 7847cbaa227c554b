"""The bad-input catalogue (issue #8): each way a user's input can be wrong, given to the `headstart`
command as a user would give it, and what the user gets back.

The rule (headstart/errors.py): a problem with the input is one line on stderr, ``error: ...``, naming
the file, line, key or value at fault, with exit status 2 and never a traceback.  Where the documented
policy is to skip and count instead (unreadable images and sound files; text files under
``--on-bad-file skip``), the entry checks the count and the log line that names the file.

Several entries are tested in more depth beside the module that owns the behaviour (test_prepare_text,
test_labeled_text, test_config, ...); here each is one row of the user-facing checklist.  The property
tests (test_bad_input_properties.py) feed the config parser and the data readers arbitrary input.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from headstart.text.tokenizer import build_char_tokenizer

from cli_checks import (compare_config, edit_state, finetune_config, headstart, last_checkpoint,  # noqa: F401
                        one_line_error, project, replace_in_checkpoint, set_key, succeeded)
from helpers import shared, write
from test_audio_prepare import tone
from test_pairs_prepare import COLOURS, png
from test_pretrain_cli import CORPUS, write_config



# ---- 1. an empty corpus --------------------------------------------------------------------------

def _empty_tar(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tarfile.open(path, "w").close()


@pytest.mark.parametrize("kind, make, message", [
    ("text", lambda d: d.mkdir(), "no input files found in"),
    ("text", lambda d: write(d / "empty.txt", b""), "no documents left to write from"),
    ("text", lambda d: write(d / "blank.txt", " \n\n\t\n"), "no documents left to write from"),
    ("images", lambda d: d.mkdir(), "no images"),
    ("audio", lambda d: d.mkdir(), "no sound files"),
    ("pairs", lambda d: d.mkdir(), "no .tar, .csv, .tsv or .jsonl files in"),
    ("pairs", lambda d: _empty_tar(d / "empty.tar"), "no usable image-caption pair in"),
], ids=["text: empty folder", "text: empty file", "text: blank file", "images: empty folder",
        "audio: empty folder", "pairs: empty folder", "pairs: empty shard"])
def test_an_empty_corpus_is_one_line_naming_it(headstart, tmp_path, kind, make, message):
    corpus = tmp_path / "corpus"
    make(corpus)
    one_line_error(headstart("prepare", kind, corpus, "--out", tmp_path / "out"), message, str(corpus))
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_an_empty_labeled_file_is_one_line_naming_it(headstart, project, tmp_path):
    empty = write(tmp_path / "train.tsv", "text\tlabel\n")  # a header and nothing else
    assert f"{empty}: no labeled examples" in one_line_error(
        headstart("finetune", finetune_config(tmp_path, project.run, empty)))


# ---- 2, 3. a binary file, invalid UTF-8 ----------------------------------------------------------

BAD_TEXT_FILES = {  # id: (file name, content, what the error line says)
    "binary": ("notes.txt", bytes(range(256)), "notes.txt:1: binary data (NUL byte) in a text file"),
    "invalid utf-8": ("menu.txt", "Deux caf\xe9s.\n".encode("latin-1"),
                      "menu.txt:1: invalid utf-8 (byte 0xe9 at column 9); if the file is Latin-1, pass "
                      "--encoding latin-1"),
    "invalid utf-8 in JSON Lines": ("docs.jsonl", b'{"text": "fine"}\n{"text": "caf\xe9"}\n',
                                    "docs.jsonl:2: invalid utf-8 (byte 0xe9 at column 14)"),
}


def corpus_with(folder: Path, name: str, content: bytes) -> Path:
    """A corpus folder: readable text, a photo (not a text suffix: never read) and the bad file."""
    write(folder / "good.txt", CORPUS)
    write(folder / "photo.png", png(COLOURS["red"]))
    return write(folder / name, content)


@pytest.mark.parametrize("name, content, message", list(BAD_TEXT_FILES.values()), ids=list(BAD_TEXT_FILES))
def test_a_bad_text_file_stops_prepare_with_one_line_naming_file_and_line(headstart, tmp_path, name, content,
                                                                           message):
    bad = corpus_with(tmp_path / "corpus", name, content)
    line = one_line_error(headstart("prepare", "text", tmp_path / "corpus", "--out", tmp_path / "out",
                                    "--tokenizer", "char", "--workers", "0"), message)
    assert str(bad) in line


@pytest.mark.parametrize("name, content, message", list(BAD_TEXT_FILES.values()), ids=list(BAD_TEXT_FILES))
def test_with_on_bad_file_skip_a_bad_text_file_is_skipped_counted_and_logged(headstart, tmp_path, caplog, name,
                                                                              content, message):
    bad = corpus_with(tmp_path / "corpus", name, content)
    result = succeeded(headstart("prepare", "text", tmp_path / "corpus", "--out", tmp_path / "out",
                                 "--tokenizer", "char", "--workers", "0", "--on-bad-file", "skip"))
    assert f"skipped 1 unreadable file(s): {bad}" in result.out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stats"]["skipped_files"] == [str(bad)]
    assert manifest["inputs"] == [str(tmp_path / "corpus" / "good.txt")]  # the photo was never read
    assert f"skipping {bad}: " in caplog.text and message in caplog.text


def test_an_invalid_utf8_labeled_file_names_line_byte_and_the_config_key(headstart, project, tmp_path):
    train = write(tmp_path / "train.tsv", "text\tlabel\nfine\t1\ncaf\xe9 noir\t0\n".encode("latin-1"))
    line = one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, train)))
    assert f"{train}:3: invalid utf-8 (byte 0xe9 at column 4)" in line and "task.encoding in a finetune config" in line


# ---- 4. Latin-1 TREC -----------------------------------------------------------------------------

TOPICS = [("0", "how things work"), ("1", "films and books"), ("4", "cities")]
TREC_LINES = [  # TREC's label-first format; line 3 holds TREC.train.all's one Latin-1 byte
    "0 How did serfdom develop in and then leave Russia ?",
    "1 What films featured the character Popeye Doyle ?",
    "4 Which city has the oldest relationship as a sister\xf0city with Los Angeles ?",
] + [f"{TOPICS[i % 3][0]} Question {i} about {TOPICS[i % 3][1]} ?" for i in range(30)]


def test_latin1_trec_is_named_with_the_fix_and_reads_with_encoding_latin1(headstart, project, tmp_path):
    trec = write(tmp_path / "TREC.train.all", "\n".join(TREC_LINES).encode("latin-1") + b"\n")
    fix = "if the file is Latin-1, pass --encoding latin-1"
    where = f"{trec}:3: invalid utf-8 (byte 0xf0 at column 53)"

    prepare = ("prepare", "text", trec, "--tokenizer", "char", "--workers", "0", "--doc-unit", "line", "--out")
    one_line_error(headstart(*prepare, tmp_path / "p1"), where, fix)
    succeeded(headstart(*prepare, tmp_path / "p2", "--encoding", "latin-1"))

    config = finetune_config(tmp_path, project.run, trec)
    one_line_error(headstart("finetune", config), where, fix, "task.encoding in a finetune config")
    succeeded(headstart("finetune", config, "--set", "task.encoding=latin-1"))

    one_line_error(headstart("rank", project.run, "--train", trec), where, fix)
    assert "LogME" in succeeded(headstart("rank", project.run, "--train", trec, "--encoding", "latin-1")).out


def test_the_real_trec_is_latin1(headstart, tmp_path):
    trec = shared("trec/TREC.train.all")
    prepare = ("prepare", "text", trec, "--tokenizer", "char", "--workers", "0", "--doc-unit", "line", "--out")
    one_line_error(headstart(*prepare, tmp_path / "utf8"), f"{trec}:66: invalid utf-8 (byte 0xf0",
                   "--encoding latin-1")
    assert "5,452 read" in succeeded(headstart(*prepare, tmp_path / "latin1", "--encoding", "latin-1")).out


# ---- 5. a corrupt image --------------------------------------------------------------------------

def image_folder_with_a_corrupt_file(folder: Path) -> Path:
    for i in range(3):
        write(folder / f"good_{i}.png", png(list(COLOURS.values())[i], seed=i))
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    whole = io.BytesIO()
    Image.fromarray(noise).save(whole, format="PNG")
    return write(folder / "cut.png", whole.getvalue()[: len(whole.getvalue()) // 2])  # a download cut short


def test_a_corrupt_image_is_skipped_counted_and_logged(headstart, tmp_path, caplog):
    cut = image_folder_with_a_corrupt_file(tmp_path / "photos")
    result = succeeded(headstart("prepare", "images", tmp_path / "photos", "--out", tmp_path / "out", "--size", "8",
                                 "--max-bad-fraction", "0.5", "--no-progress"))
    assert "4 found, 3 kept" in result.out and f"skipped 1 unreadable image(s): {cut} (" in result.out
    stats = json.loads((tmp_path / "out" / "manifest.json").read_text())["stats"]
    assert stats["skipped"] == 1 and stats["skipped_files"][0]["file"] == str(cut)
    assert f"skipping {cut}: " in caplog.text


def test_corrupt_images_past_max_bad_fraction_are_one_line_naming_them(headstart, tmp_path):
    image_folder_with_a_corrupt_file(tmp_path / "photos")
    one_line_error(headstart("prepare", "images", tmp_path / "photos", "--out", tmp_path / "out", "--size", "8"),
                   "more than 1.0% of the 4 images are unreadable", "cut.png", "raise max_bad_fraction")
    assert not (tmp_path / "out").exists()


# ---- 6. a corrupt WAV ----------------------------------------------------------------------------

def sound_folder_with_corrupt_files(folder: Path) -> tuple[Path, Path]:
    for i in range(3):
        tone(folder / f"good_{i}.wav", hz=300 + 100 * i)
    header = bytearray(tone(folder.parent / "whole.wav").read_bytes())
    header[8:16] = b"GARBAGE!"  # where "WAVEfmt " belongs
    corrupt = write(folder / "corrupt.wav", bytes(header))
    empty = write(folder / "empty.wav", b"")
    return corrupt, empty


def test_a_corrupt_wav_is_skipped_counted_and_logged(headstart, tmp_path, caplog):
    corrupt, empty = sound_folder_with_corrupt_files(tmp_path / "clips")
    result = succeeded(headstart("prepare", "audio", tmp_path / "clips", "--out", tmp_path / "out", "--n-mels", "16",
                                 "--max-bad-fraction", "0.5", "--no-progress"))
    assert "5 found, 3 kept" in result.out and "skipped 2 file(s): 1 unreadable, 1 empty" in result.out
    skipped = json.loads((tmp_path / "out" / "manifest.json").read_text())["stats"]["skipped_files"]
    assert {(entry["file"], entry["reason"]) for entry in skipped} == {(str(corrupt), "unreadable"),
                                                                      (str(empty), "empty")}
    assert f"skipping {corrupt}: unreadable" in caplog.text and f"skipping {empty}: empty" in caplog.text


def test_corrupt_wavs_past_max_bad_fraction_are_one_line_naming_them(headstart, tmp_path):
    sound_folder_with_corrupt_files(tmp_path / "clips")
    one_line_error(headstart("prepare", "audio", tmp_path / "clips", "--out", tmp_path / "out"),
                   "of the 5 sound files cannot be used", "corrupt.wav: unreadable", "raise max_bad_fraction")
    assert not (tmp_path / "out").exists()


# ---- 7, 8. an unknown config key, a value of the wrong type --------------------------------------

def configs_of(project, folder: Path) -> dict[str, dict]:
    """A valid config of each command that takes one."""
    return {"pretrain": yaml.safe_load(project.config.read_text()),
            "finetune": yaml.safe_load(finetune_config(folder, project.run, project.train).read_text()),
            "compare": yaml.safe_load(compare_config(folder, project.run, project.train, project.test).read_text())}


CONFIG_MISTAKES = [  # (command, key, value, what the line says)
    # unknown keys
    ("pretrain", "train.batchsize", 8, "train.batchsize: unknown key (did you mean batch_size?)"),
    ("pretrain", "trian", {"steps": 3}, "trian: unknown key (did you mean train?)"),
    ("pretrain", "model.n_layers", 2, "model.n_layers: unknown key (did you mean n_layer?)"),
    ("pretrain", "objective.mask_prb", 0.2, "objective.mask_prb: unknown key (did you mean mask_prob?)"),
    ("finetune", "task.lable_field", "y", "task.lable_field: unknown key (did you mean label_field?)"),
    ("finetune", "strategy.lora_rnk", 2, "strategy.lora_rnk: unknown key (did you mean lora_rank?)"),
    ("compare", "budget", [10], "budget: unknown key (did you mean budgets?)"),
    # wrong types
    ("pretrain", "train.steps", "many", "train.steps: input should be a valid integer"),
    ("pretrain", "train.lr", [1, 2], "train.lr: input should be a valid number"),
    ("pretrain", "data", "data/x", "data: input should be a valid dictionary"),
    ("pretrain", "model.preset", ["gpt-nano"], "model.preset: expected the name of a preset, got ['gpt-nano']"),
    ("finetune", "task.budget", "lots", "task.budget: input should be a valid integer"),
    ("finetune", "model", {"preset": {"gpt": "nano"}}, "model.preset: expected the name of a preset"),
    ("compare", "seeds", 0, "seeds: input should be a valid list"),
]


@pytest.mark.parametrize("command, key, value, message", CONFIG_MISTAKES,
                         ids=[f"{c}: {k}={v!r}" for c, k, v, _ in CONFIG_MISTAKES])
def test_a_config_mistake_is_one_line_naming_file_and_key(headstart, project, tmp_path, command, key, value,
                                                          message):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(set_key(configs_of(project, tmp_path)[command], key, value)))
    line = one_line_error(headstart(command, config))
    assert line.startswith(f"error: {config}: ") and message in line


def test_a_mistyped_set_override_is_named_like_a_key_in_the_file(headstart, project):
    assert "train.bacth_size: unknown key (did you mean batch_size?)" in one_line_error(
        headstart("pretrain", project.config, "--set", "train.bacth_size=4"))
    assert "train.warmup_steps: input should be a valid integer" in one_line_error(
        headstart("pretrain", project.config, "--set", "train.warmup_steps=soon"))


@pytest.mark.parametrize("content, message", [
    ("- run_dir: x\n- train: {}\n", "a config must be a mapping of keys to values"),
    ("run_dir: x\ntrain:\n  steps: 1: 2\n", "config.yaml:3: not valid YAML"),
    ("run_dir: x\x07\n", "not valid YAML (unacceptable character #x0007"),
    ("run_dir: caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 12)"),
    (bytes(range(256)), "not UTF-8 text (byte 0x80"),
], ids=["a list", "broken YAML", "a control character", "Latin-1", "binary"])
def test_a_config_file_that_is_not_a_yaml_mapping_is_one_line(headstart, tmp_path, content, message):
    config = write(tmp_path / "config.yaml", content)
    for command in ("pretrain", "finetune", "compare"):
        line = one_line_error(headstart(command, config))
        assert str(config) in line and message in line


# ---- 9, 10. a missing label column, a label unseen in training -----------------------------------

@pytest.mark.parametrize("name, content, field, message", [
    ("train.tsv", "text\tsentiment\nfine\t1\n", None,
     "train.tsv:1: no column 'label' (columns: 'text', 'sentiment')"),
    ("train.csv", "sentence,label\nfine,1\n", None, "train.csv:1: no column 'text' (columns: 'sentence', 'label')"),
    ("train.jsonl", '{"text": "fine", "stars": 5}\n', None,
     "train.jsonl:1: no field 'label' (fields: 'text', 'stars')"),
    ("train.tsv", "text\tlabel\nfine\t1\n", "category",
     "train.tsv:1: no column 'category' (columns: 'text', 'label')"),
])
def test_a_missing_label_column_names_the_columns_there_are(headstart, project, tmp_path, name, content, field,
                                                            message):
    train = write(tmp_path / name, content)
    config = finetune_config(tmp_path, project.run, train, **({"task": {"label_field": field}} if field else {}))
    assert message in one_line_error(headstart("finetune", config))
    assert message in one_line_error(
        headstart("rank", project.run, "--train", train, *(["--label-field", field] if field else [])))


@pytest.mark.parametrize("split", ["test", "val"])
def test_a_label_never_seen_in_training_is_one_line_naming_file_line_and_label(headstart, project, tmp_path, split):
    held_out = write(tmp_path / f"{split}.tsv", "label\ttext\n1\ta fine fox\n7\ta strange fox\n")
    config = finetune_config(tmp_path, project.run, project.train, task={split: str(held_out)})
    line = one_line_error(headstart("finetune", config))
    assert f"{held_out}:3: label '7' never appears in the training set {project.train}" in line
    assert "(training labels: '0', '1')" in line


# ---- 11. a checkpoint that does not fit its tokenizer or config ----------------------------------

def test_a_checkpoint_whose_tokenizer_has_another_vocabulary_is_refused_everywhere(headstart, project, tmp_path):
    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    model_vocab = json.loads((checkpoint / "state.json").read_text())["config"]["model"]["vocab_size"]
    replace_in_checkpoint(checkpoint, "tokenizer.json", build_char_tokenizer("abc").to_str().encode())
    message = f"tokenizer has 7 tokens but the model expects {model_vocab}"

    one_line_error(headstart("finetune", finetune_config(tmp_path, run, project.train)), str(checkpoint), message)
    one_line_error(headstart("generate", run, "--max-new-tokens", "2"), message)
    one_line_error(headstart("rank", run, "--train", project.train), message)
    continued = tmp_path / "continue.yaml"
    continued.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "continued"), "init": str(run),
                                         "data": {"path": str(project.data)},
                                         "train": {"steps": 1, "batch_size": 2, "lr": 1e-3}}))
    one_line_error(headstart("pretrain", continued), message)


@pytest.mark.parametrize("field, change, message", [
    ("n_layer", 1, "weights do not fit this model (missing ["),
    ("d_model", 16, "weights do not fit this model (size mismatch for"),
])
def test_a_checkpoint_whose_recorded_architecture_does_not_fit_its_weights_is_refused(
        headstart, project, tmp_path, field, change, message):
    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    edit_state(checkpoint, lambda state: state["config"]["model"].update(
        {field: state["config"]["model"][field] + change}))

    one_line_error(headstart("finetune", finetune_config(tmp_path, run, project.train)),
                   f"{checkpoint / 'model.safetensors'}: {message}")
    one_line_error(headstart("generate", run, "--max-new-tokens", "2"), message)


def test_a_config_that_gives_an_architecture_beside_init_is_refused_not_ignored(headstart, project, tmp_path):
    # init brings its architecture (and tokenizer): a model section next to it cannot be honoured.
    other = {"preset": "gpt-nano", "n_layer": 4, "d_model": 64}
    assert "give init or model, not both" in one_line_error(
        headstart("finetune", finetune_config(tmp_path, project.run, project.train, model=other)))
    tokenizer = str(project.data / "tokenizer.json")
    assert "give init or tokenizer, not both" in one_line_error(
        headstart("finetune", finetune_config(tmp_path, project.run, project.train, tokenizer=tokenizer)))
    assert "give model or init, not both" in one_line_error(
        headstart("pretrain", project.config, "--set", f"init={project.run}"))


# ---- 12. resuming with a changed config ----------------------------------------------------------

def test_resuming_with_a_changed_config_names_what_changed(headstart, project, tmp_path):
    config = write_config(tmp_path, project.data, "causal_lm", steps=3)
    succeeded(headstart("pretrain", config))
    checkpoint = last_checkpoint(tmp_path / "run-causal_lm")

    refused = f"cannot resume from {checkpoint}: the config changed in"
    one_line_error(headstart("pretrain", config, "--resume", "--set", "train.lr=0.1"), refused,
                   "train.lr (start a new run")
    one_line_error(headstart("pretrain", config, "--resume", "--set", "model.n_layer=3"), refused, "model.n_layer")
    original = config.read_text()
    config.write_text(original.replace("batch_size: 4", "batch_size: 8"))  # edited in the file itself
    one_line_error(headstart("pretrain", config, "--resume"), refused, "train.batch_size")
    config.write_text(original)
    # A longer run is what --resume is for: train.steps may change.
    assert "finished at step 4" in succeeded(headstart("pretrain", config, "--resume", "--set", "train.steps=4")).out
    one_line_error(headstart("pretrain", config, "--resume", "--set", f"run_dir={tmp_path / 'new'}"),
                   f"--resume: no checkpoint in {tmp_path / 'new' / 'checkpoints'} yet")


# ---- 13. non-finite samples (issue #24): one bad file must not poison the whole data set ---------

def float_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.float32), rate, subtype="FLOAT")
    return path


NON_FINITE_WAVS = {  # id: (samples, what the skip says)
    "all NaN": (np.full(8000, np.nan), "8,000 of 8,000 samples are NaN or infinite"),
    "one infinity": (np.where(np.arange(8000) == 100, np.inf, 0.3 * np.sin(np.arange(8000) / 3)),
                     "1 of 8,000 samples are NaN or infinite"),
    "finite but overflowing": (np.full(8000, 1e30) * np.sin(np.arange(8000) / 3), "features overflow"),
}


@pytest.mark.parametrize("samples, detail", list(NON_FINITE_WAVS.values()), ids=list(NON_FINITE_WAVS))
def test_a_wav_of_non_finite_samples_is_a_counted_skip_and_the_statistics_stay_finite(headstart, tmp_path, caplog,
                                                                                      samples, detail):
    for i in range(3):
        tone(tmp_path / "clips" / f"good_{i}.wav", hz=300 + 100 * i)
    bad = float_wav(tmp_path / "clips" / "bad.wav", samples)
    result = succeeded(headstart("prepare", "audio", tmp_path / "clips", "--out", tmp_path / "out", "--n-mels", "16",
                                 "--max-bad-fraction", "0.5", "--no-progress"))
    assert "4 found, 3 kept" in result.out and "skipped 1 file(s): 1 non_finite: bad.wav (non_finite)" in result.out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stats"]["skipped_by_reason"] == {"non_finite": 1}
    assert np.isfinite(manifest["feature_mean"]).all() and np.isfinite(manifest["feature_std"]).all()
    assert f"skipping {bad}: non_finite ({detail}" in caplog.text

    one_line_error(headstart("prepare", "audio", tmp_path / "clips", "--out", tmp_path / "strict"),
                   "of the 4 sound files cannot be used", "bad.wav: non_finite", "raise max_bad_fraction")


def test_a_prepared_audio_folder_with_nan_statistics_is_refused_by_pretrain(headstart, tmp_path):
    for i in range(4):
        tone(tmp_path / "clips" / f"good_{i}.wav", hz=300 + 100 * i)
    succeeded(headstart("prepare", "audio", tmp_path / "clips", "--out", tmp_path / "data", "--n-mels", "16",
                        "--val-fraction", "0.3", "--no-progress"))
    manifest_path = tmp_path / "data" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["feature_mean"][3] = float("nan")  # what a folder prepared before the guard could hold
    manifest_path.write_text(json.dumps(manifest))
    config = write(tmp_path / "audio.yaml", f"run_dir: {tmp_path / 'run'}\ndata: {{path: {tmp_path / 'data'}}}\n"
                   "objective: {name: best_rq}\nmodel: {preset: audio-tiny}\n"
                   "train: {steps: 1, batch_size: 2, lr: 1.0e-3}\n")
    one_line_error(headstart("pretrain", config), str(manifest_path), "feature_mean or feature_std holds NaN",
                   "prepare the folder again")


def float_tiff(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.float32), mode="F").save(out, format="TIFF")
    return out.getvalue()


def test_a_float_image_holding_nan_is_a_counted_skip_in_images_and_pairs(headstart, tmp_path):
    nan_image = float_tiff(np.where(np.eye(8, dtype=bool), np.nan, 100.0))
    for i in range(3):
        write(tmp_path / "photos" / f"good_{i}.png", png(list(COLOURS.values())[i], seed=i))
    bad = write(tmp_path / "photos" / "nan.tif", nan_image)
    result = succeeded(headstart("prepare", "images", tmp_path / "photos", "--out", tmp_path / "images", "--size", "8",
                                 "--max-bad-fraction", "0.5", "--no-progress"))
    assert f"skipped 1 non-finite image(s): {bad} (8 of 64 pixel values are NaN or infinite)" in result.out
    assert json.loads((tmp_path / "images" / "manifest.json").read_text())["stats"]["skipped_by_reason"] == {
        "non_finite": 1}
    one_line_error(headstart("prepare", "images", tmp_path / "photos", "--out", tmp_path / "strict", "--size", "8"),
                   "of the 4 images are non-finite", "nan.tif: 8 of 64 pixel values are NaN or infinite")

    rows = "".join(f"good_{i}.png,a {colour} square\n" for i, colour in enumerate(list(COLOURS)[:3]))
    table = write(tmp_path / "photos" / "pairs.csv", "image,caption\n" + rows + "nan.tif,a broken square\n")
    result = succeeded(headstart("prepare", "pairs", table, "--out", tmp_path / "pairs", "--size", "8",
                                 "--max-bad-fraction", "0.5", "--no-progress"))
    stats = json.loads((tmp_path / "pairs" / "manifest.json").read_text())["stats"]
    assert stats["skipped_by_reason"] == {"non_finite": 1} and stats["kept"] == 3


def test_a_float_array_holding_nan_names_how_many(headstart, tmp_path):
    pixels = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
    pixels[2, 3, 3] = np.nan
    array = tmp_path / "digits.npy"
    np.save(array, pixels)
    one_line_error(headstart("prepare", "images", array, "--out", tmp_path / "out"),
                   f"{array}: pixels are float32 and 1 of them are NaN or infinite")


# ---- 14. label files that do not say what they seem to (issue #24) -------------------------------

def test_a_label_first_line_without_its_label_is_refused_naming_the_line(headstart, project, tmp_path):
    lines = [f"{i % 2} a {'fine' if i % 2 else 'lazy'} fox number {i}" for i in range(20)]
    lines[7] = "this sentence lost its label"
    train = write(tmp_path / "stsa.binary.train", "\n".join(lines) + "\n")
    message = f"{train}:8: label 'this' is not a number like the file's other labels ('0', '1')"
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, train)), message,
                   "is the label missing from this line?")
    one_line_error(headstart("rank", project.run, "--train", train), message)


def test_a_single_class_is_refused_by_finetune_and_rank(headstart, project, tmp_path):
    train = write(tmp_path / "train.tsv", "label\ttext\n" + "".join(f"1\ta fine fox {i}\n" for i in range(20)))
    test = write(tmp_path / "test.tsv", "label\ttext\n1\ta fine fox\n")
    message = f"{train}: the training labels hold 1 class ('1'); a classifier needs examples of at least 2"
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, train, test)), message)
    one_line_error(headstart("rank", project.run, "--train", train), message)


@pytest.mark.parametrize("task, message", [
    ({"budget": 1}, "task.budget 1: fewer labels than 2 x the 2 classes"),
    ({"budget": 2, "val": "VAL"}, "task.budget 2: fewer labels than 2 x the 2 classes"),
], ids=["budget 1", "budget 2 with task.val"])
def test_a_budget_below_two_labels_per_class_is_refused(headstart, project, tmp_path, task, message):
    task = {key: str(project.test) if value == "VAL" else value for key, value in task.items()}
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, project.train, task=task)),
                   message, "give at least 4")


# ---- 15. the last tracebacks (issue #24) ---------------------------------------------------------

@pytest.mark.parametrize("rng", ["garbage", None, {"python": 1}, {"python": {"version": 3, "internal": [1, 2],
                                                                           "gauss": None}, "numpy": {}}])
def test_a_state_json_whose_rng_was_edited_is_one_line_naming_the_checkpoint(headstart, project, tmp_path, rng):
    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    edit_state(checkpoint, lambda state: state.update(rng=rng))
    config = write(tmp_path / "resume.yaml", project.config.read_text().replace(str(project.run), str(run)))
    one_line_error(headstart("pretrain", config, "--resume", "--set", "train.steps=4"),
                   f"cannot resume from {checkpoint}: state.json: 'rng' is not the generator state headstart writes")


@pytest.mark.parametrize("option, message", [
    (("--temperature", "nan"), "--temperature nan: expected a finite number >= 0"),
    (("--temperature", "inf"), "--temperature inf: expected a finite number >= 0"),
    (("--temperature", "-1"), "--temperature -1.0: expected a finite number >= 0"),
    (("--prompt", "Héllo €"), "--prompt: 3 character(s) the model's tokenizer does not know ('H', 'é', '€')"),
])
def test_a_bad_generate_option_is_one_line(headstart, project, option, message):
    one_line_error(headstart("generate", project.run, "--max-new-tokens", "2", *option), message)


def test_with_unknown_chars_replace_the_warning_counts_them_and_the_prompt_shows_unk(headstart, project, caplog):
    result = succeeded(headstart("generate", project.run, "--prompt", "Héllo €", "--max-new-tokens", "3",
                                 "--unknown-chars", "replace"))
    assert "replaced 3 prompt character(s) the tokenizer does not know ('H', 'é', '€') with <unk>" in caplog.text
    assert result.out.startswith("<unk><unk>llo <unk>")  # what the model continued, not what was typed


def test_generate_refuses_a_top_k_below_one_and_a_model_with_nan_weights(project, tmp_path):
    from safetensors.torch import load_file, save_file

    from headstart.errors import HeadstartError
    from headstart.text.generate import generate

    with pytest.raises(HeadstartError, match=r"--top-k -1: expected a whole number >= 1"):
        generate(project.run, "fox", top_k=-1)
    run = shutil.copytree(project.run, tmp_path / "run")
    checkpoint = last_checkpoint(run)
    weights = load_file(checkpoint / "model.safetensors")
    save_file({name: torch.full_like(t, float("nan")) for name, t in weights.items()},
              str(checkpoint / "model.safetensors"))
    with pytest.raises(HeadstartError, match=r"next-token scores are NaN or infinite"):
        generate(run, "fox", max_new_tokens=2)


# ---- 16. what a path is, and what a file's encoding is (issue #24) -------------------------------

def _loop(tmp_path: Path) -> Path:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    return loop


def _dangling(tmp_path: Path) -> Path:
    link = tmp_path / "corpus"
    link.symlink_to(tmp_path / "moved-away")
    return link


@pytest.mark.parametrize("make, message", [
    (_loop, "a symbolic link loop"),
    (_dangling, "a symbolic link to "),
    (lambda tmp_path: Path("/dev/zero"), "/dev/zero: a character device, not a file or folder"),
], ids=["symlink loop", "dangling symlink", "/dev/zero"])
@pytest.mark.parametrize("kind", ["text", "images", "audio", "pairs"])
def test_a_path_that_is_not_a_file_or_folder_is_named_for_what_it_is(headstart, tmp_path, kind, make, message):
    path = make(tmp_path)
    line = one_line_error(headstart("prepare", kind, path, "--out", tmp_path / "out"), str(path), message)
    assert "no such file or folder" not in line


@pytest.mark.parametrize("make, message", [
    (lambda tmp_path: Path("/dev/zero"), "/dev/zero: a character device, not a file"),
    (_loop, "a symbolic link loop"),
], ids=["/dev/zero", "symlink loop"])
def test_a_labeled_file_that_is_not_a_file_is_named_for_what_it_is(headstart, project, tmp_path, make, message):
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, make(tmp_path))), message)


TEXT = "The fox ran.\n\nThen it rested, ĉu ne?\n"


@pytest.mark.parametrize("codec, bom, name", [
    ("utf-16-le", b"\xff\xfe", "UTF-16 LE text (it starts with the byte-order mark FF FE)"),
    ("utf-16-be", b"\xfe\xff", "UTF-16 BE text (it starts with the byte-order mark FE FF)"),
])
def test_a_utf16_file_is_named_utf16_and_encoding_utf16_reads_it(headstart, tmp_path, codec, bom, name):
    corpus = write(tmp_path / "corpus.txt", bom + TEXT.encode(codec))
    prepare = ("prepare", "text", corpus, "--tokenizer", "char", "--workers", "0", "--out")
    one_line_error(headstart(*prepare, tmp_path / "p1"), f"{corpus}: {name}, not utf-8",
                   "pass --encoding utf-16")
    succeeded(headstart(*prepare, tmp_path / "p2", "--encoding", "utf-16"))
    write(tmp_path / "plain" / "corpus.txt", TEXT)
    succeeded(headstart("prepare", "text", tmp_path / "plain", "--tokenizer", "char", "--workers", "0", "--out",
                        tmp_path / "p3"))
    # The same documents as the UTF-8 file: the mark is not text, the lines split where UTF-8's do.
    assert (tmp_path / "p2" / "tokenizer.json").read_text() == (tmp_path / "p3" / "tokenizer.json").read_text()
    assert [f.read_bytes() for f in sorted((tmp_path / "p2").glob("*.bin"))] == [
        f.read_bytes() for f in sorted((tmp_path / "p3").glob("*.bin"))]


def test_a_utf16_labeled_file_is_named_and_read_with_task_encoding(headstart, project, tmp_path):
    train = write(tmp_path / "train.tsv", b"\xff\xfe" + project.train.read_text().encode("utf-16-le"))
    config = finetune_config(tmp_path, project.run, train)
    one_line_error(headstart("finetune", config), f"{train}: UTF-16 LE text", "task.encoding in a finetune config")
    succeeded(headstart("finetune", config, "--set", "task.encoding=utf-16"))


def test_a_utf8_byte_order_mark_is_dropped_not_read_as_text(tmp_path):
    from headstart.text.labeled import read_labeled

    data = read_labeled(write(tmp_path / "train.txt", b"\xef\xbb\xbf0 a lazy dog\n1 a fine fox\n"))
    assert data.label_names == ["0", "1"] and data.texts == ["a lazy dog", "a fine fox"]
