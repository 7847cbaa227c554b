"""Property tests of the bad-input catalogue (issue #8): the config parser and the data readers given
arbitrary input may refuse it, but only with a HeadstartError (or, for one sample of a collection, a
counted skip), never another exception.
"""
from __future__ import annotations

import csv
import io
import json
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from headstart.config import load_pretrain_config, read_yaml
from headstart.errors import HeadstartError
from headstart.text.labeled import read_labeled

from cli_checks import set_key
from helpers import write
from test_pairs_prepare import COLOURS, add, png



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
@example(suffix=".csv", content=b'"im\nage",caption\na.png,a digit\n')  # a header name holding a newline
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


# ---- property tests: issue #24's doors (encodings, label shapes, non-finite samples) -------------

LINE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=LINE_TEXT, codec=st.sampled_from(["utf-16-le", "utf-16-be"]), mark=st.booleans())
@example(text="\u0a00\n\u0a0a\n", codec="utf-16-le", mark=True)  # code units whose bytes hold 0x0a
@example(text="\U0001f98a fox\nend", codec="utf-16-be", mark=True)  # a surrogate pair
def test_utf16_lines_split_where_the_text_has_newlines(tmp_path, text, codec, mark):
    from headstart.text.readers import numbered_lines

    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[codec] if mark else b""
    path = write(tmp_path / "text.txt", bom + text.encode(codec))
    lines = list(numbered_lines(path, "utf-16" if mark else codec))
    expected = [part + "\n" for part in text.split("\n")[:-1]] + ([text.split("\n")[-1]] if text.split("\n")[-1]
                                                                   else [])
    assert [line for _, _, line in lines] == expected
    assert [number for number, _, _ in lines] == list(range(1, len(expected) + 1))
    # Offsets are bytes in the file: the mark belongs to line 1.
    assert [offset for _, offset, _ in lines] == [len(bom) * (i > 0) + sum(len(e.encode(codec)) for e in expected[:i])
                                                  for i in range(len(expected))]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["tsv", "csv", "jsonl"]), rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=4),
       codec=st.sampled_from(["utf-16-le", "utf-16-be"]))
def test_a_utf16_labeled_file_reads_as_its_utf8_twin_or_is_named_utf16(tmp_path, fmt, rows, codec):
    path, _ = labeled_file(tmp_path, fmt, rows)
    text = path.read_bytes().decode("utf-8")  # not read_text: its universal newlines would turn \r into \n
    twin = write(tmp_path / f"twin.{fmt}", {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[codec]
                 + text.encode(codec))
    with pytest.raises(HeadstartError, match=rf"{twin}: UTF-16 (LE|BE) text .* pass --encoding utf-16"):
        read_labeled(twin)
    try:
        expected = read_labeled(path)
    except HeadstartError as error:
        with pytest.raises(HeadstartError) as refused:
            read_labeled(twin, encoding="utf-16")
        assert str(refused.value).replace(str(twin), str(path)).split(":")[1] == str(error).split(":")[1]
    else:
        got = read_labeled(twin, encoding="utf-16")
        assert (got.texts, got.labels, got.label_names, got.line_numbers) == (
            expected.texts, expected.labels, expected.label_names, expected.line_numbers)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(3, 30), where=st.integers(0, 10**6),
       word=st.text(st.characters(whitelist_categories=("Ll", "Lu")), min_size=1, max_size=8))
def test_a_label_first_line_whose_label_is_a_word_among_numbers_is_refused_at_its_line(tmp_path, count, where, word):
    lines = [f"{i % 3} sentence number {i}" for i in range(count)]
    bad = where % count
    lines[bad] = f"{word} is where this sentence begins"
    path = write(tmp_path / "data.all", "\n".join(lines) + "\n")
    with pytest.raises(HeadstartError) as refused:
        read_labeled(path)
    assert str(refused.value).startswith(f"{path}:{bad + 1}: label {word!r} is not a number")


FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=st.lists(FLOATS, min_size=1, max_size=400))
def test_a_float_wav_gives_finite_samples_or_a_non_finite_skip(tmp_path, samples):
    import soundfile as sf

    from headstart.audio.prepare import AudioPrepareOptions, read_clip

    values = np.asarray(samples, dtype=np.float32)
    path = tmp_path / "clip.wav"
    sf.write(path, values, 8000, subtype="FLOAT")
    waveform, problem, _ = read_clip(path, AudioPrepareOptions(sample_rate=8000))
    if not np.isfinite(values).all():
        assert problem is not None and problem[0] == "non_finite", problem
    elif problem is None:
        assert np.isfinite(waveform).all()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(FLOATS, min_size=12, max_size=12))
def test_a_float_image_gives_pixels_or_a_non_finite_skip(values):
    from headstart.vision.decode import UnreadableImage, decode_image

    pixels = np.asarray(values, dtype=np.float32).reshape(3, 4)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="F").save(out, format="TIFF")
    try:
        decode_image(out.getvalue(), 2, 2, "RGB")
    except UnreadableImage as problem:
        assert problem.reason == ("non_finite" if not np.isfinite(pixels).all() else "unreadable"), problem
    else:
        assert np.isfinite(pixels).all()
