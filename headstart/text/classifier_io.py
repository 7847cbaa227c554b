"""Text classifiers for ``headstart predict`` / ``evaluate`` / ``load_classifier``: the saved tokenizer
and head settings, and texts read from files one line at a time (inputs larger than memory stream)."""
from __future__ import annotations

import csv
import sys
from itertools import chain, islice
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..classifier.io import ClassifierIO, InputItem, inference_config
from ..errors import HeadstartError
from ..models import TextTransformer, TransformerConfig
from ..models.word_vectors import WordVectorModel, WordVectorsConfig
from .finetune_task import TextBackbone
from .labeled import LabeledTexts
from .readers import check_encoding, decode_line, open_binary, parse_json_object
from .tokenizer import load_tokenizer
from .word_vector_task import WordVectorBackbone

FORMATS = ("auto", "lines", "tsv", "csv", "jsonl", "label-first")
_SUFFIX_FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}
SNIFF_LINES = 100


class IO(ClassifierIO):
    def record(self, backbone, cfg) -> tuple[dict, dict[str, Path]]:
        word_vectors = isinstance(backbone, WordVectorBackbone)
        model = backbone.model.cfg.model_dump(mode="json")
        if not word_vectors:
            model = {"kind": "transformer", **model}
        max_length = cfg.task.max_length if word_vectors else backbone.max_length
        return ({"model": model, "head": {"pooling": backbone.pooling, "feature_norm": word_vectors},
                 "inputs": {"tokenizer": "tokenizer.json", "max_length": max_length}},
                backbone.checkpoint_files(cfg.run_dir))

    def backbone(self, meta: dict, folder: Path):
        record = dict(meta["model"])
        tokenizer = load_tokenizer(folder / meta["inputs"]["tokenizer"])
        cfg = inference_config(folder, pooling=meta["head"]["pooling"], max_length=meta["inputs"]["max_length"])
        if record.get("kind") == "word_vectors":
            return WordVectorBackbone(WordVectorModel(WordVectorsConfig(**record)), tokenizer, str(folder), cfg)
        record.pop("kind", None)
        return TextBackbone(TextTransformer(TransformerConfig(**record)), tokenizer, str(folder), cfg)

    def from_python(self, meta: dict, inputs: Sequence) -> Iterator[InputItem]:
        for i, text in enumerate(inputs):
            yield (InputItem(f"input {i}", text) if isinstance(text, str)
                   else InputItem(f"input {i}", problem=f"a text classifier takes strings, not {type(text).__name__}"))

    def from_sources(self, meta: dict, sources: Sequence[str], options: dict) -> Iterator[InputItem]:
        fmt, encoding = options.get("format", "auto"), options.get("encoding", "utf-8")
        if fmt not in FORMATS:
            raise HeadstartError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
        check_encoding(encoding)
        for source in sources:
            if source != "-":
                _check_text_file(Path(source))
        for source in sources:
            yield from read_texts(source, fmt, encoding, options.get("field", "text"),
                                  options.get("label_field", "label"), set(meta["labels"]))

    def length(self, example: str) -> int:
        return len(example)

    def data(self, examples: list, labels: Sequence[int]) -> LabeledTexts:
        return LabeledTexts(list(examples), list(labels), [], "inputs")


def _check_text_file(path: Path) -> None:
    """Refuse, before predicting anything, a path that is no file of text: an image or a sound file given
    to a text classifier would otherwise become rows of skipped 'lines'."""
    if not path.is_file():
        raise HeadstartError(f"{path}: {'a folder' if path.is_dir() else 'no such file'}; a text classifier reads "
                             f"files of texts (one per line, label-first, TSV, CSV, JSONL) or - (stdin)")
    with open_binary(path) as f:
        head = f.read(8192)
    if b"\0" in head:
        hint = " (UTF-16 text: convert it to UTF-8)" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise HeadstartError(f"{path}: binary data, not text{hint}; this classifier takes text (is it an image or "
                             f"a sound file?)")


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
