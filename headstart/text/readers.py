"""Streaming document readers for plain text, JSON Lines and Parquet.

Nothing here reads a whole file into memory (except a single document in ``doc_unit="file"`` mode,
which has to be held anyway).  Text and JSONL files are read line by line *in binary* and each line is
decoded on its own, so that a decoding error can name the exact line, column and byte.

A byte-order mark says what a file is: a UTF-8 one is dropped, and a UTF-16 or UTF-32 one read with
another encoding is an error naming the encoding (not "NUL byte", which every such file has).
``--encoding utf-16`` reads UTF-16: its lines are split on the two-byte newline (``numbered_lines``).
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from headstart.errors import HeadstartError
from headstart.path_kind import check_readable_file, not_an_input

FORMATS = ("auto", "text", "jsonl", "parquet")
DOC_UNITS = ("file", "paragraph", "line")
_SUFFIX_FORMATS = {
    ".txt": "text", ".text": "text", ".md": "text",
    ".jsonl": "jsonl", ".json": "jsonl",
    ".parquet": "parquet",
}
_READ_BUFFER = 1 << 20


@dataclass(frozen=True)
class InputFile:
    path: Path
    fmt: str  # "text", "jsonl" or "parquet"
    size: int  # bytes on disk; known up front so progress and --val-from-end need no extra pass


class Document(NamedTuple):
    text: str
    offset: int  # byte offset in its file where the document starts (for --val-from-end)


def find_input_files(paths: Iterable[str | os.PathLike], fmt: str = "auto") -> list[InputFile]:
    """Expand files and folders into the list of files to read, in a deterministic order.

    Folders are walked recursively in sorted order, skipping hidden entries (``.git``...).  With
    ``fmt="auto"`` a folder contributes only files with a known suffix; with an explicit format it
    contributes every file.  A file named explicitly is always read; with ``fmt="auto"`` and an
    unknown suffix it is read as plain text (``TREC.train.all``, ``input``).
    """
    if fmt not in FORMATS:
        raise HeadstartError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    found: list[InputFile] = []
    seen: set[Path] = set()

    def add(path: Path, file_fmt: str) -> None:
        key = path.resolve()
        if key not in seen:  # the same file named twice would be counted twice
            seen.add(key)
            try:
                size = path.stat().st_size
            except OSError as error:
                raise HeadstartError(f"{path}: cannot read ({error.strerror or error})") from None
            found.append(InputFile(path, file_fmt, size))

    for given in paths:
        root = Path(given)
        if root.is_file():
            add(root, fmt if fmt != "auto" else _SUFFIX_FORMATS.get(root.suffix.lower(), "text"))
        elif root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root).parts
                if any(part.startswith(".") for part in relative) or not path.is_file():
                    continue
                file_fmt = fmt if fmt != "auto" else _SUFFIX_FORMATS.get(path.suffix.lower())
                if file_fmt is not None:
                    add(path, file_fmt)
        else:
            raise not_an_input(root)
    if not found:
        suffixes = ", ".join(sorted(_SUFFIX_FORMATS))
        raise HeadstartError(
            f"no input files found in {', '.join(map(str, paths)) or '(no paths given)'} "
            f"(folders are searched for {suffixes}; pass --format to read other files)"
        )
    return found


def check_encoding(encoding: str, *, utf16: bool = False) -> None:
    """Refuse encodings that cannot be split into lines on the byte b"\\n": UTF-32 always, and UTF-16
    unless the caller reads its lines with ``numbered_lines`` (``utf16=True``), which splits UTF-16 too."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise HeadstartError(f"--encoding {encoding}: unknown encoding") from None
    if name.startswith("utf-32") or (name.startswith("utf-16") and not utf16):
        raise HeadstartError(
            f"--encoding {encoding}: only ASCII-compatible encodings{' and UTF-16' if utf16 else ''} can be read "
            f"line by line; convert the files to UTF-8 first (iconv -f {encoding} -t utf-8)"
        )


# Longest first: UTF-32 LE's mark begins with UTF-16 LE's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "UTF-32 LE", "utf-32-le"), (codecs.BOM_UTF32_BE, "UTF-32 BE", "utf-32-be"),
                    (codecs.BOM_UTF8, "UTF-8", "utf-8"), (codecs.BOM_UTF16_LE, "UTF-16 LE", "utf-16-le"),
                    (codecs.BOM_UTF16_BE, "UTF-16 BE", "utf-16-be"))


def byte_order_mark(start: bytes) -> tuple[bytes, str, str] | None:
    """(the mark, its encoding's name for people, its codec) for bytes that begin with a byte-order mark."""
    return next((mark for mark in BYTE_ORDER_MARKS if start.startswith(mark[0])), None)


def _wrong_encoding(path: Path, mark: tuple[bytes, str, str], encoding: str) -> HeadstartError:
    how = (f"convert it first (iconv -f {mark[1].replace(' ', '')} -t utf-8)" if mark[2].startswith("utf-32")
           else f"pass --encoding {mark[2][:6]} (task.encoding in a finetune config)")
    return HeadstartError(f"{path}: {mark[1]} text (it starts with the byte-order mark {mark[0].hex(' ').upper()}), "
                          f"not {encoding}; {how}")


