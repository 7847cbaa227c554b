"""Labeled text for fine-tuning and probes: TSV, CSV, JSON Lines, and ``<label> <text>`` lines.

``read_labeled`` returns a ``LabeledTexts`` whose labels are integer ids into ``label_names``.  The ids
are assigned by sorting the label strings (numerically when every label looks like a number, so "10"
comes after "9"), never by the order of first appearance: the same set of labels always gets the
same ids, whichever example happens to come first in a file.

A test set must use the training set's ids: ``align_labels(train, test)`` maps it, and refuses a label
the model never saw in training.  ``headstart.label_budget.stratified_subset`` draws the few-label budgets.

Files are read line by line in binary and each line is decoded on its own (as ``prepare text`` does),
so a decoding error names the exact file, line and byte.

A label-first file has no header to check lines against, so a sentence that lost its label would
silently become a class named after its first word.  Labels have a shape, though: when most of a file's
labels are numbers (SST-2's 0/1), or ``COARSE:fine`` (TREC), a label of another shape is an error
naming its line.  Free-word labels (positive/negative) cannot be told from a first word this way.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


from headstart.errors import HeadstartError
from headstart.text.readers import check_encoding, numbered_lines, parse_json_object

FORMATS = ("auto", "tsv", "csv", "jsonl", "label-first")
_SUFFIX_FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}


@dataclass
class LabeledTexts:
    texts: list[str]
    labels: list[int]  # ids into label_names
    label_names: list[str]
    source: str  # the file read, for messages
    line_numbers: list[int] = field(default_factory=list)  # where each example starts, for messages

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "LabeledTexts":
        """The examples at ``indices``, with the same label names."""
        return LabeledTexts([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                            self.label_names, self.source,
                            [self.line_numbers[i] for i in indices] if self.line_numbers else [])

    def concat(self, other: "LabeledTexts") -> "LabeledTexts":
        """These examples, then ``other``'s (aligned to the same label ids)."""
        lines = self.line_numbers + other.line_numbers if self.line_numbers and other.line_numbers else []
        source = self.source if other.source == self.source else f"{self.source} + {other.source}"
        return LabeledTexts(self.texts + other.texts, self.labels + other.labels, self.label_names, source, lines)


def read_labeled(path: str | Path, *, fmt: str = "auto", text_field: str = "text",
                 label_field: str = "label", encoding: str = "utf-8") -> LabeledTexts:
    """Read one labeled file.  ``fmt="auto"`` picks by suffix (.tsv, .csv, .jsonl), else label-first.

    TSV and CSV have a header row naming the columns.  TSV is read without quote processing, as the
    GLUE files are written (a ``"`` inside a sentence is just a character); CSV follows the csv module's
    default dialect, so quoted fields may hold commas and newlines.  Label-first lines are
    ``<label> <text>`` split at the first run of whitespace (SST-2's stsa.binary.*, TREC.*.all).
    Blank lines are skipped.  Problems raise ``HeadstartError`` naming file and line.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise HeadstartError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    check_encoding(encoding, utf16=True)
    if fmt == "auto":
        fmt = _SUFFIX_FORMATS.get(path.suffix.lower(), "label-first")
    if fmt == "label-first":
        rows = _label_first_rows(path, encoding)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path, encoding, text_field, label_field)
    else:
        rows = _table_rows(path, encoding, text_field, label_field, delimiter="\t" if fmt == "tsv" else ",")

    texts, raw_labels, line_numbers = [], [], []
    for line_number, text, label in rows:
        if not label.strip():
            raise HeadstartError(f"{path}:{line_number}: empty label")
        if not text.strip():
            raise HeadstartError(f"{path}:{line_number}: empty text (label {label!r})")
        texts.append(text)
        raw_labels.append(label.strip())
        line_numbers.append(line_number)
    if not texts:
        raise HeadstartError(f"{path}: no labeled examples (the file is empty or holds only a header)")
    if fmt == "label-first":
        _check_label_shapes(path, raw_labels, line_numbers)

    label_names = sorted_label_names(raw_labels)
    ids = {name: i for i, name in enumerate(label_names)}
    return LabeledTexts(texts, [ids[label] for label in raw_labels], label_names, str(path), line_numbers)


def sorted_label_names(labels: Sequence[str]) -> list[str]:
    """The distinct labels, sorted numerically if all look like numbers ("2" < "10"), else as strings."""
    distinct = set(labels)
    if all(_as_number(label) is not None for label in distinct):
        return sorted(distinct, key=lambda label: (_as_number(label), label))
    return sorted(distinct)


def align_labels(train: LabeledTexts, test: LabeledTexts) -> LabeledTexts:
    """Return ``test`` relabeled with ``train``'s ids and label names.

    A test label that never occurs in training is an error, not a new class: the classifier has no
    output for it, and silently dropping those examples would inflate accuracy.
    """
    train_ids = {name: i for i, name in enumerate(train.label_names)}
    labels = []
    for position, label in enumerate(test.labels):
        name = test.label_names[label]
        if name not in train_ids:
            line = test.line_numbers[position] if test.line_numbers else position + 1
            known = ", ".join(repr(n) for n in train.label_names[:20])
            more = f" and {len(train.label_names) - 20} more" if len(train.label_names) > 20 else ""
            raise HeadstartError(
                f"{test.source}:{line}: label {name!r} never appears in the training set "
                f"{train.source} (training labels: {known}{more})"
            )
        labels.append(train_ids[name])
    return LabeledTexts(list(test.texts), labels, list(train.label_names), test.source,
                        list(test.line_numbers))


def _as_number(label: str) -> float | None:
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line_number, decoded line with its ending); a BOM on line 1 is dropped."""
    for line_number, _, line in numbered_lines(path, encoding):
        yield line_number, line


