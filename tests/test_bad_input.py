"""The bad-input catalogue (issue #8): each way a user's input can be wrong, given to the `headstart`
command as a user would give it, and what the user gets back.

The rule (headstart/errors.py): a problem with the input is one line on stderr, ``error: ...``, naming
the file, line, key or value at fault, with exit status 2 and never a traceback.  Where the documented
policy is to skip and count instead (unreadable images and sound files; text files under
``--on-bad-file skip``), the entry checks the count and the log line that names the file.

Several entries are tested in more depth beside the module that owns the behaviour (test_prepare_text,
test_labeled_text, test_config, ...); here each is one row of the user-facing checklist.  The property
tests at the end feed the config parser and the data readers arbitrary input: they may refuse it, but
only with a HeadstartError (or, for one sample of a collection, a counted skip).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import tarfile
import wave
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from headstart.cli import main
from headstart.config import load_pretrain_config, read_yaml
from headstart.errors import HeadstartError
from headstart.text.labeled import read_labeled
from headstart.text.tokenizer import build_char_tokenizer

from helpers import shared, write
from test_audio_prepare import tone
from test_finetune_cli import write_task
from test_pairs_prepare import COLOURS, add, png
from test_pretrain_cli import CORPUS, run_cli, write_config


# ---- running the command -------------------------------------------------------------------------

@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def headstart(capsys):
    """``headstart ARGS`` run in this process the way the installed command runs it."""
    def run(*args) -> Result:
        capsys.readouterr()  # only this command's output
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return run


def one_line_error(result: Result, *fragments: str) -> str:
    """The error line of a run that failed as a user's mistake: status 2, one ``error:`` line naming
    what is at fault (every fragment), no traceback.  Returns the line."""
    assert "Traceback" not in result.err + result.out, result.err
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def succeeded(result: Result) -> Result:
    assert result.code == 0 and "Traceback" not in result.err, result
    return result


# ---- what most entries start from ----------------------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A prepared corpus, a 3-step causal-LM run on it and a small labeled task beside them."""
    root = tmp_path_factory.mktemp("project")
    (root / "corpus.txt").write_text(CORPUS)
    code, out = run_cli("prepare", "text", root / "corpus.txt", "--out", root / "data", "--tokenizer", "char",
                        "--workers", "0")
    assert code == 0, out
    config = write_config(root, root / "data", "causal_lm", steps=3)
    code, out = run_cli("pretrain", config)
    assert code == 0, out
    write_task(root)  # train.tsv (labels 0/1) and test.tsv
    return SimpleNamespace(root=root, data=root / "data", config=config, run=root / "run-causal_lm",
                           train=root / "train.tsv", test=root / "test.tsv")


def finetune_config(folder: Path, init, train, test=None, **settings) -> Path:
    """A fine-tuning config of two steps, ``settings`` merged in at the top level."""
    config = {"run_dir": str(folder / "ft"), "init": str(init),
              "task": {"train": str(train), **({"test": str(test)} if test else {})},
              "train": {"steps": 2, "batch_size": 8, "warmup_steps": 1, "eval_every": 2, "log_every": 2}}
    for key, value in settings.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    path = folder / "finetune.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def compare_config(folder: Path, pretrained, task_train, **settings) -> Path:
    path = folder / "compare.yaml"
    path.write_text(yaml.safe_dump({"run_dir": str(folder / "cmp"), "pretrained": str(pretrained),
                                    "task": {"train": str(task_train)}, **settings}))
    return path


def last_checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step_*"))[-1]


def replace_in_checkpoint(checkpoint: Path, name: str, data: bytes) -> None:
    """Overwrite one file of a checkpoint, keeping state.json's record of file sizes (where it keeps one)
    in step, so that what gets checked is the file's content, not its size."""
    (checkpoint / name).write_bytes(data)
    state = json.loads((checkpoint / "state.json").read_text())
    if isinstance(state.get("files"), dict) and name in state["files"]:
        state["files"][name] = len(data)
        (checkpoint / "state.json").write_text(json.dumps(state, indent=2))


def edit_state(checkpoint: Path, edit) -> None:
    state = json.loads((checkpoint / "state.json").read_text())
    edit(state)
    (checkpoint / "state.json").write_text(json.dumps(state, indent=2))


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
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, empty)),
                   f"{empty}: no labeled examples")


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
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, train)),
                   f"{train}:3: invalid utf-8 (byte 0xe9 at column 4)", "task.encoding in a finetune config")


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
            "compare": yaml.safe_load(compare_config(folder, project.run, project.train).read_text())}


