"""The cached byte-level BPE encoder gives exactly the ids of the tokenizers library.

``prepare text`` encodes with it (headstart/text/cached_encoder.py); whatever it cannot reproduce
provably goes to the library, so these tests compare the two on text built to hit the corners of
GPT-2's pre-tokenizer pattern: contractions, runs of spaces, tabs and newlines, digits, punctuation,
special-token strings, and non-ASCII text that must take the library's path.
"""
from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from headstart.text.cached_encoder import CachedEncoder, unsupported_reason
from headstart.text.tokenizer import SPECIAL_TOKENS, build_char_tokenizer, train_bpe

TRAINING_TEXT = [
    "It's the cat's toy; they'd said we'll go, I'm sure you've seen it.",
    "In 1865, Alice was 7 years old -- 'Curiouser and curiouser!' cried Alice.",
    "def f(x):\n\tif x >= 10:\n\t\treturn x ** 2  # squared\n",
    "Numbers 3.14159 and 2,718 and 1e-9; e-mail: a.b@c.org <|endoftext|> <pad>",
    "\u201cCuriouser!\u201d she said \u2014 it\u2019s late\u2026 \u2018quite\u2019 \u00abso\u00bb 1\u20132",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00e9t\u00e9, caf\u00e9s",
] * 20
PIECES = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "' s", "don't", "O'Neil", " ", "  ", "   ", "\t",
          "\n", "\n\n", " \n ", "\t \t", "a", "Alice", "42", "3.14", "--", "?!", "<|endoftext|>", "<pad>",
          "é", "naïve", "café", "résumé", "日本", "\u2018", "\u2019s", "\u201cHi\u201d", " \u2014 ", "\u2013", "...\u2026", "\u00abx\u00bb", "\u00a0", "\u2028", "\x0b", "\x1c", "\r\n", "x" * 40]


@pytest.fixture(scope="module")
def bpe():
    return train_bpe(TRAINING_TEXT, 400)


@pytest.fixture(scope="module")
def every_pair():
    """A byte-level BPE with a merge for every pair of these characters, across character classes too.

    A tokenizer trained by the library never merges across a pre-token boundary, so a wrong split can
    go unnoticed with it; with this one any piece cut in the wrong place gives other ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    mapped = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    chars = [mapped.pre_tokenize_str(c)[0][0] for c in "aZs'_-.1 \t\n!"]
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    merges = [(a, b) for a in chars for b in chars]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS.values()))
    return tokenizer


@pytest.fixture(scope="module")
def bpe_lowercase():
    return train_bpe(TRAINING_TEXT, 400, lowercase=True)


def library_ids(tokenizer, texts):
    tokenizer.encode_special_tokens = True
    return [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


texts = st.lists(st.lists(st.sampled_from(PIECES) | st.text(alphabet=st.characters(max_codepoint=127), max_size=6),
                          max_size=30).map("".join), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(batch=texts)
@example(batch=["It's  a   test \n\n\tdone '' ' s 'sss 123abc", "", " ", "naïve café 'll", "it’s “café” — ok…"])
def test_ids_equal_the_librarys_on_any_text(bpe, batch):
    assert CachedEncoder(bpe).encode_batch(batch) == library_ids(bpe, batch)


@settings(max_examples=300, deadline=None)
@given(batch=texts)
@example(batch=["a_Z 's ' s\t\t \n1.1--!"])
def test_ids_equal_the_librarys_with_merges_across_every_boundary(every_pair, batch):
    encoder = CachedEncoder(every_pair)
    assert encoder.reason is None
    assert encoder.encode_batch(batch) == library_ids(every_pair, batch)


@settings(max_examples=100, deadline=None)
@given(batch=texts)
def test_ids_equal_the_librarys_with_a_lowercasing_tokenizer(bpe_lowercase, batch):
    assert CachedEncoder(bpe_lowercase).encode_batch(batch) == library_ids(bpe_lowercase, batch)


def test_a_cached_piece_gives_the_same_ids_the_second_time(bpe):
    encoder = CachedEncoder(bpe)
    line = "Alice's cat sat, and Alice's cat sat again."
    first = encoder.encode_batch([line])
    assert encoder.encode_batch([line, line]) == first * 2 == library_ids(bpe, [line]) * 2


def test_special_token_text_is_encoded_as_plain_text(bpe):
    eos = bpe.token_to_id(SPECIAL_TOKENS["eos"])
    ids = CachedEncoder(bpe).encode_batch(["before <|endoftext|> after"])[0]
    assert eos not in ids


def test_tokenizers_it_cannot_reproduce_use_the_library():
    chars = build_char_tokenizer("abc ")
    assert unsupported_reason(chars) == "not a deterministic BPE model"
    encoder = CachedEncoder(chars)
    assert encoder.encode_batch(["abc cab", "zz"]) == library_ids(chars, ["abc cab", "zz"])


def test_a_bpe_with_added_plain_tokens_uses_the_library(bpe):
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_str(bpe.to_str())
    tokenizer.add_tokens(["Alice"])
    assert unsupported_reason(tokenizer) == "non-special added tokens"
    assert CachedEncoder(tokenizer).encode_batch(["Alice's"]) == library_ids(tokenizer, ["Alice's"])


def test_a_full_cache_stops_growing_and_the_ids_stay_right(bpe, monkeypatch):
    import headstart.text.cached_encoder as cached
    monkeypatch.setattr(cached, "MAX_CACHED_PIECES", 3)
    encoder = CachedEncoder(bpe)
    text = "one two three four five six seven, one two three"
    assert encoder.encode_batch([text, text]) == library_ids(bpe, [text, text])
    assert len(encoder._cache) == 3
