"""`headstart prepare text`: raw text -> cleaned, deduplicated, tokenized shards + manifest.json.

Each test builds a small corpus in tmp_path and reads like a usage example.  Tests that use the shared
real data sets skip when ../shared/data is absent (a fresh checkout).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import headstart.text.workers as chunking
from headstart.errors import HeadstartError
from headstart.modality.splits import is_val
from headstart.text import TokenShards, load_manifest, load_tokenizer, prepare_text
from headstart.text.cleaning import clean_text, document_digest
from headstart.text.prepare_cli import text_command
from headstart.text.shards import token_dtype
from headstart.text.tokenizer import build_char_tokenizer, special_token_ids, train_bpe

from helpers import shared, write


def prepare(inputs, out, **options) -> dict:
    """prepare_text with test-friendly defaults: char tokenizer, in-process, no progress bar."""
    options = {"tokenizer": "char", "workers": 0, "progress": False, **options}
    return prepare_text([inputs] if not isinstance(inputs, list) else inputs, out, **options)


def documents_in(prepared: Path, split: str) -> list[str]:
    """Decode a split back into its documents (the stream is documents, each ended by EOS)."""
    shards = TokenShards(prepared, split)
    tokenizer = load_tokenizer(shards.tokenizer_path)
    stream = shards.read(0, shards.n_tokens)
    ends = np.flatnonzero(stream == shards.special_tokens["eos"])
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [tokenizer.decode(stream[a:b].tolist()) for a, b in zip(starts, ends)]


# 40 paragraphs of equal length, so that "the last 10% of the bytes" is exactly the last 4 of them.
PARAGRAPHS = [f"Paragraph {i:02d}: the quick brown fox jumps over the lazy dog." for i in range(40)]


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write(tmp_path / "corpus" / "book.txt", "\n\n".join(PARAGRAPHS) + "\n")


# --- cleaning -----------------------------------------------------------------------------------

def test_cleaning_normalises_unicode_controls_and_whitespace():
    assert clean_text("cafe\u0301") == "caf\u00e9"  # NFC: e + combining accent -> é
    assert clean_text("\ufeffbell\x07 and\x00 null") == "bell and null"  # BOM and Cc removed
    assert clean_text("a  \t b   \nc\r\nd\n\n\n\n\ne  ") == "a b\nc\nd\n\ne"
    assert clean_text("zero\u200dwidth joiner") == "zero\u200dwidth joiner"  # Cf (meaningful) is kept


def test_no_fold_whitespace_keeps_code_indentation():
    code = "def f():\n\tif x:\n        return 1\n\n\n\n"
    assert clean_text(code, fold_whitespace=False) == code
    assert clean_text("x\x0c\r\n", fold_whitespace=False) == "x\n"  # control chars still go


@settings(max_examples=300, deadline=None)
@given(text=st.text(), fold=st.booleans())
def test_cleaning_is_idempotent_and_leaves_no_control_characters(text, fold):
    cleaned = clean_text(text, fold_whitespace=fold)
    assert clean_text(cleaned, fold_whitespace=fold) == cleaned
    assert all(unicodedata.category(c) != "Cc" or c in "\n\t" for c in cleaned)


def reference_clean(text: str) -> str:
    """clean_text's specification, written the slow and obvious way."""
    text = re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r" +\n", "\n", re.sub(r"[ \t]+", " ", text)))
    return text.strip()


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(" \t\n\r\x0b\ufeffab.e\u0301\u00e9")) | st.text())
def test_cleaning_equals_its_specification(text):
    assert clean_text(text) == reference_clean(text)


