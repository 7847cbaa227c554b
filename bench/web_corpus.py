"""A web-like corpus of any size from ../shared/data: IMDb reviews and Gutenberg paragraphs, spliced and
perturbed so that most documents are new, and with planted exact and near-duplicates, as crawls have.

Document i (seeded, so the same arguments give the same files):
  - 1%: an exact copy of a recent document;
  - 4%: a near copy of a recent document: 2% of its words replaced, one word dropped (word 5-gram
    Jaccard ~0.8-0.9, around the audit's default threshold: some pairs fall either side, as in crawls);
  - otherwise: the first half of one source document joined to the second half of another, cut at
    random points, with 1% of the words swapped for other words of the text.
Files are JSON Lines of ``--per-file`` documents (``{"text": ...}``), named part-00000.jsonl, ...

    .venv/bin/python bench/web_corpus.py --out /tmp/web-1m --docs 1000000
"""
from __future__ import annotations

import argparse
import json
import random
from collections import deque
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PARAGRAPH_LINES = 8
RECENT = 20_000  # documents a copy may come from


def source_documents() -> list[list[str]]:
    """IMDb's 100,000 reviews (train, test, unsup) and the Gutenberg books in paragraphs of 8 lines, as words."""
    documents = []
    for name in ("train", "test", "unsup"):
        with open(SHARED / "imdb" / f"{name}.jsonl", encoding="utf-8") as f:
            documents.extend(json.loads(line)["text"].split() for line in f)
    for book in sorted((SHARED / "gutenberg").glob("*.txt")):
        lines = [line for line in book.read_text(encoding="utf-8").splitlines() if line.strip()]
        for start in range(0, len(lines), PARAGRAPH_LINES):
            words = " ".join(lines[start: start + PARAGRAPH_LINES]).split()
            if len(words) >= 20:
                documents.append(words)
    return documents


def perturb(words: list[str], fraction: float, rng: random.Random) -> list[str]:
    words = list(words)
    for _ in range(max(1, int(len(words) * fraction))):
        words[rng.randrange(len(words))] = words[rng.randrange(len(words))]
    return words


def build(out: Path, docs: int, per_file: int = 25_000, seed: int = 0) -> dict:
    """Write the corpus; returns how many documents of each kind it holds."""
    rng, sources = random.Random(seed), source_documents()
    recent: deque[list[str]] = deque(maxlen=RECENT)
    counts = {"fresh": 0, "exact_copy": 0, "near_copy": 0}
    out.mkdir(parents=True, exist_ok=True)
    handle = None
    for i in range(docs):
        if i % per_file == 0:
            if handle:
                handle.close()
            handle = open(out / f"part-{i // per_file:05d}.jsonl", "w", encoding="utf-8")
        draw = rng.random()
        if recent and draw < 0.01:
            words, kind = rng.choice(recent), "exact_copy"
        elif recent and draw < 0.05:
            words = perturb(rng.choice(recent), 0.02, rng)
            del words[rng.randrange(len(words))]
            kind = "near_copy"
        else:
            a, b = rng.choice(sources), rng.choice(sources)
            words = perturb(a[: rng.randint(len(a) // 3, 2 * len(a) // 3 + 1)] +
                            b[rng.randint(len(b) // 3, 2 * len(b) // 3):], 0.01, rng)
            kind = "fresh"
        counts[kind] += 1
        recent.append(words)
        handle.write(json.dumps({"text": " ".join(words)}) + "\n")
    if handle:
        handle.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--per-file", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--counts", type=Path, help="also write the counts of each kind of document here")
    args = parser.parse_args()
    counts = json.dumps(build(args.out, args.docs, args.per_file, args.seed))
    print(counts)
    if args.counts:
        args.counts.write_text(counts)


if __name__ == "__main__":
    main()