def _label_first_rows(path: Path, encoding: str) -> Iterator[tuple[int, str, str]]:
    for line_number, line in _lines(path, encoding):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2:
            raise HeadstartError(
                f"{path}:{line_number}: empty text: expected '<label> <text>', got {line.strip()[:40]!r}"
            )
        yield line_number, parts[1], parts[0]


LABEL_SHAPES = {"a number": re.compile(r"[-+]?\d+"), "COARSE:fine": re.compile(r"[^:\s]+:[^:\s]+")}


def _check_label_shapes(path: Path, labels: list[str], line_numbers: list[int]) -> None:
    """Refuse a label unlike most of the file's (see the module docstring): a line without its label."""
    shapes = [next((name for name, pattern in LABEL_SHAPES.items() if pattern.fullmatch(label)), None)
              for label in labels]
    shape, count = Counter(shapes).most_common(1)[0]
    if shape is None or count == len(labels) or count * 2 <= len(labels):
        return  # free-word labels, all of one shape, or no shape most of them share
    odd = next(i for i, other in enumerate(shapes) if other != shape)
    usual = sorted_label_names([label for label, other in zip(labels, shapes) if other == shape])
    raise HeadstartError(
        f"{path}:{line_numbers[odd]}: label {labels[odd]!r} is not {shape} like the file's other labels "
        f"({', '.join(map(repr, usual[:5]))}{', ...' if len(usual) > 5 else ''}); expected '<label> <text>': "
        f"is the label missing from this line?")


def _jsonl_rows(path: Path, encoding: str, text_field: str,
                label_field: str) -> Iterator[tuple[int, str, str]]:
    for line_number, line in _lines(path, encoding):
        if not line.strip():
            continue
        record = parse_json_object(line, path, line_number)
        for name in (text_field, label_field):
            if name not in record:
                fields = ", ".join(map(repr, list(record)[:20])) or "none"
                raise HeadstartError(f"{path}:{line_number}: no field {name!r} (fields: {fields})")
        text, label = record[text_field], record[label_field]
        if not isinstance(text, str):
            raise HeadstartError(f"{path}:{line_number}: field {text_field!r} is not a string")
        # Labels may be strings or integers in JSON; floats and booleans are almost always a mistake.
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise HeadstartError(
                f"{path}:{line_number}: field {label_field!r} is {json.dumps(label)[:40]}, "
                f"expected a string or an integer")
        yield line_number, text, str(label)


def _table_rows(path: Path, encoding: str, text_field: str, label_field: str,
                delimiter: str) -> Iterator[tuple[int, str, str]]:
    lines = _lines(path, encoding)
    position = {"line": 0}

    def physical_lines() -> Iterator[str]:  # the csv reader pulls lines; we remember the line number
        for line_number, line in lines:
            position["line"] = line_number
            yield line

    kind, quoting = ("TSV", csv.QUOTE_NONE) if delimiter == "\t" else ("CSV", csv.QUOTE_MINIMAL)
    reader = csv.reader(physical_lines(), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        header_line = position["line"]
        for name in (text_field, label_field):
            if name not in header:
                columns = ", ".join(map(repr, header[:20]))
                raise HeadstartError(f"{path}:{header_line}: no column {name!r} (columns: {columns})")
        text_column, label_column = header.index(text_field), header.index(label_field)
        start = position["line"] + 1
        for row in reader:
            if row and any(cell.strip() for cell in row):
                if len(row) != len(header):
                    raise HeadstartError(
                        f"{path}:{start}: {len(row)} fields, but the header on line {header_line} "
                        f"names {len(header)}")
                yield start, row[text_column], row[label_column]
            start = position["line"] + 1
    except csv.Error as error:
        raise HeadstartError(f"{path}:{position['line']}: malformed {kind} ({error})") from None
