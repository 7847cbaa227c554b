"""The text audit at scale: peak memory at 100,000 and 1,000,000 documents, documents/s with 1 and 2
workers, and the near-duplicate pairs of the disk-based stages against the in-memory audit's.

Corpora: ``bench/web_corpus.py`` (IMDb reviews and Gutenberg paragraphs spliced and perturbed; 1% exact
and 4% near copies planted), 25,000 documents a JSON Lines file.  Each audit runs in a fresh process
(`headstart.text.audit_pipeline.audit_pipeline`, what `headstart audit` runs, or the in-memory
`audit_text`); its peak RSS is the largest of the process and its workers (ru_maxrss of the process and
of its waited-for children).  Documents/s is over the whole job, report included.

    .venv/bin/python bench/audit_scale.py --work /tmp/audit-scale
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
kind, corpus, work, workers, pairs_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
pairs = []
started = time.perf_counter()
if kind == "pipeline":
    from headstart.text.audit_pipeline import audit_pipeline
    report = audit_pipeline([corpus], work=work, workers=workers, fmt="jsonl", pairs_out=pairs)
else:
    from headstart.text.audit import audit_text
    report = audit_text([corpus], fmt="jsonl", pairs_out=pairs)
seconds = time.perf_counter() - started
Path(pairs_file).write_text(json.dumps(pairs))
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"documents": report["documents"], "seconds": seconds, "peak_rss_mb": rss / 1024,
                  "pairs": report["near_duplicates"]["pairs"], "exact_copies": report["exact_duplicates"]["duplicate_documents"]}))
"""


def run(kind: str, corpus: Path, work: Path, workers: int, pairs_file: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(corpus), str(work), str(workers), str(pairs_file)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{kind} audit failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["documents_per_s"] = result["documents"] / result["seconds"]
    print(f"  {kind:8s} {workers} worker(s): {result['documents']:,} documents in {result['seconds']:.1f} s "
          f"({result['documents_per_s']:,.0f}/s), peak RSS {result['peak_rss_mb']:.0f} MB, "
          f"{result['pairs']:,} near pairs, {result['exact_copies']:,} exact copies", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    corpora = {}
    for docs in (args.small, args.large):
        corpora[docs] = args.work / f"corpus-{docs}"
        done = args.work / f"corpus-{docs}.json"  # beside the corpus: every file inside it is read
        if not done.exists():  # in a child process: a parent holding the sources would inflate the children's
            # ru_maxrss (Linux keeps the high-water mark across fork and exec)
            subprocess.run([sys.executable, str(Path(__file__).parent / "web_corpus.py"), "--out", str(corpora[docs]),
                            "--docs", str(docs), "--counts", str(done)], check=True)
        print(f"corpus {docs:,}: {done.read_text()}", flush=True)
    small, large = corpora[args.small], corpora[args.large]
    results = {"small": {}, "large": {}}
    print(f"{args.small:,} documents")
    results["small"]["memory"] = run("memory", small, args.work / "w", 1, args.work / "pairs-memory.json")
    results["small"]["one"] = run("pipeline", small, args.work / "w", 1, args.work / "pairs-one.json")
    results["small"]["two"] = run("pipeline", small, args.work / "w", args.workers, args.work / "pairs-two.json")
    print(f"{args.large:,} documents")
    results["large"]["two"] = run("pipeline", large, args.work / "w", args.workers, args.work / "pairs-large.json")
    shutil.rmtree(args.work / "w", ignore_errors=True)

    reference = {tuple(p) for p in json.loads((args.work / "pairs-memory.json").read_text())}
    for name in ("one", "two"):
        found = {tuple(p) for p in json.loads((args.work / f"pairs-{name}.json").read_text())}
        print(f"pairs, {name} worker(s) vs in-memory: recall {len(found & reference) / max(len(reference), 1):.4f}, "
              f"precision {len(found & reference) / max(len(found), 1):.4f} ({len(found):,} vs {len(reference):,})")
    small_rss, large_rss = results["small"]["two"]["peak_rss_mb"], results["large"]["two"]["peak_rss_mb"]
    print(f"peak RSS, {args.workers} workers: {small_rss:.0f} MB at {args.small:,}, {large_rss:.0f} MB at "
          f"{args.large:,}: x{large_rss / small_rss:.2f} (goal <= 1.3); in-memory audit at {args.small:,}: "
          f"{results['small']['memory']['peak_rss_mb']:.0f} MB")
    speedup = results["small"]["two"]["documents_per_s"] / results["small"]["one"]["documents_per_s"]
    print(f"scaling: {args.workers} workers {speedup:.2f}x the documents/s of 1 (goal >= 1.7)")
    per_million = results["large"]["two"]["seconds"] / results["large"]["two"]["documents"] * 1e6
    print(f"time per million documents, {args.workers} workers: {per_million / 60:.1f} min")
    print("reproduce: .venv/bin/python bench/audit_scale.py --work " + str(args.work))


if __name__ == "__main__":
    main()