def test_empty_short_and_duplicate_documents_are_counted(tmp_path):
    text = "\n\n".join(["a long enough paragraph", "tiny", "a long enough paragraph", " \t ",
                        "another long paragraph", "a  long enough   paragraph"])
    write(tmp_path / "in.txt", text)
    stats = prepare(tmp_path / "in.txt", tmp_path / "out", min_chars=5, val_fraction=0)["stats"]
    assert stats["documents_read"] == 5  # the whitespace-only paragraph is a blank separator
    assert stats["dropped"] == {"empty": 0, "too_short": 1, "duplicate": 2}  # folding makes #6 a dup
    assert stats["kept"] == 2
    assert stats["duplicate_rate"] == pytest.approx(2 / 4)
    assert documents_in(tmp_path / "out", "train") == ["a long enough paragraph", "another long paragraph"]


def test_empty_corpus_is_an_error_that_says_why(tmp_path):
    write(tmp_path / "in.txt", "\x07\x07\n\nab\n\ncd\n")  # a bell-only paragraph is empty once cleaned
    with pytest.raises(HeadstartError, match=r"read 3, dropped 1 empty, 2 shorter than --min-chars 3, 0 dup"):
        prepare(tmp_path / "in.txt", tmp_path / "out", min_chars=3)


# --- tokenizers ---------------------------------------------------------------------------------

def test_char_tokenizer_round_trips_and_puts_special_tokens_last():
    text = "To be, or not to be:\n\tthat is the question. Ωμέγα"
    tokenizer = build_char_tokenizer(text)
    assert tokenizer.decode(tokenizer.encode(text).ids) == text
    assert special_token_ids(tokenizer) == {"eos": len(set(text)), "pad": len(set(text)) + 1,
                                            "mask": len(set(text)) + 2, "unk": len(set(text)) + 3}
    assert tokenizer.encode("#").ids == [special_token_ids(tokenizer)["unk"]]


def test_bpe_tokenizer_round_trips_any_text():
    tokenizer = train_bpe(PARAGRAPHS * 3, vocab_size=300)
    assert tokenizer.get_vocab_size() == 300
    for text in ["the lazy dog", "never seen: 日本語 ü 🙂\n\n  spaces"]:
        assert tokenizer.decode(tokenizer.encode(text).ids) == text
    assert set(special_token_ids(tokenizer)) == {"eos", "pad", "mask", "unk"}


def test_bpe_vocab_smaller_than_the_byte_alphabet_is_refused():
    with pytest.raises(HeadstartError, match="--vocab-size 100: byte-level BPE needs at least 260"):
        train_bpe(["text"], vocab_size=100)


def test_prepare_with_bpe_writes_a_loadable_tokenizer(corpus, tmp_path):
    manifest = prepare(corpus, tmp_path / "out", tokenizer="bpe", vocab_size=320)
    assert manifest["tokenizer"]["kind"] == "bpe" and manifest["vocab_size"] == 320
    assert sorted(documents_in(tmp_path / "out", "train") + documents_in(tmp_path / "out", "val")) \
        == sorted(PARAGRAPHS)


def test_lowercase_bpe_folds_case_when_it_encodes_later_text_too(corpus, tmp_path):
    prepare(corpus, tmp_path / "out", tokenizer="bpe", vocab_size=320, lowercase=True)
    tokenizer = load_tokenizer(tmp_path / "out" / "tokenizer.json")  # as fine-tuning loads it
    assert tokenizer.encode("The Lazy DOG").ids == tokenizer.encode("the lazy dog").ids
    assert all(doc == doc.lower() for doc in documents_in(tmp_path / "out", "train"))
    with pytest.raises(HeadstartError, match="--lowercase: only for a BPE or word tokenizer"):
        prepare(corpus, tmp_path / "char", tokenizer="char", lowercase=True)


def test_text_that_spells_a_special_token_is_not_encoded_as_one(tmp_path):
    write(tmp_path / "in.txt", "fake <|endoftext|> boundary\n\nsecond")
    prepare(tmp_path / "in.txt", tmp_path / "out", val_fraction=0)
    assert documents_in(tmp_path / "out", "train") == ["fake <|endoftext|> boundary", "second"]