def read_documents(file: InputFile, *, field: str = "text", doc_unit: str = "paragraph",
                   encoding: str = "utf-8") -> Iterator[Document]:
    """Yield the documents of one file, in order.  Bad input raises HeadstartError naming file:line."""
    if file.fmt == "text":
        return _read_text(file.path, doc_unit, encoding)
    if file.fmt == "jsonl":
        return _read_jsonl(file.path, field, encoding)
    if file.fmt == "parquet":
        return _read_parquet(file, field)
    raise ValueError(f"unknown format {file.fmt!r}")


def find_problem(file: InputFile, *, field: str, doc_unit: str, encoding: str) -> str | None:
    """Read a file through once and return the error it would raise, or None if it is readable.

    Used by ``--on-bad-file skip`` so that a bad file is skipped *whole*, before any of its documents
    have been written.  Plain text gets a fast path: NUL bytes and decoding are checked on 1 MB blocks
    at C speed, and only a file that fails is re-read line by line to locate the problem.
    """
    if file.fmt == "text" and _text_blocks_are_clean(file.path, encoding):
        return None
    try:
        for _ in read_documents(file, field=field, doc_unit=doc_unit, encoding=encoding):
            pass
    except HeadstartError as error:
        return str(error)
    return None


def _text_blocks_are_clean(path: Path, encoding: str) -> bool:
    if codecs.lookup(encoding).name.startswith("utf-16"):
        return False  # NUL bytes are normal there: the line-by-line read checks the decoded text
    decoder = codecs.getincrementaldecoder(encoding)()
    with open_binary(path) as f:
        first = True
        while block := f.read(_READ_BUFFER):
            if first and byte_order_mark(block) is not None:
                return False  # the line-by-line read drops a UTF-8 mark or names the encoding of another
            first = False
            if b"\0" in block:
                return False
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def decode_line(raw: bytes, encoding: str, path: Path, line_number: int) -> str:
    # Only ASCII-compatible encodings come here: a UTF-16 or UTF-32 mark says the file is not one.
    if line_number == 1 and (mark := byte_order_mark(raw)) is not None and mark[2] != "utf-8":
        raise _wrong_encoding(path, mark, encoding)
    if b"\0" in raw:
        raise HeadstartError(f"{path}:{line_number}: binary data (NUL byte) in a text file")
    return _decoded(raw, encoding, path, line_number)


def _decoded(raw: bytes, encoding: str, path: Path, line_number: int) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        bad_byte = raw[error.start]
        hint = ""
        if codecs.lookup(encoding).name == "utf-8":
            hint = "; if the file is Latin-1, pass --encoding latin-1 (task.encoding in a finetune config)"
        raise HeadstartError(
            f"{path}:{line_number}: invalid {encoding} (byte 0x{bad_byte:02x} at column "
            f"{error.start + 1}){hint}"
        ) from None


def numbered_lines(path: Path, encoding: str) -> Iterator[tuple[int, int, str]]:
    """Yield (line_number, byte_offset, decoded_line) with the line ending kept; a byte-order mark that
    agrees with ``encoding`` is dropped, one that does not is an error naming the file's encoding."""
    codec = codecs.lookup(encoding).name
    if codec.startswith("utf-16"):
        yield from _utf16_lines(path, codec)
        return
    offset = 0
    with open_binary(path) as f:
        for line_number, raw in enumerate(f, start=1):
            line = decode_line(raw, encoding, path, line_number)
            yield line_number, offset, line.removeprefix("\ufeff") if line_number == 1 else line
            offset += len(raw)


def _utf16_lines(path: Path, codec: str) -> Iterator[tuple[int, int, str]]:
    """UTF-16 lines: split on the code unit 0x000A at even offsets (no surrogate half equals it).  Plain
    "utf-16" takes its byte order from the mark, little-endian without one (what Windows writes)."""
    with open_binary(path) as f:
        buffer = f.read(_READ_BUFFER)
        mark = byte_order_mark(buffer[:4])
        if mark is not None and not mark[2].startswith("utf-16"):
            raise _wrong_encoding(path, mark, codec)
        if codec == "utf-16":
            codec = mark[2] if mark is not None else "utf-16-le"
        elif mark is not None and mark[2] != codec:
            raise _wrong_encoding(path, mark, codec)
        newline = "\n".encode(codec)
        skip = 2 if mark is not None else 0  # the mark is not text: dropped, but counted in the offsets
        line_number, offset, start = 0, 0, 0
        while True:
            search = start
            while (end := buffer.find(newline, search)) != -1:
                if (end - start) % 2:  # the second byte of one unit and the first of the next
                    search = end + 1
                    continue
                line_number += 1
                yield line_number, offset, _utf16_text(buffer[start + skip:end + 2], codec, path, line_number)
                offset += end + 2 - start
                start = search = end + 2
                skip = 0
            more = f.read(_READ_BUFFER)
            if not more:
                break
            buffer, start = buffer[start:] + more, 0
        if start + skip < len(buffer):  # a last line without a newline (a mark alone is no line)
            yield line_number + 1, offset, _utf16_text(buffer[start + skip:], codec, path, line_number + 1)


