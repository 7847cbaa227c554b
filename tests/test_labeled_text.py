"""Labeled text: reading TSV/CSV/JSONL/label-first files, aligning test labels, label-budget subsets.

Tests that use the shared real data sets skip when ../shared/data is absent (a fresh checkout).
"""

from __future__ import annotations


import numpy as np
import pytest

from headstart.errors import HeadstartError
from headstart.label_budget import stratified_subset
from headstart.text.labeled import align_labels, read_labeled

from helpers import shared, write


def test_every_format_reads_to_the_same_examples(tmp_path):
    expected = (["good film", "bad, \"very\" bad", "fine"], ["pos", "neg", "pos"])
    files = {
        "tsv": write(tmp_path / "a.tsv", 'text\tlabel\ngood film\tpos\nbad, "very" bad\tneg\nfine\tpos\n'),
        "csv": write(tmp_path / "a.csv", 'label,text\npos,good film\nneg,"bad, ""very"" bad"\npos,fine\n'),
        "jsonl": write(tmp_path / "a.jsonl", '{"text": "good film", "label": "pos"}\n'
                                             '{"text": "bad, \\"very\\" bad", "label": "neg"}\n\n'
                                             '{"text": "fine", "label": "pos"}\n'),
        "label-first": write(tmp_path / "a.txt", 'pos good film\nneg bad, "very" bad\n\npos fine\n'),
    }
    for fmt, path in files.items():
        data = read_labeled(path)
        assert data.texts == expected[0], fmt
        assert data.label_names == ["neg", "pos"], fmt  # sorted, not first-seen
        assert [data.label_names[i] for i in data.labels] == expected[1], fmt
        assert data.source == str(path)


def test_custom_column_names_and_numeric_label_order(tmp_path):
    path = write(tmp_path / "glue.tsv", "sentence\tclass\nx\t10\ny\t9\nz\t2\n")
    data = read_labeled(path, text_field="sentence", label_field="class")
    assert data.label_names == ["2", "9", "10"]  # numerically, not "10" < "2"
    assert data.labels == [2, 1, 0]


def test_jsonl_integer_labels(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')
    assert read_labeled(path).label_names == ["0", "1"]


def test_csv_field_spanning_lines_reports_the_line_it_starts_on(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\n"two\nlines",a\n"",b\n')
    with pytest.raises(HeadstartError, match=r"a\.csv:4: empty text"):
        read_labeled(path)


@pytest.mark.parametrize("name, content, message", [
    ("a.tsv", "sentence\tlabel\nx\t1\n", r"a\.tsv:1: no column 'text' \(columns: 'sentence', 'label'\)"),
    ("a.jsonl", '{"text": "x", "y": 1}\n', r"a\.jsonl:1: no field 'label' \(fields: 'text', 'y'\)"),
    ("a.tsv", "text\tlabel\nx\t1\n \t0\n", r"a\.tsv:3: empty text"),
    ("a.txt", "1 fine\n\n0\n", r"a\.txt:3: empty text"),
    ("a.tsv", "text\tlabel\nx\t1\ty\n", r"a\.tsv:2: 3 fields, but the header on line 1 names 2"),
    ("a.jsonl", '{"text": "x", "label": 1.5}\n', r"a\.jsonl:1: field 'label' is 1\.5"),
    ("a.txt", "", r"a\.txt: no labeled examples"),
    ("a.csv", "text,label\n", r"a\.csv: no labeled examples"),
])
def test_bad_input_is_one_line_naming_file_and_line(tmp_path, name, content, message):
    with pytest.raises(HeadstartError, match=message) as error:
        read_labeled(write(tmp_path / name, content))
    assert "\n" not in str(error.value)


def test_invalid_utf8_names_line_and_suggests_latin1(tmp_path):
    path = write(tmp_path / "q.all", "0 fine\n1 caf\xe9 ?\n".encode("latin-1"))
    with pytest.raises(HeadstartError, match=r"q\.all:2: invalid utf-8 \(byte 0xe9 at column 6\); "
                                             r"if the file is Latin-1, pass --encoding latin-1"):
        read_labeled(path)
    assert read_labeled(path, encoding="latin-1").texts[1] == "caf\xe9 ?"


def test_trec_train_is_latin1():
    path = shared("trec/TREC.train.all")
    with pytest.raises(HeadstartError, match=r"TREC\.train\.all:\d+: invalid utf-8 .*--encoding latin-1"):
        read_labeled(path)
    train = read_labeled(path, encoding="latin-1")
    test = align_labels(train, read_labeled(shared("trec/TREC.test.all")))
    assert (len(train), len(test)) == (5452, 500)
    assert train.label_names == test.label_names == ["0", "1", "2", "3", "4", "5"]


def test_sst2_label_first_lines():
    data = read_labeled(shared("sst2/stsa.binary.dev"))
    assert len(data) == 872 and data.label_names == ["0", "1"]
    assert not any(text.startswith(("0 ", "1 ")) for text in data.texts)


def test_align_labels_maps_test_to_train_ids(tmp_path):
    train = read_labeled(write(tmp_path / "train.txt", "a x\nb y\nc z\n"))
    test = read_labeled(write(tmp_path / "test.txt", "c q\na r\n"))
    assert test.labels == [1, 0]  # ids in the test file's own ["a", "c"]
    aligned = align_labels(train, test)
    assert aligned.labels == [2, 0] and aligned.label_names == ["a", "b", "c"]


def test_label_unseen_in_training_is_named_with_file_and_line(tmp_path):
    train = read_labeled(write(tmp_path / "train.txt", "a x\nb y\n"))
    test = read_labeled(write(tmp_path / "test.txt", "a q\n\nzebra r\n"))
    with pytest.raises(HeadstartError, match=r"test\.txt:3: label 'zebra' never appears in the training "
                                             r"set .*train\.txt \(training labels: 'a', 'b'\)"):
        align_labels(train, test)


def test_stratified_subset_keeps_class_proportions():
    labels = np.array([0] * 700 + [1] * 200 + [2] * 100)
    chosen = stratified_subset(labels, 50, seed=3)
    assert len(chosen) == len(set(chosen)) == 50
    assert np.bincount(labels[chosen]).tolist() == [35, 10, 5]
    assert np.array_equal(chosen, stratified_subset(labels, 50, seed=3))
    assert not np.array_equal(chosen, stratified_subset(labels, 50, seed=4))


def test_stratified_subset_gives_every_class_an_example_when_it_can():
    labels = np.array([0] * 990 + [1] * 5 + [2] * 5)
    assert np.bincount(labels[stratified_subset(labels, 3, seed=0)]).tolist() == [1, 1, 1]
    assert np.bincount(labels[stratified_subset(labels, 10, seed=0)]).tolist() == [8, 1, 1]
    assert len(stratified_subset(labels, 2, seed=0)) == 2  # fewer than the classes: proportional


def test_stratified_subset_rejects_impossible_budgets():
    with pytest.raises(HeadstartError, match="label budget 11: must be between 1 and the 10"):
        stratified_subset(np.zeros(10, dtype=int), 11, seed=0)
    assert len(stratified_subset(np.zeros(10, dtype=int), 10, seed=0)) == 10
