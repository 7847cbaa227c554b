"""`headstart prepare pairs`: WebDataset shards and CSV/JSONL tables -> decoded images + caption tokens,
with every broken or unsafe sample skipped and counted by reason."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from headstart.errors import HeadstartError
from headstart.pairs.arrays import PairArrays
from headstart.pairs.prepare import prepare_pairs
from headstart.text.tokenizer import load_tokenizer
from helpers import shared
from test_pretrain_cli import run_cli

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}


def png(colour, size=12, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None] + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def colour_shard(path, count=40, start=0):
    """A WebDataset shard of coloured squares captioned with their colour."""
    names = list(COLOURS)
    with tarfile.open(path, "w") as tar:
        for n in range(start, start + count):
            colour = names[n % len(names)]
            add(tar, f"{n:05d}.png", png(COLOURS[colour], seed=n))
            add(tar, f"{n:05d}.txt", f"a {colour} square".encode())
            add(tar, f"{n:05d}.json", b'{"source": "test"}')  # other members are ignored
    return path


def test_a_webdataset_shard_becomes_images_tokens_and_captions(tmp_path):
    manifest = prepare_pairs([colour_shard(tmp_path / "a.tar")], tmp_path / "pairs", size=8, caption_len=6,
                             val_fraction=0.2, progress=False)
    train, val = PairArrays(tmp_path / "pairs", "train"), PairArrays(tmp_path / "pairs", "val")
    assert len(train) + len(val) == 40 and len(val) > 0 and manifest["stats"]["skipped"] == 0
    pixels, tokens, lengths = train.read([0, 1])
    assert pixels.shape == (2, 8, 8, 3) and tokens.shape == (2, 6) and tokens.dtype == np.int32
    tokenizer = load_tokenizer(tmp_path / "pairs" / "tokenizer.json")
    caption = train.captions([0])[0]
    assert caption.startswith("a ") and caption.endswith(" square")
    assert tokenizer.decode(tokens[0, :lengths[0]].tolist()) == caption
    # The image is the colour its caption names: pairs stay paired.
    colour = caption.split()[1]
    assert np.abs(pixels[0].reshape(-1, 3).mean(0) - COLOURS[colour]).max() < 25


def test_broken_and_unsafe_samples_are_skipped_and_counted_by_reason(tmp_path, caplog):
    shard = tmp_path / "mixed.tar"
    with tarfile.open(shard, "w") as tar:
        add(tar, "good1.png", png(COLOURS["red"]))
        add(tar, "good1.txt", b"a red square")
        add(tar, "broken.jpg", b"\xff\xd8\xff\xe0 this is not a whole jpeg")
        add(tar, "broken.txt", b"a broken image")
        add(tar, "nocaption.png", png(COLOURS["blue"]))
        add(tar, "noimage.txt", b"a caption without an image")
        add(tar, "blank.png", png(COLOURS["green"]))
        add(tar, "blank.txt", b"   \n ")
        add(tar, "latin1.png", png(COLOURS["green"], seed=3))
        add(tar, "latin1.txt", "un carré vert".encode("latin-1"))
        add(tar, "/etc/evil.png", png(COLOURS["red"]))
        add(tar, "../escape.txt", b"climbs out")
        add(tar, "link.png", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add(tar, "dup.png", png(COLOURS["red"]))  # the same bytes and caption as good1
        add(tar, "dup.txt", b"a red square")
        add(tar, "good2.png", png(COLOURS["yellow"]))
        add(tar, "good2.txt", b"a yellow square")
    manifest = prepare_pairs([shard], tmp_path / "pairs", size=8, val_fraction=0.0, max_bad_fraction=1.0,
                             progress=False)
    assert manifest["stats"]["kept"] == 2
    assert manifest["stats"]["skipped_by_reason"] == {
        "unreadable_image": 1, "missing_caption": 1, "missing_image": 1, "empty_caption": 1,
        "caption_not_utf8": 1, "unsafe_member": 3, "duplicate": 1}
    named = {entry["sample"]: entry["reason"] for entry in manifest["stats"]["skipped_samples"]}
    assert named["mixed.tar:/etc/evil.png"] == "unsafe_member" and named["mixed.tar:../escape.txt"] == "unsafe_member"
    assert named["mixed.tar:broken"] == "unreadable_image"
    assert sorted(PairArrays(tmp_path / "pairs").captions([0, 1])) == ["a red square", "a yellow square"]
    assert "skipping mixed.tar:link.png: unsafe_member" in caplog.text


def test_too_many_broken_samples_fail_the_run_with_the_counts(tmp_path):
    shard = tmp_path / "bad.tar"
    with tarfile.open(shard, "w") as tar:
        add(tar, "a.png", png(COLOURS["red"]))
        add(tar, "a.txt", b"a red square")
        add(tar, "b.png", png(COLOURS["blue"]))  # no caption
    with pytest.raises(HeadstartError, match=r"1 of 2 samples skipped \(1 missing_caption\).*max_bad_fraction"):
        prepare_pairs([shard], tmp_path / "pairs", size=8, val_fraction=0.0, progress=False)
    assert not (tmp_path / "pairs").exists()  # nothing half-written


def test_a_cut_off_shard_keeps_the_samples_before_the_damage(tmp_path):
    whole = colour_shard(tmp_path / "whole.tar", count=20).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[: len(whole) // 2 + 700])  # inside a member, past its header
    manifest = prepare_pairs([cut], tmp_path / "pairs", size=8, val_fraction=0.0, max_bad_fraction=1.0,
                             progress=False)
    assert 0 < manifest["stats"]["kept"] < 20
    assert manifest["stats"]["skipped_by_reason"].get("unreadable_shard") == 1


def test_csv_and_jsonl_tables_name_images_relative_to_the_table(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    for n, colour in enumerate(COLOURS):
        (images / f"{colour}.png").write_bytes(png(COLOURS[colour], seed=n))
    (tmp_path / "pairs.csv").write_text("image,caption\n" + "".join(f"img/{c}.png,a {c} square\n" for c in COLOURS)
                                        + "img/missing.png,a lost square\n")
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"path": f"img/{c}.png", "text": f"{c}!"}) + "\n"
                                                  for c in COLOURS))
    manifest = prepare_pairs([tmp_path / "pairs.csv"], tmp_path / "from-csv", size=8, val_fraction=0.0,
                             max_bad_fraction=0.5, progress=False)
    assert manifest["stats"]["kept"] == 4 and manifest["stats"]["skipped_by_reason"] == {"missing_image": 1}
    manifest = prepare_pairs([tmp_path / "pairs.jsonl"], tmp_path / "from-jsonl", size=8, val_fraction=0.0,
                             image_field="path", caption_field="text", progress=False)
    assert manifest["stats"]["kept"] == 4
    with pytest.raises(HeadstartError, match=r"pairs.csv: no column 'url' \(columns: 'image', 'caption'\)"):
        prepare_pairs([tmp_path / "pairs.csv"], tmp_path / "x", image_field="url", progress=False)


def test_a_given_tokenizer_is_reused_byte_for_byte_and_long_captions_are_cut(tmp_path):
    first = prepare_pairs([colour_shard(tmp_path / "a.tar")], tmp_path / "first", size=8, val_fraction=0.0,
                          progress=False)
    second = prepare_pairs([colour_shard(tmp_path / "b.tar", start=100)], tmp_path / "second", size=8,
                           caption_len=2, tokenizer=str(tmp_path / "first"), val_fraction=0.0, progress=False)
    assert second["tokenizer_sha256"] == first["tokenizer_sha256"]
    assert second["stats"]["captions_truncated"] == 40 and PairArrays(tmp_path / "second").lengths.max() == 2


def test_the_command_line_prints_counts_and_bad_inputs_are_one_line_errors(tmp_path):
    code, out = run_cli("prepare", "pairs", colour_shard(tmp_path / "a.tar"), "--out", tmp_path / "pairs",
                        "--size", "8", "--no-progress")
    assert code == 0 and "pairs: 40 found, 40 kept" in out, out
    (tmp_path / "notes.txt").write_text("hello")
    code, out = run_cli("prepare", "pairs", tmp_path / "notes.txt", "--out", tmp_path / "other")
    assert code == 2 and "notes.txt: not a pair source" in out and "Traceback" not in out


def test_the_cc12m_sample_shard_prepares_completely(tmp_path):
    shard = shared("cc12m/cc12m-train-0000.tar")
    manifest = prepare_pairs([shard], tmp_path / "cc12m", size=32, val_fraction=0.0, progress=False)
    assert manifest["stats"]["kept"] == 32 and manifest["stats"]["skipped"] == 0
    assert PairArrays(tmp_path / "cc12m").read([31])[0].shape == (1, 32, 32, 3)
