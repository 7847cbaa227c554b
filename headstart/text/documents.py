"""The documents of raw text or of a prepared text folder, one at a time: what the audit and the contamination
check read.

Raw text goes through ``headstart.text.readers`` (and ``clean_text``), so formats, encodings, JSON
fields and errors are exactly those of ``prepare text``.  A prepared folder is decoded back to text
from its token shards with its own tokenizer, a document at a time (documents end at EOS), so the
audit can check what a model was actually trained on.  Either way documents stream: one at a time.

Each document gets a readable name for the report: ``file`` (one document a file), ``file:LINE``
(paragraphs, lines, JSON Lines records), ``file#ROW`` (Parquet) or ``prepared/train#N``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import HeadstartError
from ..output_folder import read_format
from .cleaning import clean_text
from .readers import check_encoding, find_input_files, open_binary, read_documents

_READ_TOKENS = 1 << 20  # tokens read from the shards at a time


class TextDocument(NamedTuple):
    name: str
    text: str  # cleaned as prepare cleans it


def text_documents(inputs: Iterable[str | Path], *, fmt: str = "auto", field: str = "text",
                   doc_unit: str = "file", encoding: str = "utf-8",
                   fold_whitespace: bool = True) -> Iterator[TextDocument]:
    """Every non-empty document of raw text inputs or of prepared text folders, cleaned, in order."""
    check_encoding(encoding)
    raw: list[Path] = []
    for given in map(Path, inputs):
        fmt_name = read_format(given)
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
    from ..tokenizer import load_tokenizer
    from .shards import TokenShards
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