def test_an_existing_tokenizer_file_is_reused_and_a_big_vocab_gets_uint32(tmp_path):
    # 70k distinct characters (CJK blocks), so that token ids go beyond what uint16 holds.
    alphabet = [chr(0x4E00 + i) for i in range(20_000)] + [chr(0x20000 + i) for i in range(50_000)]
    build_char_tokenizer(alphabet).save(str(tmp_path / "big.json"))
    write(tmp_path / "in.txt", "一丁七\n\n万丈三")
    manifest = prepare(tmp_path / "in.txt", tmp_path / "out", tokenizer=tmp_path / "big.json", val_fraction=0)
    assert manifest["tokenizer"]["kind"] == "file"
    assert manifest["dtype"] == "uint32" and manifest["vocab_size"] == 70_004
    assert documents_in(tmp_path / "out", "train") == ["一丁七", "万丈三"]
    assert token_dtype(65_535) == np.uint16 and token_dtype(65_536) == np.uint32


def test_a_broken_tokenizer_file_is_named(corpus, tmp_path):
    write(tmp_path / "tok.json", "{not json")
    with pytest.raises(HeadstartError, match=r"tok\.json: not a valid tokenizer\.json"):
        prepare(corpus, tmp_path / "out", tokenizer=tmp_path / "tok.json")


# --- shards, manifest, reader -------------------------------------------------------------------

def test_manifest_has_the_documented_shape(corpus, tmp_path):
    manifest = prepare(corpus, tmp_path / "out")
    assert manifest == load_manifest(tmp_path / "out")
    assert set(manifest) == {"format", "version", "dtype", "vocab_size", "tokenizer", "splits", "stats",
                             "options", "inputs", "created", "headstart_version"}
    assert (manifest["format"], manifest["version"], manifest["dtype"]) == ("headstart.text_shards", 1, "uint16")
    assert set(manifest["tokenizer"]) == {"file", "sha256", "kind", "special_tokens"}
    assert set(manifest["stats"]) == {"documents_read", "kept", "dropped", "duplicate_rate", "bytes_read",
                                      "skipped_files", "seconds", "mb_per_s"}
    train, val = manifest["splits"]["train"], manifest["splits"]["val"]
    assert train["documents"] + val["documents"] == manifest["stats"]["kept"] == 40
    assert train["shards"] == [{"file": "train_00000.bin", "tokens": train["tokens"]}]
    assert (tmp_path / "out" / "train_00000.bin").stat().st_size == 2 * train["tokens"]
    assert manifest["options"]["tokenizer"] == "char" and manifest["inputs"] == [str(corpus)]


def test_token_shards_read_spans_shard_boundaries(corpus, tmp_path):
    manifest = prepare(corpus, tmp_path / "out", shard_tokens=7, val_fraction=0)
    shards = manifest["splits"]["train"]["shards"]
    assert len(shards) > 3 and all(shard["tokens"] == 7 for shard in shards[:-1])
    whole = np.concatenate([np.fromfile(tmp_path / "out" / s["file"], dtype="<u2") for s in shards])
    train = TokenShards(tmp_path / "out", "train")
    assert train.n_tokens == len(whole) and train.vocab_size == manifest["vocab_size"]
    window = train.read(5, 20)  # shards 0, 1, 2 and 3
    assert window.dtype == np.int64 and window.tolist() == whole[5:25].tolist()
    assert train.read(train.n_tokens - 3, 3).tolist() == whole[-3:].tolist()
    assert train.read(3, 0).size == 0
    with pytest.raises(IndexError):
        train.read(train.n_tokens - 1, 2)


def test_token_shards_travel_to_other_processes_as_folder_and_split(corpus, tmp_path):
    # A DataLoader worker receives its dataset serialised; the shards must be re-opened there, not
    # copied into the message.
    prepare(corpus, tmp_path / "out")
    train = TokenShards(tmp_path / "out", "train")
    rebuild, arguments = train.__reduce__()
    assert arguments == (str(tmp_path / "out"), "train")
    assert rebuild(*arguments).read(0, 10).tolist() == train.read(0, 10).tolist()


