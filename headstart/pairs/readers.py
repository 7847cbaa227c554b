"""Image–caption pairs from WebDataset tar shards and from CSV/JSONL tables, read as a stream.

* **WebDataset shards** (``*.tar``): the members of one sample sit next to each other and share a
  key, the member's path up to the first dot of its file name (``00042.jpg`` and ``00042.txt`` are
  sample ``00042``), as in the WebDataset format.  The image is the ``jpg``/``jpeg``/``png``/``webp``
  member, the caption the ``txt`` one; other members (``json``...) are ignored.  A shard is read with
  ``tarfile`` in stream mode, so it is never unpacked to disk and never held whole in memory.
* **Tables** (``*.csv``, ``*.tsv``, ``*.jsonl``): one pair per row, an image path (relative to the
  table's folder) and a caption, in columns named by ``image_field`` and ``caption_field``.

Nothing is ever extracted, but a member whose name is absolute or climbs out with ``..``, and any
link or device member, is rejected all the same (counted under ``unsafe_member``): a shard holding one
was not written by a well-behaved tool, and the name would be a trap for anyone who unpacks it.

A reader yields ``RawPair`` for every sample and ``Skip`` (with a reason) for every sample it cannot
use; the caller counts them.  Problems with a whole input (missing file, missing column) are one-line
``HeadstartError``s.
"""
from __future__ import annotations

import csv
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from headstart.errors import HeadstartError
from headstart.path_kind import not_an_input
from headstart.text.readers import parse_json_object

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
SHARD_SUFFIXES = (".tar",)


@dataclass
class RawPair:
    key: str  # where it came from: "shard.tar:000042" or "pairs.csv:17"
    image: Union[bytes, Path]  # the encoded image, or the path of the image file
    caption: str


@dataclass
class Skip:
    key: str
    reason: str  # a short tag, counted: missing_caption, missing_image, unsafe_member, ...
    detail: str = ""


def find_inputs(inputs: Iterable[Union[str, Path]]) -> list[Path]:
    """The shards and tables named, folders searched (sorted) for ``*.tar``, ``*.csv``, ``*.tsv``, ``*.jsonl``."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in SHARD_SUFFIXES + TABLE_SUFFIXES)
        elif item.is_file():
            if item.suffix.lower() not in SHARD_SUFFIXES + TABLE_SUFFIXES:
                raise HeadstartError(f"{item}: not a pair source; expected a WebDataset .tar shard or a "
                                     f".csv, .tsv or .jsonl table of image paths and captions")
            found.append(item)
        else:
            raise not_an_input(item)
    if not found:
        raise HeadstartError(f"no .tar, .csv, .tsv or .jsonl files in {', '.join(map(str, inputs))}")
    return found


def read_pairs(path: Path, *, image_field: str = "image", caption_field: str = "caption") -> Iterator[Union[RawPair, Skip]]:
    if path.suffix.lower() in SHARD_SUFFIXES:
        return read_shard(path)
    return read_table(path, image_field=image_field, caption_field=caption_field)


# ---- WebDataset shards ------------------------------------------------------------------------------
def unsafe_member(member: tarfile.TarInfo) -> Optional[str]:
    """Why a tar member must not be read, or None: links, devices, absolute names and ``..``."""
    if not (member.isfile() or member.isdir()):
        return "a link or special file"
    name = member.name.replace("\\", "/")
    if name.startswith("/") or name[1:2] == ":":  # POSIX root or a Windows drive
        return "an absolute path"
    if ".." in name.split("/"):
        return "a path with '..'"
    return None


def _split_key(name: str) -> tuple[str, str]:
    """WebDataset's rule: the key is the path up to the first dot of the file name; the rest is the field."""
    folder, _, base = name.rpartition("/")
    stem, dot, field = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), field.lower() if dot else ""


