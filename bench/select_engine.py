"""`headstart select --work` on the data engine: documents/s with 1 and 2 workers, and the selection against
`select` without the engine (byte for byte).

Pool: a folder of JSON Lines files (``bench/web_corpus.py``'s corpus: pass ``--pool``); target: SST-2's
training sentences; 2 M tokens chosen.  Each run is a fresh `headstart select` process.

    .venv/bin/python bench/select_engine.py --work /tmp/select-engine --pool /tmp/audit-scale/corpus-100000
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

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2" / "stsa.binary.train"


def select(pool: Path, out: Path, work: Path | None, workers: int, tokens: str) -> tuple[float, dict, str]:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "headstart", "select", str(pool), "--target", str(SST2), "--out", str(out),
               "--tokens", tokens, "--format", "jsonl", "--doc-unit", "file", "--no-progress"]
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
        command += ["--work", str(work), "--workers", str(workers)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256((out / "selected.jsonl").read_bytes()).hexdigest()[:16]
    return seconds, json.loads((out / "manifest.json").read_text()), digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--pool", type=Path, required=True)
    parser.add_argument("--tokens", default="2M")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    runs = {}
    for name, work, workers in (("select (no --work)", None, 1), ("engine, 1 worker", args.work / "w", 1),
                                ("engine, 2 workers", args.work / "w", 2)):
        seconds, manifest, digest = select(args.pool, args.work / "out", work, workers, args.tokens)
        documents = manifest["pool"]["documents"] + manifest["pool"]["short_documents_skipped"]
        runs[name] = {"seconds": seconds, "digest": digest}
        print(f"  {name:20s} {seconds:6.1f} s, {documents / seconds:8,.0f} pool documents/s, selected "
              f"{manifest['selected']['documents']:,} documents ({manifest['selected']['tokens']:,} tokens), "
              f"peak RSS of the calling process {manifest['peak_rss_mib']} MiB, selected.jsonl sha256 {digest}",
              flush=True)
    shutil.rmtree(args.work / "w", ignore_errors=True)
    print(f"selections identical: {len({run['digest'] for run in runs.values()}) == 1}")
    speedup = runs["engine, 1 worker"]["seconds"] / runs["engine, 2 workers"]["seconds"]
    print(f"scaling: 2 workers {speedup:.2f}x the documents/s of 1")
    print(f"reproduce: .venv/bin/python bench/select_engine.py --work {args.work} --pool {args.pool}")


if __name__ == "__main__":
    main()
