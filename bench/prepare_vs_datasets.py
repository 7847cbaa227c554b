"""Preparation throughput and peak memory: `headstart prepare text` vs Hugging Face `datasets` `.map`,
with the same `tokenizers` tokenizer, on the same corpus, at two corpus sizes.

The corpus is the Gutenberg-derived one of bench/prepare_throughput.py (books cut into paragraphs,
later copies shuffled and perturbed, ~10% exact duplicates), one document a line for both tools.
A byte-level BPE (vocab 8192) is trained once beforehand and both tools load that tokenizer.json.

* headstart: `prepare_text(corpus, tokenizer=tokenizer.json, doc_unit="line", workers=W)`: reading,
  cleaning, exact deduplication, tokenising and writing uint16 token shards.
* datasets: `load_dataset("text", data_files=..., split="train")` (Arrow conversion, counted: it is
  part of preparing) then `.map(encode_batch, batched=True, num_proc=W, remove_columns=["text"])`,
  which writes the token ids to its Arrow cache.  No cleaning and no deduplication: less work.

Each tool runs in a fresh subprocess; peak memory is the peak of the summed RSS of that process and its
children, sampled every 50 ms.  MB/s is corpus bytes / wall seconds of the tool's call.  The two tools
alternate --repeats times at each size (each time into a new output folder and a new `datasets` cache),
and the ratio is of their median times: one run of a few seconds on a shared 2-core machine is noise.

    python bench/prepare_vs_datasets.py [--size-mb 20 --scale 10 --workers 2 --repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from prepare_throughput import build_corpus

HEADSTART = textwrap.dedent("""
    import json, sys, time
    from headstart.text import prepare_text
    corpus, out, tokenizer, workers = sys.argv[1:5]
    t0 = time.perf_counter()
    manifest = prepare_text([corpus], out, tokenizer=tokenizer, doc_unit="line", workers=int(workers),
                            progress=False)
    splits = manifest["splits"]
    print(json.dumps({"seconds": time.perf_counter() - t0,
                      "tokens": splits["train"]["tokens"] + splits["val"]["tokens"]}))
""")

DATASETS = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from datasets import load_dataset
    from tokenizers import Tokenizer
    corpus, cache, tokenizer_file, workers = sys.argv[1:5]
    tokenizer = Tokenizer.from_file(tokenizer_file)

    def encode(batch):
        return {"input_ids": [e.ids for e in tokenizer.encode_batch(batch["text"])]}

    t0 = time.perf_counter()
    files = sorted(str(p) for p in Path(corpus).glob("*.txt"))
    ds = load_dataset("text", data_files=files, split="train", cache_dir=cache)
    ds = ds.map(encode, batched=True, num_proc=int(workers), remove_columns=["text"])
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": len(ds)}))
""")


def measure(code: str, args: list[str]) -> dict:
    """Run ``code`` in a fresh interpreter; its JSON line plus the peak RSS of it and its children."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        total = 0
        try:
            for p in [watched, *watched.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.05)
    out, err = process.communicate()
    if process.returncode != 0:
        sys.exit(f"failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss": peak}


def summarise(runs: list[dict]) -> dict:
    """The median wall time of a tool's runs, and the highest peak memory of any of them."""
    return {"seconds": statistics.median(r["seconds"] for r in runs), "peak_rss": max(r["peak_rss"] for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=20, help="the smaller corpus")
    ap.add_argument("--scale", type=float, default=10, help="the larger corpus is this many times bigger")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each tool at each size, alternating")
    args = ap.parse_args()
    from headstart.tokenizer import train_bpe

    mib = 2 ** 20
    rows = []
    with tempfile.TemporaryDirectory(prefix="headstart-vs-datasets-") as tmp:
        tmp = Path(tmp)
        for size in (args.size_mb, args.size_mb * args.scale):
            corpus = tmp / f"corpus-{size:g}"
            corpus.mkdir()
            corpus_bytes = build_corpus(corpus, size)
            tokenizer = tmp / "tokenizer.json"
            if not tokenizer.exists():  # trained once, on the first copy, for both tools and both sizes
                lines = (line for line in (corpus / "gutenberg_copy_000.txt").read_text().splitlines() if line)
                train_bpe(lines, 8192).save(str(tokenizer))
            runs: dict[str, list[dict]] = {"headstart": [], "datasets": []}
            for repeat in range(args.repeats):
                for tool, code in (("headstart", HEADSTART), ("datasets", DATASETS)):
                    out = tmp / f"{tool}-{size:g}-{repeat}"
                    runs[tool].append(measure(code, [str(corpus), str(out), str(tokenizer), str(args.workers)]))
                    shutil.rmtree(out, ignore_errors=True)
            row = {"mb": corpus_bytes / 1e6, **{tool: summarise(r) for tool, r in runs.items()}}
            rows.append(row)
            ours, theirs = row["headstart"], row["datasets"]
            each = ", ".join(f"{t['seconds'] / o['seconds']:.2f}" for o, t in zip(runs["headstart"], runs["datasets"]))
            print(f"{row['mb']:7.1f} MB  headstart {row['mb'] / ours['seconds']:6.2f} MB/s, peak {ours['peak_rss'] / mib:5.0f} MiB"
                  f"   datasets {row['mb'] / theirs['seconds']:6.2f} MB/s, peak {theirs['peak_rss'] / mib:5.0f} MiB"
                  f"   throughput ratio {theirs['seconds'] / ours['seconds']:.2f}x (medians; each pair: {each})",
                  flush=True)
            shutil.rmtree(corpus, ignore_errors=True)
    small, large = rows
    for tool in ("headstart", "datasets"):
        print(f"{tool}: peak memory x{large[tool]['peak_rss'] / small[tool]['peak_rss']:.2f} as the corpus grows "
              f"x{large['mb'] / small['mb']:.1f}")
    print("reproduce: python bench/prepare_vs_datasets.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
