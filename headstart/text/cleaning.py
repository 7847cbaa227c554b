"""Text normalisation and the exact-duplicate hash: pure functions, no I/O.

Cleaning is deliberately conservative.  A pre-training corpus is mostly clean already; the job here is
to remove bytes that carry no meaning (control characters, a stray BOM), to make equal-looking text
byte-equal (NFC) so that exact dedup catches it, and to fold layout noise that would otherwise cost
tokens.  Anything that can change what the text *says* (case, punctuation, format characters such as
the zero-width joiner) is left alone.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Control characters (Unicode category Cc: U+0000-U+001F and U+007F-U+009F) except tab and newline,
# plus U+FEFF.  Only Cc is removed, not the wider "format" category Cf: Cf holds characters that
# carry meaning (U+200D zero-width joiner inside emoji sequences, U+200C ZWNJ in Persian words,
# bidirectional marks in Arabic/Hebrew text, the soft hyphen).  U+FEFF is the one Cf character that
# is nearly always an artefact: a UTF-8 byte-order mark at the start of a file, or one left in the
# middle of text when files were concatenated.  (\r is handled before this, see `clean_text`.)
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")
# Runs of two or more spaces/tabs, or a lone tab: the same result as replacing every [ \t]+ with one
# space, without a match (and a copy) for each single space between words, which made this the
# costliest line of preparing a corpus.
_SPACE_RUNS = re.compile(r"[ \t]{2,}|\t")
_TRAILING_SPACE = re.compile(r" +\n")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")

DIGEST_SIZE = 16  # bytes; 128 bits make an accidental collision impossible in practice


def clean_text(text: str, *, fold_whitespace: bool = True) -> str:
    """Normalise one document.

    Steps, in this order:
      1. line endings: \\r\\n and lone \\r become \\n (so old Mac and Windows files keep their lines
         instead of having \\r deleted as a control character);
      2. drop control characters (Cc) except \\n and \\t, and U+FEFF;
      3. Unicode NFC, so that "é" typed as one code point or as e + combining accent is the same
         text for dedup and for the tokenizer.  This runs after step 2 because a control character
         between a letter and its accent blocks composition, and deleting it afterwards would leave
         un-normalised text;
      4. with ``fold_whitespace``: runs of spaces/tabs become one space, spaces at line ends go,
         three or more newlines become two (a paragraph break stays a paragraph break), and the
         document is stripped.  Pass ``fold_whitespace=False`` for code, where indentation matters.

    The function is idempotent: ``clean_text(clean_text(x)) == clean_text(x)``.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARS.sub("", text)
    if not text.isascii():  # ASCII is NFC already
        text = unicodedata.normalize("NFC", text)
    if fold_whitespace:
        text = _SPACE_RUNS.sub(" ", text)
        if " \n" in text:  # the substring tests skip a regex scan of the (usual) text that has none
            text = _TRAILING_SPACE.sub("\n", text)
        if "\n\n\n" in text:
            text = _BLANK_LINE_RUNS.sub("\n\n", text)
        text = text.strip()
    return text


def document_digest(cleaned_text: str) -> bytes:
    """The exact-dedup key of a cleaned document: a 16-byte BLAKE2b digest of its UTF-8 bytes.

    The same digest also decides the document's train/val split, so a document keeps its split when
    the corpus grows or is re-ordered: a later, bigger run never moves old val text into train.
    """
    return hashlib.blake2b(cleaned_text.encode("utf-8"), digest_size=DIGEST_SIZE).digest()


def drop_reason(cleaned_text: str, min_chars: int) -> str | None:
    """Why a cleaned document is dropped before dedup ("empty" or "too_short"), or None to keep it.

    Whitespace-only text counts as empty even when whitespace is not folded.
    """
    if not cleaned_text or cleaned_text.isspace():
        return "empty"
    if len(cleaned_text) < min_chars:
        return "too_short"
    return None
