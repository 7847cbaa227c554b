"""Train, build and load tokenizers.  Every tokenizer is a Hugging Face ``tokenizers.Tokenizer``
saved as ``tokenizer.json``, so any tool that reads that format can use the prepared data.

Every tokenizer carries the same four special tokens (``SPECIAL_TOKENS``).  ``<|endoftext|>`` ends
each document in the token stream (GPT-2's convention); ``<pad>`` and ``<mask>`` are for the
objectives that need them; ``<unk>`` is what a character tokenizer returns for a character it never
saw.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from headstart.errors import HeadstartError

# role -> token text.  The order is the order in which the tokens get ids when a tokenizer is built.
SPECIAL_TOKENS = {"eos": "<|endoftext|>", "pad": "<pad>", "mask": "<mask>", "unk": "<unk>"}
# The same roles under BERT's names, so an imported BERT tokenizer keeps its trained [MASK], [PAD]
# and [SEP] instead of gaining untrained copies.
ROLE_ALIASES = {"eos": ("[SEP]",), "pad": ("[PAD]",), "mask": ("[MASK]",), "unk": ("[UNK]",)}
BYTE_ALPHABET_SIZE = 256


def train_bpe(texts: Iterable[str], vocab_size: int, lowercase: bool = False) -> Tokenizer:
    """Train a byte-level BPE tokenizer (GPT-2 style) on an iterable of cleaned documents.

    ``lowercase`` folds case inside the tokenizer (BERT "uncased"): the normalizer is saved in
    tokenizer.json, so fine-tuning and generation fold case the same way as pre-training did.

    Byte-level means every string can be encoded, with no ``<unk>``: the base alphabet is the 256
    bytes and merges are learned on top.  ``texts`` is consumed lazily; the trainer only keeps word
    counts, so the caller bounds training memory by bounding how much text it yields.
    """
    minimum = BYTE_ALPHABET_SIZE + len(SPECIAL_TOKENS)
    if vocab_size < minimum:
        raise HeadstartError(
            f"--vocab-size {vocab_size}: byte-level BPE needs at least {minimum} "
            f"({BYTE_ALPHABET_SIZE} bytes + {len(SPECIAL_TOKENS)} special tokens)"
        )
    tokenizer = Tokenizer(models.BPE())
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(SPECIAL_TOKENS.values()),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_batched(texts, 1024), trainer=trainer)
    return tokenizer


# A word: letters/digits with inner apostrophes ("don't" stays one word); any other character alone.
WORD_PATTERN = r"\w+(?:['’]\w+)*|[^\w\s]"


def train_word_level(texts: Iterable[str], vocab_size: int, lowercase: bool = False) -> Tokenizer:
    """A word-level tokenizer: the ``vocab_size`` most frequent words (special tokens included), the rest
    ``<unk>``.  Word vectors (skip-gram, CBOW) learn one vector per word of it.

    Words are runs of letters and digits (with inner apostrophes), and each punctuation character is a
    word of its own, split by the tokenizer's own pre-tokenizer so fine-tuning splits text exactly as
    pre-training did; a word-vector model reads that pre-tokenizer back to give unseen words
    subword vectors (``headstart.text.word_bags``).
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise HeadstartError(f"--vocab-size {vocab_size}: a word tokenizer needs more than the "
                             f"{len(SPECIAL_TOKENS)} special tokens")
    tokenizer = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk"]))
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")])
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()),
                                        show_progress=False)
    tokenizer.train_from_iterator(_batched(texts, 1024), trainer=trainer)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS.values()))  # never split, never lower-cased away
    return tokenizer


def build_char_tokenizer(characters: Iterable[str]) -> Tokenizer:
    """A character-level tokenizer: one id per character, in sorted order, then the special tokens.

    The special tokens go into the WordLevel vocabulary itself (not only as added tokens) because
    WordLevel looks its ``unk_token`` up in its own vocabulary when it meets an unseen character.
    """
    vocab = {char: index for index, char in enumerate(sorted(set(characters)))}
    for token in SPECIAL_TOKENS.values():
        vocab.setdefault(token, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk"]))
    # Oniguruma's (?m) is Ruby's multiline flag: it makes "." match "\n" too, so every character,
    # newline included, becomes its own pre-token.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"(?m)."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS.values()))
    return tokenizer


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a ``tokenizer.json``, adding any of the four special tokens it lacks."""
    path = Path(path)
    if not path.is_file():
        raise HeadstartError(f"{path}: tokenizer file not found")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust side raises a bare Exception with a serde message
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HeadstartError(f"{path}: not a valid tokenizer.json ({reason})") from None
    # headstart pads and cuts batches itself; a tokenizer.json saved with padding or truncation on
    # (sentence-transformers saves pad-to-128) would feed pad ids as real tokens.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return with_special_tokens(tokenizer)


def tokenizer_from_json(text: str) -> Tokenizer:
    """Rebuild a tokenizer from its JSON string (how worker processes receive it: no pickle)."""
    return Tokenizer.from_str(text)


def _role_id(tokenizer: Tokenizer, role: str) -> int | None:
    for token in (SPECIAL_TOKENS[role], *ROLE_ALIASES[role]):
        if (token_id := tokenizer.token_to_id(token)) is not None:
            return token_id
    return None


def with_special_tokens(tokenizer: Tokenizer) -> Tokenizer:
    missing = [token for role, token in SPECIAL_TOKENS.items() if _role_id(tokenizer, role) is None]
    if missing:
        tokenizer.add_special_tokens(missing)
    return tokenizer


def special_token_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """``{"eos": id, "pad": id, "mask": id, "unk": id}`` (BERT's [SEP], [PAD], [MASK], [UNK] count)."""
    ids = {role: _role_id(tokenizer, role) for role in SPECIAL_TOKENS}
    missing = [SPECIAL_TOKENS[role] for role, token_id in ids.items() if token_id is None]
    if missing:
        raise HeadstartError(f"tokenizer has no special token(s) {', '.join(missing)}")
    return ids


def tokenizer_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _batched(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    # train_from_iterator accepts an iterator of lists; batches cut the Python<->Rust crossings.
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
