"""Texts to classify, read lazily from a file or stdin: one per line, label-first, JSONL, TSV or CSV.  A line
that cannot be read becomes a skipped item naming it, never an error that stops the rest (``predict``, and
the unlabeled pools of semi-supervised fine-tuning)."""
from __future__ import annotations

import csv
import sys
from itertools import chain, islice
from pathlib import Path
from typing import Iterator, Optional

from ..classifier.io import InputItem
from ..errors import HeadstartError
from .readers import decode_line, open_binary, parse_json_object

FORMATS = ("auto", "lines", "tsv", "csv", "jsonl", "label-first")
_SUFFIX_FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}
SNIFF_LINES = 100


def read_texts(source: str, fmt: str, encoding: str, field: str, label_field: str,
               labels: set[str]) -> Iterator[InputItem]:
    """Items of one file (or ``-``, stdin): the texts, each named ``file:line``; a line that cannot be read
    is a skipped item, not an error.  ``auto`` reads .tsv/.csv/.jsonl by suffix; any other file is
    label-first (SST-2's ``1 a gripping film``) when every one of its first lines starts with one of the
    classifier's labels, else one text per line."""
    lines = _lines(source, encoding)
    if fmt == "auto":
        fmt = _SUFFIX_FORMATS.get(Path(source).suffix.lower())
        if fmt is None:
            head = list(islice(lines, SNIFF_LINES))
            firsts = [text.split(maxsplit=1) for _, text, problem in head if problem is None and text.strip()]
            fmt = "label-first" if firsts and all(len(f) == 2 and f[0] in labels for f in firsts) else "lines"
            lines = chain(head, lines)
    if fmt in ("tsv", "csv"):
        yield from _table(source, lines, field, label_field, fmt)
        return
    for number, text, problem in lines:
        name = f"{source}:{number}"
        if problem is not None or not text.strip():
            if problem is not None:
                yield InputItem(name, problem=problem)
            continue
        if fmt == "lines":
            yield InputItem(name, text.rstrip("\r\n"))
        elif fmt == "label-first":
            parts = text.strip().split(maxsplit=1)
            yield (InputItem(name, parts[1], label=parts[0]) if len(parts) == 2
                   else InputItem(name, problem="a label and no text"))
        else:
            yield _json_item(name, text, source, number, field, label_field)


def _lines(source: str, encoding: str) -> Iterator[tuple[int, str, Optional[str]]]:
    """(line number, decoded line, None) or (line number, "", why it cannot be read)."""
    stream = sys.stdin.buffer if source == "-" else open_binary(Path(source))
    try:
        for number, raw in enumerate(stream, start=1):
            try:
                line = decode_line(raw, encoding, Path(source), number)
            except HeadstartError as e:
                yield number, "", str(e).split(": ", 1)[-1]
                continue
            yield number, line.removeprefix("\ufeff") if number == 1 else line, None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _json_item(name: str, line: str, source: str, number: int, field: str, label_field: str) -> InputItem:
    try:
        record = parse_json_object(line, Path(source), number)
    except HeadstartError as e:
        return InputItem(name, problem=str(e).split(": ", 1)[-1])
    text, label = record.get(field), record.get(label_field)
    if not isinstance(text, str):
        return InputItem(name, problem=f"no text field {field!r}" if text is None else f"field {field!r} is not a string")
    return InputItem(name, text, label=None if label is None or isinstance(label, (dict, list)) else str(label))


def _table(source: str, lines, field: str, label_field: str, fmt: str) -> Iterator[InputItem]:
    """TSV (GLUE's: no quoting) or CSV with a header naming ``field`` (and optionally ``label_field``)."""
    problems: dict[int, str] = {}
    where = {"line": 0}

    def physical():
        for number, text, problem in lines:
            where["line"] = number
            if problem is not None:
                problems[number] = problem
            yield text

    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(physical(), delimiter="\t" if fmt == "tsv" else ",", quoting=quoting)
    try:
        header = [name.strip() for name in next(reader, [])]
        if field not in header:
            raise HeadstartError(f"{source}:1: no column {field!r} (columns: {', '.join(map(repr, header[:20]))}); "
                                 f"name the text column with --field")
        text_at, label_at = header.index(field), header.index(label_field) if label_field in header else None
        for row in reader:
            name, number = f"{source}:{where['line']}", where["line"]
            if number in problems:
                yield InputItem(name, problem=problems.pop(number))
            elif len(row) != len(header):
                if any(cell.strip() for cell in row):
                    yield InputItem(name, problem=f"{len(row)} fields, but the header names {len(header)}")
            else:
                yield InputItem(name, row[text_at], label=row[label_at] if label_at is not None else None)
    except csv.Error as e:
        raise HeadstartError(f"{source}:{where['line']}: malformed {fmt.upper()} ({e})") from None
