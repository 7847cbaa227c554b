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