def set_key(config: dict, dotted: str, value) -> dict:
    """``config`` with ``value`` at the dotted key, as ``--set`` puts it (a scalar on the way is replaced)."""
    *sections, key = dotted.split(".")
    node = config
    for section in sections:
        if not isinstance(node.get(section), dict):
            node[section] = {}
        node = node[section]
    node[key] = value
    return config


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
    one_line_error(headstart(command, config), f"error: {config}: ", message)


def test_a_mistyped_set_override_is_named_like_a_key_in_the_file(headstart, project):
    one_line_error(headstart("pretrain", project.config, "--set", "train.bacth_size=4"),
                   "train.bacth_size: unknown key (did you mean batch_size?)")
    one_line_error(headstart("pretrain", project.config, "--set", "train.warmup_steps=soon"),
                   "train.warmup_steps: input should be a valid integer")


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
        one_line_error(headstart(command, config), str(config), message)


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
    one_line_error(headstart("finetune", config), message)
    one_line_error(headstart("rank", project.run, "--train", train, *(["--label-field", field] if field else [])),
                   message)


@pytest.mark.parametrize("split", ["test", "val"])
def test_a_label_never_seen_in_training_is_one_line_naming_file_line_and_label(headstart, project, tmp_path, split):
    held_out = write(tmp_path / f"{split}.tsv", "label\ttext\n1\ta fine fox\n7\ta strange fox\n")
    config = finetune_config(tmp_path, project.run, project.train, task={split: str(held_out)})
    one_line_error(headstart("finetune", config),
                   f"{held_out}:3: label '7' never appears in the training set {project.train}",
                   "(training labels: '0', '1')")


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
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, project.train, model=other)),
                   "give init or model, not both")
    tokenizer = str(project.data / "tokenizer.json")
    one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, project.train, tokenizer=tokenizer)),
                   "give init or tokenizer, not both")
    one_line_error(headstart("pretrain", project.config, "--set", f"init={project.run}"),
                   "give model or init, not both")


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


# ---- property tests: the config parser -----------------------------------------------------------

JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                  max_size=3), max_leaves=6)
PRETRAIN_KEYS = ["run_dir", "data", "data.path", "data.seq_len", "init", "model", "model.preset", "model.n_layer",
                 "model.d_model", "objective", "objective.name", "objective.mask_prob", "monitor", "train",
                 "train.steps", "train.lr", "train.betas", "train.precision"]
GOOD_PRETRAIN = {"run_dir": "runs/x", "data": {"path": "data/x"}, "model": {"preset": "gpt-nano"},
                 "train": {"steps": 10, "batch_size": 4, "lr": 1e-3}}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(PRETRAIN_KEYS) | st.text(min_size=1, max_size=12), value=JSONISH)
@example(key="model.preset", value=["gpt-nano"])
@example(key="a\nb", value=1)  # YAML lets a key hold a newline
def test_any_pretrain_config_value_is_accepted_or_refused_in_one_line(tmp_path, key, value):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(set_key(json.loads(json.dumps(GOOD_PRETRAIN)), key, value)))
    try:
        load_pretrain_config(path)
    except HeadstartError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
@example(content=b"run_dir: 2024-13-45\n")  # YAML reads it as a date, and there is no month 13
def test_any_config_file_is_read_as_a_mapping_or_refused_in_one_line(tmp_path, content):
    path = write(tmp_path / "config.yaml", content)
    try:
        assert isinstance(read_yaml(path), dict)
    except HeadstartError as error:
        assert "\n" not in str(error) and str(path) in str(error)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["finetune", "compare"]),
       key=st.sampled_from(["init", "model", "model.preset", "tokenizer", "task", "task.train", "task.budget",
                            "task.format", "task.val", "strategy", "strategy.name", "pooling", "budgets", "seeds",
                            "rank", "train.lr", "dropout"]),
       value=JSONISH)
def test_any_finetune_or_compare_config_value_is_accepted_or_refused_in_one_line(tmp_path, command, key, value):
    from headstart.compare import load_compare_config
    from headstart.finetune.run import load_finetune_config

    base = {"run_dir": "runs/x", "task": {"train": "train.tsv"}, "train": {"steps": 2}}
    base.update({"init": "runs/p"} if command == "finetune" else {"pretrained": "runs/p"})
    if command == "compare":
        base["train"] = {"steps": 2}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(set_key(base, key, value)))
    try:
        (load_finetune_config if command == "finetune" else load_compare_config)(path)
    except HeadstartError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))


