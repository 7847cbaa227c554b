"""The validation split every ``prepare`` uses (``headstart.modality.splits``)."""
from __future__ import annotations

import logging

import numpy as np

from headstart.modality.splits import is_val, val_flags


def test_an_item_keeps_its_split_whatever_else_is_in_the_collection():
    keys = [f"clips/{i:05d}.wav" for i in range(5000)]
    alone = [is_val(key, 0.1) for key in keys[:100]]
    grown = val_flags(reversed(keys), 0.1, "clip")[::-1]  # more items, listed in another order
    assert list(grown[:100]) == alone
    assert 0.08 < grown.mean() < 0.12  # about val_fraction of them


def test_bytes_and_text_keys_and_no_validation():
    assert is_val(b"\x00" * 16, 1 - 1e-12) and not is_val("anything", 0.0)


def test_a_tiny_collection_gets_one_validation_item(caplog):
    keys = ["a.png", "b.png"]
    assert not any(is_val(key, 0.01) for key in keys)
    with caplog.at_level(logging.WARNING):
        flags = val_flags(keys, 0.01, "image")
    assert flags.tolist() == [False, True] and "tiny collection" in caplog.text
    assert not val_flags(["only.png"], 0.5, "image").any() or is_val("only.png", 0.5)
    assert np.array_equal(val_flags(keys, 0.0, "image"), [False, False])
