"""Throughput and peak memory of `headstart prepare text` on a ~200 MB synthetic corpus.

The corpus is built in a temporary folder from the 17 Project Gutenberg books in
../shared/data/gutenberg (7.6 MB, one sentence a line), repeated until it reaches --size-mb:

  * each book is cut into paragraphs of 2-12 sentences (fixed per book), written blank-line separated,
    so the default --doc-unit paragraph sees book-like documents;
  * copy 0 is the books as they are.  In every later copy, each paragraph has a 10% chance of being
    written unchanged (an exact duplicate, for dedup to catch) and otherwise gets its sentences
    shuffled and one word replaced by a random word of the same book, so it is new text with
    natural statistics.  The expected duplicate rate is therefore about 10%.

prepare_text runs in this process (worker processes are its own), and the script prints MB/s,
documents, tokens and peak memory: this process's and its children's ru_maxrss (getrusage), and the
peak of main + workers RSS summed, sampled every 50 ms with psutil.

    .venv/bin/python bench/prepare_throughput.py --size-mb 200 --tokenizer bpe --vocab-size 8192 --workers 2
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from headstart.text import prepare_text

GUTENBERG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gutenberg"
DUPLICATE_PROBABILITY = 0.10


def book_paragraphs(path: Path) -> list[list[str]]:
    sentences = path.read_text(encoding="utf-8").splitlines()
    rng = random.Random(path.name)  # the same paragraphs in every copy, so unchanged ones are duplicates
    paragraphs, start = [], 0
    while start < len(sentences):
        size = rng.randint(2, 12)
        paragraphs.append(sentences[start: start + size])
        start += size
    return paragraphs


def write_copy(books: list[Path], copy: int, path: Path) -> int:
    """Write one variation of all the books to ``path``; returns its size in bytes."""
    rng = random.Random(copy)
    with open(path, "w", encoding="utf-8") as out:
        for book in books:  # one book in memory at a time
            paragraphs = book_paragraphs(book)
            words = sorted({word for paragraph in paragraphs for line in paragraph for word in line.split()})
            for sentences in paragraphs:
                if copy > 0 and rng.random() >= DUPLICATE_PROBABILITY:
                    sentences = rng.sample(sentences, len(sentences))
                    line = rng.randrange(len(sentences))
                    tokens = sentences[line].split() or [""]
                    tokens[rng.randrange(len(tokens))] = rng.choice(words)
                    sentences[line] = " ".join(tokens)
                out.write("\n".join(sentences))
                out.write("\n\n")
    return path.stat().st_size


def build_corpus(folder: Path, size_mb: float) -> int:
    books = sorted(GUTENBERG.glob("*.txt"))
    if not books:
        sys.exit(f"{GUTENBERG}: no Gutenberg books found (the shared data sets live next to the checkout)")
    total, copy = 0, 0
    while total < size_mb * 1e6:
        total += write_copy(books, copy, folder / f"gutenberg_copy_{copy:03d}.txt")
        copy += 1
    return total


class PeakRssSampler(threading.Thread):
    """Samples RSS of this process plus all its children; keeps the peak of the sum."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval, self.peak, self._finished = interval, 0, threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._finished.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # a worker that just exited
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._finished.set()
        self.join()
        return self.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--tokenizer", default="bpe", help="bpe, char or a tokenizer.json path")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokenizer-train-mb", type=float, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)9.0f ms  %(message)s")

    with tempfile.TemporaryDirectory(prefix="headstart-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        started = time.perf_counter()
        corpus_bytes = build_corpus(corpus, args.size_mb)
        print(f"corpus: {corpus_bytes / 1e6:.1f} MB in {len(list(corpus.iterdir()))} files, "
              f"built in {time.perf_counter() - started:.1f} s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        load_before = os.getloadavg()[0]
        sampler = PeakRssSampler()
        sampler.start()
        started = time.perf_counter()
        manifest = prepare_text([corpus], Path(tmp) / "prepared", tokenizer=args.tokenizer,
                                vocab_size=args.vocab_size, workers=args.workers,
                                tokenizer_train_mb=args.tokenizer_train_mb)
        seconds = time.perf_counter() - started
        peak_sum = sampler.stop()

    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN is the largest of the waited-for children.
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    stats, splits = manifest["stats"], manifest["splits"]
    tokens = splits["train"]["tokens"] + splits["val"]["tokens"]
    mib = 1024 ** 2
    print(f"prepare_text: {stats['bytes_read'] / 1e6:.1f} MB in {seconds:.1f} s = "
          f"{stats['bytes_read'] / 1e6 / seconds:.2f} MB/s ({args.workers} workers, {args.tokenizer} "
          f"tokenizer, vocab {manifest['vocab_size']})")
    print(f"documents: {stats['documents_read']:,} read, {stats['kept']:,} kept, "
          f"duplicate rate {stats['duplicate_rate']:.1%}; tokens: {tokens:,} "
          f"(train {splits['train']['tokens']:,}, val {splits['val']['tokens']:,})")
    print(f"peak RSS: main {peak_main / mib:.0f} MiB (before prepare_text: {rss_before / mib:.0f} MiB), "
          f"largest worker {peak_child / mib:.0f} MiB, max(main, worker) {max(peak_main, peak_child) / mib:.0f} "
          f"MiB; main + workers summed (sampled) {peak_sum / mib:.0f} MiB")
    # Other processes on the machine slow this down; the load average says whether there were any.
    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after (this run accounts for up to {args.workers + 1})")
    print("reproduce: .venv/bin/python bench/prepare_throughput.py " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    main()
