"""`prepare text --work` on the data engine: documents/s with 1 and 2 workers, and the shards of 1, 2 and 4
workers against `prepare text` without the engine (byte for byte).

Corpus: ``bench/web_corpus.py``'s (IMDb reviews and Gutenberg paragraphs, spliced; 1% exact copies), a
JSON Lines file per 25,000 documents, in a child process.  The tokenizer (byte-level BPE, 8,192) is trained
once on the corpus and passed to every run, so the runs time the same work: encoding, exact dedup and
writing the shards.  Each run is a fresh `headstart prepare text` process.

    .venv/bin/python bench/prepare_engine.py --work /tmp/prepare-engine --docs 100000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def prepare(corpus: Path, out: Path, tokenizer: str, workers: int, work: Path | None) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "headstart", "prepare", "text", str(corpus), "--out", str(out), "--format",
               "jsonl", "--doc-unit", "file", "--tokenizer", tokenizer, "--workers", str(workers), "--no-progress"]
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
        command += ["--work", str(work)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    return seconds, json.loads((out / "manifest.json").read_text())


def shard_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.bin")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--corpus", type=Path, help="a folder of JSON Lines files to use instead of generating one")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    corpus = args.corpus or args.work / f"corpus-{args.docs}"
    if args.corpus is None and not (args.work / f"corpus-{args.docs}.json").exists():
        subprocess.run([sys.executable, str(Path(__file__).parent / "web_corpus.py"), "--out", str(corpus),
                        "--docs", str(args.docs), "--counts", str(args.work / f"corpus-{args.docs}.json")], check=True)
    tokenizer = args.work / "tokenizer.json"
    if not tokenizer.exists():
        prepare(corpus, args.work / "bpe", "bpe", 2, None)
        shutil.copy(args.work / "bpe" / "tokenizer.json", tokenizer)
    runs = {}
    for name, workers, engine in (("in-process pool, 2 workers", 2, False), ("engine, 1 worker", 1, True),
                                  ("engine, 2 workers", 2, True), ("engine, 4 workers", 4, True)):
        seconds, manifest = prepare(corpus, args.work / "out", str(tokenizer), workers,
                                    args.work / "w" if engine else None)
        runs[name] = {"seconds": seconds, "documents": manifest["stats"]["documents_read"],
                      "shards": shard_digest(args.work / "out"), "stats": manifest["stats"]}
        print(f"  {name:28s} {seconds:6.1f} s, {manifest['stats']['documents_read'] / seconds:8,.0f} documents/s, "
              f"kept {manifest['stats']['kept']:,}, duplicates {manifest['stats']['dropped']['duplicate']:,}, "
              f"shards sha256 {runs[name]['shards']}", flush=True)
    shutil.rmtree(args.work / "w", ignore_errors=True)
    shutil.rmtree(args.work / "out", ignore_errors=True)
    identical = len({run["shards"] for run in runs.values()}) == 1
    print(f"shards identical across all runs: {identical}")
    speedup = runs["engine, 1 worker"]["seconds"] / runs["engine, 2 workers"]["seconds"]
    print(f"scaling: 2 workers {speedup:.2f}x the documents/s of 1 (goal >= 1.7)")
    given = f" --corpus {args.corpus}" if args.corpus else f" --docs {args.docs}"
    print(f"reproduce: .venv/bin/python bench/prepare_engine.py --work {args.work}{given}")


if __name__ == "__main__":
    main()
