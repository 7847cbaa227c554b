"""Issue #9, check 1: audit the Gutenberg books with every SST-2 test sentence salted into them, plus
an exact copy of one book and a near copy of another.  Every salted sentence must be flagged as
contamination, and both file pairs found.

    python bench/audit_gutenberg_sst2.py [--work /tmp/audit-gutenberg-sst2]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def salted_corpus(out: Path) -> list[str]:
    """The books with the test sentences spread evenly through them; returns the sentences."""
    sentences = [line.split(maxsplit=1)[1].strip()
                 for line in (SHARED / "sst2" / "stsa.binary.test").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    books = sorted((SHARED / "gutenberg").glob("*.txt"))
    out.mkdir(parents=True)
    for i, book in enumerate(books):
        lines, mine = book.read_text(encoding="utf-8").splitlines(), sentences[i::len(books)]
        step = max(len(lines) // (len(mine) + 1), 1)
        for k, sentence in enumerate(mine):
            lines.insert((k + 1) * step + k, sentence)
        (out / book.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(out / "carroll-alice.txt", out / "alice-exact-copy.txt")
    lines = (out / "shakespeare-caesar.txt").read_text(encoding="utf-8").splitlines()
    near = [line.replace(" the ", " a ") if k % 30 == 0 else line for k, line in enumerate(lines) if k % 40 != 7]
    (out / "caesar-near-copy.txt").write_text("\n".join(near) + "\n", encoding="utf-8")
    return sentences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/audit-gutenberg-sst2"))
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the shared data sets at {SHARED}")
    shutil.rmtree(args.work, ignore_errors=True)
    sentences = salted_corpus(args.work / "corpus")
    (args.work / "salted.txt").write_text("".join(f"1 {s}\n" for s in sentences), encoding="utf-8")
    command = [sys.executable, "-m", "headstart", "audit", str(args.work / "corpus"), "--eval",
               str(args.work / "salted.txt"), "--out", str(args.work / "audit")]
    t0 = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - t0
    audit = json.loads((args.work / "audit" / "audit.json").read_text())
    found = audit["contamination"][0]
    print(f"\ncontamination: {found['contaminated']} of {len(sentences)} salted sentences flagged "
          f"({found['short_matches']} of them shorter than 13 words, matched whole)")
    for kind in ("exact_duplicates", "near_duplicates"):
        groups = [sorted(Path(m if isinstance(m, str) else m["document"]).name
                         for m in g.get("documents") or g.get("members")) for g in audit[kind]["examples"]]
        print(f"{kind.replace('_', ' ')}: {groups}")
    print(f"audit of {audit['documents']} files, {audit['words']:,} words: {seconds:.1f} s wall; "
          f"report {args.work / 'audit' / 'audit.html'}")
    print("reproduce: python bench/audit_gutenberg_sst2.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