# ---- property tests: the labeled-text reader -----------------------------------------------------

CELL = st.text(max_size=12)


def labeled_file(folder: Path, fmt: str, rows: list[tuple[str, str]]) -> tuple[Path, bool]:
    """``rows`` written as a ``fmt`` file the way a spreadsheet or json.dumps writes it, and whether the
    format can hold them exactly (TSV has no quoting: a tab or a line break inside a cell cannot be)."""
    path = folder / f"data.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n" for t, y in rows),
                        encoding="utf-8")
        return path, True
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows([("text", "label"), *rows])
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        return path, True
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8", newline="")
    return path, not any(c in cell for row in rows for cell in row for c in "\t\r\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["tsv", "csv", "jsonl"]), rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=4))
@example(fmt="csv", rows=[("a\rb", "x"), ('say "hi", then\nbye', "y")])
@example(fmt="jsonl", rows=[("line\u2028separator", "1"), ("\ufeffbom", "2"), ("nul \0", "\0")])
def test_labeled_files_round_trip_or_are_refused_in_one_line(tmp_path, fmt, rows):
    path, exact = labeled_file(tmp_path, fmt, rows)
    try:
        data = read_labeled(path)
    except HeadstartError as error:
        assert "\n" not in str(error) and str(path) in str(error)
        read = None
    else:
        assert len(data.texts) == len(data.labels) == len(data.line_numbers)
        assert data.line_numbers == sorted(data.line_numbers)
        read = list(zip(data.texts, [data.label_names[i] for i in data.labels]))
    if not exact:
        return
    # What the reader must make of the rows: a row of blank cells is skipped (never in JSON Lines,
    # where it is a whole object); a blank text or label, no row at all, or a NUL byte (a sign of a
    # binary file; JSON writes NUL as \u0000, which is no NUL byte) is refused.
    kept = [(t, y) for t, y in rows if fmt == "jsonl" or t.strip() or y.strip()]
    nul = fmt != "jsonl" and any("\0" in t + y for t, y in kept)
    if not kept or nul or any(not t.strip() or not y.strip() for t, y in kept):
        assert read is None, read
    else:
        assert read == [(t, y.strip()) for t, y in kept]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".tsv", ".csv", ".jsonl", ".all"]),
       head=st.sampled_from([b"", b"text\tlabel\n", b"text,label\n", b'{"text": "a", "label": "b"}\n', b"0 fine\n"]),
       body=st.binary(max_size=200))
@example(suffix=".jsonl", head=b"", body=b'{"text": "x", "label": ' + b"1" * 5000 + b"}\n")
@example(suffix=".jsonl", head=b"", body=b"[" * 100_000 + b"\n")
@example(suffix=".csv", head=b"text,label\n", body=b'"' + b"x" * 200_000 + b'",a\n')
def test_the_labeled_reader_reads_or_refuses_any_bytes_in_one_line(tmp_path, suffix, head, body):
    path = write(tmp_path / f"data{suffix}", head + body)
    try:
        data = read_labeled(path)
    except HeadstartError as error:
        assert "\n" not in str(error) and str(path) in str(error)
    else:
        assert len(data.texts) == len(data.labels) > 0 and all(0 <= i < len(data.label_names) for i in data.labels)


# ---- property tests: the pair, image and audio readers -------------------------------------------

def _shard_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for n, colour in enumerate(COLOURS):
            add(tar, f"{n:03d}.png", png(COLOURS[colour], size=6, seed=n))
            add(tar, f"{n:03d}.txt", f"a {colour} square".encode())
    return buffer.getvalue()


SHARD = _shard_bytes()
DAMAGE = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)


