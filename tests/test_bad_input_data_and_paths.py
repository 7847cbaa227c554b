"""The bad-input catalogue, continued (issue #24): non-finite samples, label files that do not say what
they seem to, the last tracebacks, and paths and encodings named for what they are.  The rule is
test_bad_input.py's: one ``error: ...`` line naming what is at fault, exit status 2, never a traceback; or a
counted, named skip where skipping is the documented policy.
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_checks import edit_state, finetune_config, headstart, last_checkpoint, one_line_error, project, succeeded  # noqa: F401
from helpers import write
from test_audio_prepare import tone
from test_pairs_prepare import COLOURS, png


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
    error = one_line_error(headstart("pretrain", config), str(manifest_path))
    assert "feature_mean or feature_std holds NaN" in error and "prepare the folder again" in error


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
    error = one_line_error(headstart("prepare", "images", array, "--out", tmp_path / "out"))
    assert f"{array}: pixels are float32 and 1 of them are NaN or infinite" in error


# ---- 14. label files that do not say what they seem to (issue #24) -------------------------------

def test_a_label_first_line_without_its_label_is_refused_naming_the_line(headstart, project, tmp_path):
    lines = [f"{i % 2} a {'fine' if i % 2 else 'lazy'} fox number {i}" for i in range(20)]
    lines[7] = "this sentence lost its label"
    train = write(tmp_path / "stsa.binary.train", "\n".join(lines) + "\n")
    message = f"{train}:8: label 'this' is not a number like the file's other labels ('0', '1')"
    error = one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, train)), message)
    assert "is the label missing from this line?" in error
    assert message in one_line_error(headstart("rank", project.run, "--train", train))


def test_a_single_class_is_refused_by_finetune_and_rank(headstart, project, tmp_path):
    train = write(tmp_path / "train.tsv", "label\ttext\n" + "".join(f"1\ta fine fox {i}\n" for i in range(20)))
    test = write(tmp_path / "test.tsv", "label\ttext\n1\ta fine fox\n")
    message = f"{train}: the training labels hold 1 class ('1'); a classifier needs examples of at least 2"
    assert message in one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, train, test)))
    assert message in one_line_error(headstart("rank", project.run, "--train", train))


@pytest.mark.parametrize("task, message", [
    ({"budget": 1}, "task.budget 1: fewer labels than 2 x the 2 classes"),
    ({"budget": 2, "val": "VAL"}, "task.budget 2: fewer labels than 2 x the 2 classes"),
], ids=["budget 1", "budget 2 with task.val"])
def test_a_budget_below_two_labels_per_class_is_refused(headstart, project, tmp_path, task, message):
    task = {key: str(project.test) if value == "VAL" else value for key, value in task.items()}
    error = one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, project.train, task=task)))
    assert message in error and "give at least 4" in error


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
    assert message in one_line_error(headstart("generate", project.run, "--max-new-tokens", "2", *option))


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
    assert message in one_line_error(headstart("finetune", finetune_config(tmp_path, project.run, make(tmp_path))))


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
    error = one_line_error(headstart("finetune", config), f"{train}: UTF-16 LE text")
    assert "task.encoding in a finetune config" in error
    succeeded(headstart("finetune", config, "--set", "task.encoding=utf-16"))


def test_a_utf8_byte_order_mark_is_dropped_not_read_as_text(tmp_path):
    from headstart.text.labeled import read_labeled

    data = read_labeled(write(tmp_path / "train.txt", b"\xef\xbb\xbf0 a lazy dog\n1 a fine fox\n"))
    assert data.label_names == ["0", "1"] and data.texts == ["a lazy dog", "a fine fox"]