def _utf16_text(raw: bytes, codec: str, path: Path, line_number: int) -> str:
    text = _decoded(raw, codec, path, line_number)
    if "\0" in text:
        raise HeadstartError(f"{path}:{line_number}: binary data (NUL character) in a text file")
    return text


def open_binary(path: Path):
    check_readable_file(path)
    try:
        return open(path, "rb", buffering=_READ_BUFFER)
    except OSError as error:  # vanished since the folder walk, permissions
        raise HeadstartError(f"{path}: cannot read ({error.strerror or error})") from None


def _read_text(path: Path, doc_unit: str, encoding: str) -> Iterator[Document]:
    if doc_unit not in DOC_UNITS:
        raise HeadstartError(f"--doc-unit {doc_unit}: expected one of {', '.join(DOC_UNITS)}")
    if doc_unit == "file":
        lines = [line for _, _, line in numbered_lines(path, encoding)]
        if lines:
            yield Document("".join(lines), 0)
        return
    if doc_unit == "line":
        for _, offset, line in numbered_lines(path, encoding):
            if line.strip():
                yield Document(line.rstrip("\r\n"), offset)
        return
    # Paragraphs: runs of non-blank lines; a blank (whitespace-only) line ends a paragraph.
    paragraph: list[str] = []
    start = 0
    for _, offset, line in numbered_lines(path, encoding):
        if line.strip():
            if not paragraph:
                start = offset
            paragraph.append(line)
        elif paragraph:
            yield Document("".join(paragraph).rstrip("\r\n"), start)
            paragraph = []
    if paragraph:
        yield Document("".join(paragraph).rstrip("\r\n"), start)


def _read_jsonl(path: Path, field: str, encoding: str) -> Iterator[Document]:
    json_hint = " (.json files are read as JSON Lines: one object per line)" if path.suffix == ".json" else ""
    for line_number, offset, line in numbered_lines(path, encoding):
        if not line.strip():
            continue
        record = parse_json_object(line, path, line_number, json_hint)
        if field not in record:
            fields = ", ".join(map(repr, list(record)[:10])) or "none"
            raise HeadstartError(
                f"{path}:{line_number}: no field {field!r} (fields: {fields}); pass --field NAME"
            )
        text = record[field]
        if not isinstance(text, str):
            raise HeadstartError(
                f"{path}:{line_number}: field {field!r} is {_json_type(text)}, expected a string"
            )
        yield Document(text, offset)


def parse_json_object(line: str, path: Path, line_number: int, hint: str = "") -> dict:
    """One JSON Lines record; a HeadstartError naming file and line when it is not a JSON object."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise HeadstartError(f"{path}:{line_number}: invalid JSON ({error.msg} at column {error.colno}){hint}") from None
    except (ValueError, RecursionError) as error:  # a number of over 4300 digits, arrays nested thousands deep
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).split(":")[0]
        raise HeadstartError(f"{path}:{line_number}: unreadable JSON ({reason}){hint}") from None
    if not isinstance(record, dict):
        raise HeadstartError(f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}{hint}")
    return record


def _json_type(value: object) -> str:
    return "null" if value is None else {dict: "an object", list: "an array", bool: "a boolean"}.get(
        type(value), f"a number ({value!r})")


def _read_parquet(file: InputFile, field: str) -> Iterator[Document]:
    try:  # imported lazily: pyarrow is an optional dependency, only Parquet input needs it
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise HeadstartError(
            f"{file.path}: reading Parquet needs pyarrow: pip install pyarrow"
        ) from None
    try:
        parquet = pq.ParquetFile(file.path)
    except (pa.ArrowException, OSError) as error:
        raise HeadstartError(f"{file.path}: not a readable Parquet file ({error})") from None
    schema = parquet.schema_arrow
    if field not in schema.names:
        columns = ", ".join(map(repr, schema.names[:20]))
        raise HeadstartError(f"{file.path}: no column {field!r} (columns: {columns}); pass --field NAME")
    column_type = schema.field(field).type
    if pa.types.is_dictionary(column_type):  # e.g. a pandas "category" column; values read as str
        column_type = column_type.value_type
    if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
        raise HeadstartError(f"{file.path}: column {field!r} has type {column_type}, expected string")
    # Parquet has no line offsets; a row's position is estimated as its fraction of the file size,
    # which is what --val-from-end needs.
    total_rows = max(parquet.metadata.num_rows, 1)
    row = 0
    for batch in parquet.iter_batches(columns=[field], batch_size=1024):
        for text in batch.column(0).to_pylist():
            if text is None:
                raise HeadstartError(f"{file.path}: row {row + 1}: column {field!r} is null")
            yield Document(text, file.size * row // total_rows)
            row += 1