def damaged(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """``data`` cut short at ``cut`` (a fraction in thousandths of its length) with some bytes overwritten."""
    out = bytearray(data[: max(1, len(data) * cut // 1000)])
    for position, value in flips:
        out[position % len(out)] = value
    return bytes(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".tar", ".csv", ".tsv", ".jsonl"]),
       content=st.binary(max_size=600) | st.builds(damaged, st.just(SHARD), st.integers(0, 1000), DAMAGE))
@example(suffix=".csv", content=b"image,caption\n" + b"a" * 5000 + b".jpg,a caption too far\n")
@example(suffix=".csv", content=b'image,caption\n"' + b"x" * 200_000 + b'",a\n')
@example(suffix=".jsonl", content=b'{"image": "a.png", "caption": ' + b"1" * 5000 + b"}\n")
def test_the_pair_readers_yield_pairs_or_counted_skips_for_any_bytes(tmp_path, suffix, content):
    from headstart.pairs.readers import RawPair, Skip, read_pairs

    path = write(tmp_path / f"pairs{suffix}", content)
    try:
        items = list(read_pairs(path))
    except HeadstartError as error:  # a table with no header, not UTF-8: the whole input is unusable
        assert suffix != ".tar", "a shard's damage is a counted skip, not an error"
        assert "\n" not in str(error) and str(path) in str(error)
    else:
        assert all(isinstance(item, (RawPair, Skip)) for item in items)


def _encoded(format_: str, **options) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=format_, **options)
    return out.getvalue()


IMAGES = [_encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")] + [_encoded("JPEG", progressive=True)]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")  # Pillow's notes on damaged files
@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=300) | st.builds(damaged, st.sampled_from(IMAGES), st.integers(0, 1000), DAMAGE),
       mode=st.sampled_from(["RGB", "L"]))
def test_decoding_any_bytes_gives_pixels_or_a_reason_to_skip(content, mode):
    from headstart.vision.decode import UnreadableImage, decode_image

    try:
        pixels = decode_image(content, 5, 4, mode)
    except UnreadableImage as reason:
        assert str(reason) and "\n" not in str(reason)
    else:
        assert pixels.shape == (5, 4, 3 if mode == "RGB" else 1) and pixels.dtype == np.uint8


def _npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes() + array.tobytes()


ARRAYS = {".npy": _npy(np.zeros((3, 4, 4), np.uint8)), ".npz": _npz(x=np.zeros((3, 4, 4), np.uint8), y=np.arange(3)),
          "-images-idx3-ubyte": _idx(np.zeros((3, 4, 4), np.uint8))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from(sorted(ARRAYS)),
       content=st.binary(max_size=300) | st.builds(damaged, st.sampled_from(list(ARRAYS.values())),
                                                   st.integers(0, 1000), DAMAGE))
@example(suffix="-images-idx3-ubyte", content=b"\0\0\x08\x03" + b"\xff" * 12)  # 4 billion images claimed
@example(suffix="-images-idx3-ubyte", content=b"\0\0\x08\x03" + np.array([2**32 - 1, 0, 4], ">u4").tobytes())
@example(suffix=".npz", content=b"PK\x03\x04" + bytes(60))  # a zip header and nothing behind it
@example(suffix=".npy", content=ARRAYS[".npz"])  # NumPy goes by the content, not the name
@example(suffix=".npz", content=ARRAYS[".npy"])
@example(suffix=".npy", content=b"\x93NUMPY\x01\x00\x06\x00\x00\x00\x00'" + b"''")  # NumPy cannot tokenize it
def test_image_arrays_of_any_bytes_prepare_or_are_refused_in_one_line(tmp_path, suffix, content):
    from headstart.vision.prepare import prepare_images

    path = write(tmp_path / f"set{suffix}", content)
    try:
        manifest = prepare_images(path, tmp_path / "out", val_fraction=0, progress=False, overwrite=True)
    except HeadstartError as error:
        assert "\n" not in str(error)
        assert str(path) in str(error) or str(error).startswith("no image left for the train split")
    else:
        assert manifest["stats"]["kept"] >= 1


def _wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(np.arange(800) / 3) * 8000).astype("<i2").tobytes())
    return out.getvalue()


WAV = _wav_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | st.builds(damaged, st.just(WAV), st.integers(0, 1000), DAMAGE))
# One sample at 16.8 MHz: nothing left of it at 8 kHz.
@example(content=b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\0\0\0\x01\0\0\0\0\0\0\x01\0data\0\0\0\x01\0")
def test_reading_any_wav_bytes_gives_a_clip_or_a_counted_reason(tmp_path, content):
    from headstart.audio.prepare import SKIP_REASONS, AudioPrepareOptions, read_clip

    path = write(tmp_path / "clip.wav", content)
    waveform, problem, _ = read_clip(path, AudioPrepareOptions(sample_rate=8000))
    if problem is None:
        assert waveform.ndim == 1 and len(waveform) > 0 and np.isfinite(waveform).all()
    else:
        assert waveform is None and problem[0] in SKIP_REASONS