def test_reader_names_the_file_at_fault(corpus, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(HeadstartError, match="manifest.json: manifest not found"):
        TokenShards(out, "train")
    prepare(corpus, out)
    with pytest.raises(HeadstartError, match="no split 'test'"):
        TokenShards(out, "test")
    with open(out / "train_00000.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(HeadstartError, match=r"train_00000\.bin: 10 bytes, but the manifest says"):
        TokenShards(out, "train")
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(HeadstartError, match="version 99 is not supported"):
        load_manifest(out)
    (out / "manifest.json").write_text("{garbled")
    with pytest.raises(HeadstartError, match="manifest.json: not valid JSON"):
        load_manifest(out)


# --- train / val split --------------------------------------------------------------------------

def test_split_is_by_whole_document_and_deterministic(corpus, tmp_path):
    prepare(corpus, tmp_path / "a", val_fraction=0.3)
    prepare(corpus, tmp_path / "b", val_fraction=0.3)
    train, val = documents_in(tmp_path / "a", "train"), documents_in(tmp_path / "a", "val")
    assert sorted(train + val) == sorted(PARAGRAPHS) and not set(train) & set(val)
    assert 0 < len(val) < len(train)
    # The split depends on the document's hash only, never on its position or on the other documents.
    assert all(is_val(document_digest(d), 0.3) for d in val) and not any(is_val(document_digest(d), 0.3) for d in train)
    assert documents_in(tmp_path / "b", "val") == val


def test_val_from_end_takes_the_last_documents(corpus, tmp_path):
    prepare(corpus, tmp_path / "out", val_fraction=0.1, val_from_end=True)
    assert documents_in(tmp_path / "out", "val") == PARAGRAPHS[-4:]
    assert documents_in(tmp_path / "out", "train") == PARAGRAPHS[:-4]


def test_tiny_corpus_still_gets_a_val_document_but_needs_a_train_one(tmp_path):
    write(tmp_path / "two.txt", "first document\n\nsecond document")
    prepare(tmp_path / "two.txt", tmp_path / "out", val_fraction=0.01)
    assert documents_in(tmp_path / "out", "train") + documents_in(tmp_path / "out", "val") == \
        ["first document", "second document"]
    write(tmp_path / "one.txt", "only document")
    with pytest.raises(HeadstartError, match="none to train"):
        prepare(tmp_path / "one.txt", tmp_path / "out1", val_fraction=0.01)
    assert not (tmp_path / "out1").exists()


# --- inputs: folders, formats, encodings, bad files ---------------------------------------------

def test_folders_are_walked_in_sorted_order_by_suffix(tmp_path):
    write(tmp_path / "in" / "b.txt", "bee")
    write(tmp_path / "in" / "a" / "z.md", "zed")
    write(tmp_path / "in" / "notes.csv", "ignored")
    write(tmp_path / "in" / ".hidden" / "x.txt", "ignored")
    manifest = prepare(tmp_path / "in", tmp_path / "out", val_fraction=0, doc_unit="file")
    assert [Path(p).name for p in manifest["inputs"]] == ["z.md", "b.txt"]
    write(tmp_path / "csv" / "table.csv", "a,b")
    with pytest.raises(HeadstartError, match="no input files found in .*csv .*pass --format"):
        prepare(tmp_path / "csv", tmp_path / "out2")


@pytest.mark.parametrize("doc_unit, expected", [
    ("file", ["l1\nl2\n\nl3"]), ("paragraph", ["l1\nl2", "l3"]), ("line", ["l1", "l2", "l3"])])
def test_doc_unit(tmp_path, doc_unit, expected):
    write(tmp_path / "in.txt", "l1\nl2\n\nl3\n")
    prepare(tmp_path / "in.txt", tmp_path / "out", doc_unit=doc_unit, val_fraction=0)
    assert documents_in(tmp_path / "out", "train") == expected


def test_jsonl_reads_the_named_field_and_reports_bad_lines(tmp_path):
    rows = [{"id": 1, "body": "first"}, {"id": 2, "body": "second"}]
    write(tmp_path / "ok.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    prepare(tmp_path / "ok.jsonl", tmp_path / "out", field="body", val_fraction=0)
    assert documents_in(tmp_path / "out", "train") == ["first", "second"]

    write(tmp_path / "bom.jsonl", b'\xef\xbb\xbf{"text": "saved by Notepad"}\n')
    prepare(tmp_path / "bom.jsonl", tmp_path / "bom", val_fraction=0)
    assert documents_in(tmp_path / "bom", "train") == ["saved by Notepad"]

    write(tmp_path / "bad.jsonl", '{"text": "fine"}\n\n{"text": "oops",}\n')
    with pytest.raises(HeadstartError, match=r"bad\.jsonl:3: invalid JSON \(Expecting property name"):
        prepare(tmp_path / "bad.jsonl", tmp_path / "out2")
    with pytest.raises(HeadstartError, match=r"ok\.jsonl:1: no field 'text' \(fields: 'id', 'body'\)"):
        prepare(tmp_path / "ok.jsonl", tmp_path / "out2")
    with pytest.raises(HeadstartError, match=r"ok\.jsonl:1: field 'id' is a number \(1\), expected a string"):
        prepare(tmp_path / "ok.jsonl", tmp_path / "out2", field="id")


def test_parquet_reads_the_named_column(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install pyarrow)")
    import pyarrow.parquet as pq

    content = pa.array(["alpha", "beta", "gamma"]).dictionary_encode()  # as pandas writes categories
    pq.write_table(pa.table({"content": content, "n": [1, 2, 3]}), tmp_path / "t.parquet")
    prepare(tmp_path / "t.parquet", tmp_path / "out", field="content", val_fraction=0)
    assert documents_in(tmp_path / "out", "train") == ["alpha", "beta", "gamma"]
    with pytest.raises(HeadstartError, match=r"t\.parquet: no column 'text' \(columns: 'content', 'n'\)"):
        prepare(tmp_path / "t.parquet", tmp_path / "out2")


def test_undecodable_line_names_file_line_byte_and_the_fix(tmp_path):
    write(tmp_path / "x.txt", "fine\n\nalso fine\nun caf\xe9 noir\n".encode("latin-1"))
    with pytest.raises(HeadstartError) as error:
        prepare(tmp_path / "x.txt", tmp_path / "out")
    assert str(error.value) == (f"{tmp_path / 'x.txt'}:4: invalid utf-8 (byte 0xe9 at column 7); "
                                "if the file is Latin-1, pass --encoding latin-1 (task.encoding in a finetune config)")
    prepare(tmp_path / "x.txt", tmp_path / "out", encoding="latin-1", val_fraction=0)
    assert documents_in(tmp_path / "out", "train")[-1] == "also fine\nun café noir"


def test_trec_is_latin_1_and_reads_with_encoding_latin_1(tmp_path):
    trec = shared("trec/TREC.train.all")
    with pytest.raises(HeadstartError) as error:
        prepare(trec, tmp_path / "out", doc_unit="line")
    assert str(error.value) == (f"{trec}:66: invalid utf-8 (byte 0xf0 at column 53); "
                                "if the file is Latin-1, pass --encoding latin-1 (task.encoding in a finetune config)")
    manifest = prepare(trec, tmp_path / "out", doc_unit="line", encoding="latin-1")
    assert manifest["stats"]["documents_read"] == 5452
    documents = documents_in(tmp_path / "out", "train") + documents_in(tmp_path / "out", "val")
    assert any("sister\u00f0city" in document for document in documents)  # the one Latin-1 byte


def test_nul_byte_is_an_error_or_a_skipped_file(tmp_path, caplog):
    write(tmp_path / "in" / "good.txt", "good text")
    write(tmp_path / "in" / "image.txt", b"GIF89a\x00\x01\x02\n")
    with pytest.raises(HeadstartError, match=r"image\.txt:1: binary data \(NUL byte\) in a text file"):
        prepare(tmp_path / "in", tmp_path / "out")
    with caplog.at_level(logging.WARNING, logger="headstart.text"):
        manifest = prepare(tmp_path / "in", tmp_path / "out", on_bad_file="skip", val_fraction=0)
    assert manifest["stats"]["skipped_files"] == [str(tmp_path / "in" / "image.txt")]
    assert "image.txt" in caplog.text and "NUL byte" in caplog.text
    assert documents_in(tmp_path / "out", "train") == ["good text"]


# --- workers, output folder, CLI ----------------------------------------------------------------

def test_one_and_two_workers_write_byte_identical_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(chunking, "CHUNK_DOCUMENTS", 256)  # several chunks in flight at once
    paragraphs = [f"{i} " + "lorem ipsum dolor " * (i % 7 + 1) for i in range(1500)]  # ~6 chunks
    corpus = write(tmp_path / "corpus.txt", "\n\n".join(paragraphs + paragraphs[:100]))
    outputs = {}
    for workers in (0, 1, 2):
        manifest = prepare(corpus, tmp_path / f"w{workers}", workers=workers, shard_tokens=50_000)
        outputs[workers] = {p.name: p.read_bytes() for p in sorted((tmp_path / f"w{workers}").glob("*.bin"))}
        assert manifest["stats"]["dropped"]["duplicate"] == 100
    assert len(outputs[0]) > 2
    assert outputs[0] == outputs[1] == outputs[2]


def test_workers_from_a_script_on_stdin_fail_with_one_clear_line(tmp_path):
    # Worker processes re-import the main script; one piped in on stdin has no file to re-import.
    corpus = write(tmp_path / "corpus.txt", "some text to prepare\n\nand a second paragraph\n")
    script = (f"from headstart.text import prepare_text\n"
              f"prepare_text([{str(corpus)!r}], {str(tmp_path / 'out')!r}, tokenizer='char', workers=2, progress=False)\n")
    run = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "worker processes re-import the main script, but it is not a file (<stdin>" in run.stderr
    assert "--workers 0" in run.stderr


def test_existing_output_is_kept_unless_overwrite(corpus, tmp_path):
    out = tmp_path / "out"
    prepare(corpus, out)
    with pytest.raises(HeadstartError, match="already exists and is not empty; pass --overwrite"):
        prepare(corpus, out)
    manifest = prepare(corpus, out, overwrite=True, val_fraction=0)
    assert load_manifest(out)["splits"]["val"]["tokens"] == 0 == manifest["splits"]["val"]["tokens"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "out"]  # no staging left behind
    write(tmp_path / "home" / "precious.txt", "not a prepared folder")
    with pytest.raises(HeadstartError, match="not a prepared folder .* refusing to replace it"):
        prepare(corpus, tmp_path / "home", overwrite=True)


def test_output_folder_inside_the_input_folder_is_not_read_back(tmp_path):
    write(tmp_path / "data" / "notes.md", "first\n\nsecond")
    for _ in range(2):  # the second run walks data/ while data/prepared/*.json exist
        manifest = prepare(tmp_path / "data", tmp_path / "data" / "prepared", overwrite=True)
    assert manifest["inputs"] == [str(tmp_path / "data" / "notes.md")]


def test_cli_prepares_and_prints_a_summary(corpus, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(text_command, [str(corpus), "--out", str(out), "--tokenizer", "char",
                                               "--workers", "0", "--val-from-end", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "documents: 40 read, 40 kept" in result.output
    assert f"wrote {out}" in result.output
    assert TokenShards(out, "val").documents == 4

    result = CliRunner().invoke(text_command, [str(corpus), "--out", str(out)])
    assert isinstance(result.exception, HeadstartError)  # the main CLI prints it as one line, exit 2
    assert "--help" not in result.output
    assert "--doc-unit" in CliRunner().invoke(text_command, ["--help"]).output
