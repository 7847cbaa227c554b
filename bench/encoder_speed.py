"""Tokenizing speed on one core: headstart's cached encoder vs ``tokenizers``' ``encode_batch_fast``,
same tokenizer, same cleaned lines, same run; the ids are checked equal.

The lines are one copy of the Gutenberg-derived corpus of bench/prepare_throughput.py (about 7.6 MB,
66,000 lines); a byte-level BPE with 8,192 ids is trained on them first. Both encoders get the lines
in batches of 256, as a preparation worker does, on one thread (TOKENIZERS_PARALLELISM=false, as in
headstart's and datasets' worker processes). The cached encoder is timed twice: with an empty cache,
then again with the cache the first pass filled.

    python bench/encoder_speed.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"

from headstart.text.cached_encoder import CachedEncoder  # noqa: E402
from headstart.text.cleaning import clean_text  # noqa: E402
from headstart.tokenizer import train_bpe  # noqa: E402

from prepare_throughput import build_corpus  # noqa: E402

BATCH = 256


def timed(encode, lines):
    t0 = time.perf_counter()
    ids = [row for i in range(0, len(lines), BATCH) for row in encode(lines[i: i + BATCH])]
    return time.perf_counter() - t0, ids


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        build_corpus(Path(tmp), 1)  # one copy
        raw = next(Path(tmp).glob("*.txt")).read_text(encoding="utf-8").splitlines()
    lines = [text for text in map(clean_text, raw) if text]
    megabytes = sum(len(line.encode()) for line in lines) / 1e6
    tokenizer = train_bpe(lines, 8192)
    tokenizer.encode_special_tokens = True

    def library(batch):
        return [e.ids for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False)]

    cached = CachedEncoder(tokenizer)
    library_s, expected = timed(library, lines)
    cold_s, cold_ids = timed(cached.encode_batch, lines)
    warm_s, warm_ids = timed(cached.encode_batch, lines)
    if not expected == cold_ids == warm_ids:
        sys.exit("the cached encoder's ids differ from the library's")
    print(f"{len(lines):,} lines, {megabytes:.1f} MB, {sum(map(len, expected)):,} tokens; "
          f"{len(cached._cache):,} distinct pre-tokens cached")
    print(f"  encode_batch_fast      {library_s:5.2f} s  {megabytes / library_s:5.2f} MB/s")
    print(f"  cached, empty cache    {cold_s:5.2f} s  {megabytes / cold_s:5.2f} MB/s  {library_s / cold_s:.2f}x")
    print(f"  cached, filled cache   {warm_s:5.2f} s  {megabytes / warm_s:5.2f} MB/s  {library_s / warm_s:.2f}x")
    print("ids identical; reproduce: python bench/encoder_speed.py")


if __name__ == "__main__":
    main()
