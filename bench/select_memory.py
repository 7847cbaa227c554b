"""Peak memory and throughput of `headstart select` at two pool sizes with the same N: memory stays flat.

Each pool is whole copies of ../shared/data's IMDb `unsup.jsonl` (50,000 reviews, 66 MB) and the 17
Gutenberg books (7.4 MB, one sentence a line, written here as paragraphs of 8 sentences so that, like
the reviews, most documents pass --min-tokens 100), in a temporary folder, until it reaches --sizes-mb;
the two sources are the folders `imdb/` and `gutenberg/`.  The target is SST-2's
training sentences (movie reviews, `<label> <text>` lines).  Copies repeat the same documents, which
changes nothing that is measured here: every document is read, hashed and keyed the same way.

Each size runs `headstart select` as a user does, in a fresh process, so the peak RSS it reports (its
own ru_maxrss, in the manifest) is that run's alone.  A fresh `headstart select --help` gives the
command's memory before it reads anything: the CLI imports torch when it registers the other
modalities' commands.  MB/s is pool bytes over the whole run's wall time (two full passes over the pool
and a third over the files holding chosen documents).

    .venv/bin/python bench/select_memory.py --sizes-mb 200 800 --tokens 5M
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PARAGRAPH_LINES = 8
IMDB, GUTENBERG, SST2 = SHARED / "imdb" / "unsup.jsonl", SHARED / "gutenberg", SHARED / "sst2" / "stsa.binary.train"
CHILD_RSS = ("import resource, sys; from headstart.cli import main; main(['select', '--help']); "
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)")


def build_pool(folder: Path, size_mb: float) -> int:
    """Whole copies of IMDb unsup + Gutenberg until ``size_mb``; returns the bytes written."""
    books = sorted(GUTENBERG.glob("*.txt"))
    copy_bytes = IMDB.stat().st_size + sum(book.stat().st_size for book in books)
    for copy in range(max(1, math.ceil(size_mb * 1e6 / copy_bytes))):
        (folder / "imdb").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(IMDB, folder / "imdb" / f"unsup_{copy:03d}.jsonl")
        (folder / "gutenberg" / f"copy_{copy:03d}").mkdir(parents=True, exist_ok=True)
        for book in books:
            lines = [line.strip() for line in book.read_text(encoding="utf-8").splitlines() if line.strip()]
            paragraphs = (" ".join(lines[start: start + PARAGRAPH_LINES])
                          for start in range(0, len(lines), PARAGRAPH_LINES))
            (folder / "gutenberg" / f"copy_{copy:03d}" / book.name).write_text("\n\n".join(paragraphs) + "\n")
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", type=float, nargs=2, default=[200, 800], metavar=("SMALL", "LARGE"))
    parser.add_argument("--tokens", default="5M", help="N, the same at both sizes (as --tokens takes it)")
    args = parser.parse_args()
    for path in (IMDB, GUTENBERG, SST2):
        if not path.exists():
            sys.exit(f"{path}: not found (the shared data sets live next to the project checkout)")

    startup = subprocess.run([sys.executable, "-c", CHILD_RSS], capture_output=True, text=True, check=True)
    print(f"`headstart select --help`, a fresh process: peak RSS {float(startup.stderr.split()[-1]):.0f} MiB")
    print(f"{'pool MB':>8} {'documents':>10} {'tokens':>12} {'selected tokens':>16} {'docs':>7} {'peak RSS MiB':>13} "
          f"{'seconds':>8} {'MB/s':>6} {'IMDb share: pool / selected / random':>38} {'KL reduction':>13}")
    load_before = os.getloadavg()[0]
    for size_mb in args.sizes_mb:
        with tempfile.TemporaryDirectory(prefix="headstart-select-bench-") as tmp:
            pool = Path(tmp) / "pool"
            build_pool(pool, size_mb)
            started = time.perf_counter()
            command = ["select", str(pool / "imdb"), str(pool / "gutenberg"), "--target", str(SST2),
                       "--out", str(Path(tmp) / "selected"), "--tokens", args.tokens, "--no-progress"]
            run = subprocess.run([sys.executable, "-m", "headstart", *command], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            wall = time.perf_counter() - started
            if run.returncode:
                sys.exit(run.stderr)
            manifest = json.loads((Path(tmp) / "selected" / "manifest.json").read_text())
        imdb = next(row for row in manifest["sources"] if row["source"].endswith("imdb"))
        pool_info = manifest["pool"]
        print(f"{pool_info['bytes'] / 1e6:>8.0f} {pool_info['documents']:>10,} {pool_info['tokens']:>12,} "
              f"{manifest['selected']['tokens']:>16,} {manifest['selected']['documents']:>7,} "
              f"{manifest['peak_rss_mib']:>13.0f} {wall:>8.1f} "
              f"{pool_info['bytes'] / 1e6 / wall:>6.1f} "
              f"{imdb['pool_share']:>14.1%} / {imdb['selected_share']:>7.1%} / {imdb['random_sample_share']:>7.1%}"
              f"      {manifest['kl_divergence']['reduction']:>13.3f}")
    # Another process on the machine slows this down; the load average says whether there was one.
    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (this run accounts for 1)")
    print("reproduce: .venv/bin/python bench/select_memory.py " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    main()