def read_shard(path: Path) -> Iterator[Union[RawPair, Skip]]:
    try:
        archive = tarfile.open(path, mode="r|*")
    except (tarfile.TarError, OSError) as error:
        yield Skip(str(path), "unreadable_shard", str(error))
        return
    key, fields = None, {}
    with archive:
        try:
            for member in archive:
                if member.isdir():
                    continue
                problem = unsafe_member(member)
                if problem:
                    yield Skip(f"{path.name}:{member.name}", "unsafe_member", problem)
                    continue
                member_key, field = _split_key(member.name)
                if member_key != key:
                    if key is not None:
                        yield _sample(path, key, fields)
                    key, fields = member_key, {}
                handle = archive.extractfile(member)
                fields[field] = handle.read() if handle is not None else b""
        except (tarfile.TarError, OSError, EOFError) as error:
            # A cut-off download: the samples before the damage are kept, the rest of the shard is lost.
            yield Skip(str(path), "unreadable_shard", f"{type(error).__name__}: {error}")
            return
    if key is not None:
        yield _sample(path, key, fields)


def _sample(path: Path, key: str, fields: dict[str, bytes]) -> Union[RawPair, Skip]:
    where = f"{path.name}:{key}"
    image = next((fields[ext] for ext in IMAGE_EXTENSIONS if ext in fields), None)
    if image is None:
        return Skip(where, "missing_image", f"no {'/'.join(IMAGE_EXTENSIONS)} member")
    if "txt" not in fields:
        return Skip(where, "missing_caption", "no txt member")
    try:
        caption = fields["txt"].decode("utf-8")
    except UnicodeDecodeError as error:
        return Skip(where, "caption_not_utf8", f"byte {error.start}")
    return _checked(RawPair(where, image, caption))


def _checked(pair: RawPair) -> Union[RawPair, Skip]:
    caption = " ".join(pair.caption.split())
    if not caption:
        return Skip(pair.key, "empty_caption")
    pair.caption = caption
    return pair


# ---- CSV / TSV / JSONL tables -----------------------------------------------------------------------
def read_table(path: Path, *, image_field: str, caption_field: str) -> Iterator[Union[RawPair, Skip]]:
    rows = _jsonl_rows(path) if path.suffix.lower() == ".jsonl" else _csv_rows(path, image_field, caption_field)
    for line, row in rows:
        where = f"{path.name}:{line}"
        image, caption = row.get(image_field), row.get(caption_field)
        if not isinstance(image, str) or not image.strip():
            yield Skip(where, "missing_image", f"no {image_field!r} value")
            continue
        if not isinstance(caption, str):
            yield Skip(where, "missing_caption", f"no {caption_field!r} value")
            continue
        image_path = Path(image.strip())
        image_path = image_path if image_path.is_absolute() else path.parent / image_path
        if not _is_file(image_path):
            yield Skip(where, "missing_image", f"{image_path} not found")
            continue
        yield _checked(RawPair(where, image_path, caption))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, say: no such image either way
        return False


def _csv_rows(path: Path, image_field: str, caption_field: str) -> Iterator[tuple[int, dict]]:
    reader = None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            columns = reader.fieldnames or []
            for column in (image_field, caption_field):
                if column not in columns:
                    named = ", ".join(repr(c) for c in columns) or "none"  # repr: a quoted name may hold a newline
                    raise HeadstartError(f"{path}: no column {column!r} (columns: {named}); "
                                         f"name the columns with --image-field and --caption-field")
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as error:
        raise HeadstartError(f"{path}: not UTF-8 (byte {error.start}); re-save the table as UTF-8") from None
    except csv.Error as error:  # a field over the csv module's size limit: not a table of captions
        line = reader.line_num + 1 if reader is not None else 1  # the line being read when it failed
        raise HeadstartError(f"{path}:{line}: malformed table ({error})") from None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                yield number, parse_json_object(line, path, number)
    except UnicodeDecodeError as error:
        raise HeadstartError(f"{path}: not UTF-8 (byte {error.start}); re-save the file as UTF-8") from None
