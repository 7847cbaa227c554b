"""What the audit reads: documents of raw text or of a prepared text folder, and which kind an input is.

Raw text goes through ``headstart.text.readers`` (and ``clean_text``), so formats, encodings, JSON
fields and errors are exactly those of ``prepare text``.  A prepared folder is decoded back to text
from its token shards with its own tokenizer, a document at a time (documents end at EOS), so the
audit can check what a model was actually trained on.  Either way documents stream: one at a time.

Each document gets a readable name for the report: ``file`` (one document a file), ``file:LINE``
(paragraphs, lines, JSON Lines records), ``file#ROW`` (Parquet) or ``prepared/train#N``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from headstart.errors import HeadstartError
from headstart.output_folder import MANIFEST_NAME
from headstart.text.cleaning import clean_text
from headstart.text.readers import check_encoding, find_input_files, open_binary, read_documents

_READ_TOKENS = 1 << 20  # tokens read from the shards at a time
KINDS = ("auto", "text", "images", "audio")
_FORMAT_KINDS = {"headstart.text_shards": "text", "headstart.image_arrays": "images",
                 "headstart.audio_features": "audio"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm",
                   ".npy", ".npz", ".gz", ".idx3-ubyte"}
_AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


class TextDocument(NamedTuple):
    name: str
    text: str  # cleaned as prepare cleans it


def prepared_format(path: Path) -> str | None:
    """The manifest "format" of a prepared folder, or None when ``path`` is not one."""
    manifest = Path(path) / MANIFEST_NAME
    if not (Path(path).is_dir() and manifest.is_file()):
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format")
    except (ValueError, OSError, AttributeError) as error:
        raise HeadstartError(f"{manifest}: unreadable manifest ({error})") from None


def detect_kind(inputs: list[Path]) -> str:
    """text, images or audio: from a prepared folder's manifest, else from the files' suffixes."""
    first = Path(inputs[0])
    fmt = prepared_format(first)
    if fmt is not None:
        if fmt not in _FORMAT_KINDS:
            raise HeadstartError(f"{first}: a prepared folder of {fmt}; the audit reads text, images and audio")
        return _FORMAT_KINDS[fmt]
    files = [first] if first.is_file() else [p for p in first.rglob("*") if p.is_file()] if first.is_dir() else []
    counts = {"images": 0, "audio": 0, "text": 0}
    for path in files[:10_000]:  # a sample is enough to tell a folder of photos from one of books
        suffix = path.suffix.lower()
        counts["images" if suffix in _IMAGE_SUFFIXES else "audio" if suffix in _AUDIO_SUFFIXES else "text"] += 1
    return max(counts, key=lambda kind: (counts[kind], kind == "text"))


def text_documents(inputs: Iterable[str | Path], *, fmt: str = "auto", field: str = "text",
                   doc_unit: str = "file", encoding: str = "utf-8",
                   fold_whitespace: bool = True) -> Iterator[TextDocument]:
    """Every non-empty document of raw text inputs or of prepared text folders, cleaned, in order."""
    check_encoding(encoding)
    raw: list[Path] = []
    for given in map(Path, inputs):
        fmt_name = prepared_format(given)
        if fmt_name == "headstart.text_shards":
            yield from _prepared_documents(given)
        elif fmt_name is not None:
            raise HeadstartError(f"{given}: a prepared folder of {fmt_name}, not text")
        else:
            raw.append(given)
    if raw:
        for file in find_input_files(raw, fmt):
            lines = _LineCounter(file.path) if file.fmt != "parquet" and (file.fmt == "jsonl" or doc_unit != "file") else None
            for row, document in enumerate(read_documents(file, field=field, doc_unit=doc_unit, encoding=encoding)):
                text = clean_text(document.text, fold_whitespace=fold_whitespace)
                if not text.strip():
                    continue
                if lines is not None:
                    name = f"{file.path}:{lines.line_at(document.offset)}"
                else:
                    name = f"{file.path}#{row + 1}" if file.fmt == "parquet" else str(file.path)
                yield TextDocument(name, text)
            if lines is not None:
                lines.close()


class _LineCounter:
    """Byte offset -> line number, reading the file forward once beside the reader (offsets only grow)."""

    def __init__(self, path: Path):
        self.file, self.position, self.line = open_binary(path), 0, 1

    def line_at(self, offset: int) -> int:
        while self.position < offset:
            block = self.file.read(min(offset - self.position, 1 << 20))
            if not block:
                break
            self.line += block.count(b"\n")
            self.position += len(block)
        return self.line

    def close(self) -> None:
        self.file.close()


def _prepared_documents(folder: Path) -> Iterator[TextDocument]:
    """Decode a prepared folder's documents (train, then val) with its tokenizer."""
    from headstart.text.shards import TokenShards
    from headstart.tokenizer import load_tokenizer
    for split in ("train", "val"):
        shards = TokenShards(folder, split)
        tokenizer = load_tokenizer(shards.tokenizer_path)
        eos = shards.special_tokens["eos"]
        pending = np.empty(0, dtype=np.int64)
        number = 0
        for start in range(0, len(shards), _READ_TOKENS):
            tokens = np.concatenate([pending, shards.read(start, min(_READ_TOKENS, len(shards) - start))])
            ends = np.nonzero(tokens == eos)[0]
            begin = 0
            for end in ends.tolist():
                number += 1
                yield TextDocument(f"{folder}/{split}#{number}", tokenizer.decode(tokens[begin:end].tolist(),
                                                                                  skip_special_tokens=False))
                begin = end + 1
            pending = tokens[begin:]  # a document continued in the next read
        if len(pending):
            number += 1
            yield TextDocument(f"{folder}/{split}#{number}", tokenizer.decode(pending.tolist(), skip_special_tokens=False))
