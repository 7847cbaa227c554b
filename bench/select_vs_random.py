"""Data selection for relevance: N tokens chosen by `headstart select` (DSIR) from a mixed pool towards
SST-2's training text, against a uniform random sample of N tokens from the same pool, each pre-trained the
same way and probed on SST-2 with 500 labels.

Pool (three sources): the 17 Gutenberg books (a line a document: these files hold a paragraph a line,
with no blank lines between, so `--doc-unit paragraph` would make each book one document and a random
sample would take whole books), IMDb's 50,000 unlabeled reviews,
and Python's own documentation (docstrings and pydoc pages, as the demo builds it).  Target: SST-2's
training sentences, labels ignored.  Both samples come from the same run of `headstart select
--write-random-sample` (the random one is the Gumbel top-k with equal weights).  Each is prepared with a
word tokenizer (50,000 words, lowercased) and pre-trained with skip-gram (300 dimensions, 10 passes);
scored by logistic regression on the frozen SIF-weighted mean vectors, C cross-validated inside the 500
labels, 3 seeds, on SST-2 test (1,821).  Pre-training wall time is printed for each.

    python bench/select_vs_random.py [--work /tmp/headstart-select] [--tokens 2M] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_vectors import IMDB, SHARED, need_shared, probe, quiet_logs  # noqa: E402

VECTORS = {"objective": {"name": "skipgram"}, "model": {"dim": 300},
           "train": {"steps": 10, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001, "eval_every": 10, "keep_last": 1,
                     "seed": 1337}}


def select_both(work: Path, tokens: str) -> dict:
    from headstart.text.select import select_text
    from headstart.text.select_cli import parse_tokens
    from headstart.text.stdlib_corpus import write_stdlib_corpus

    out = work / "selection"
    if (out / "manifest.json").exists():
        return json.loads((out / "manifest.json").read_text())
    docs = work / "pool" / "python-docs.jsonl"
    if not docs.exists():
        write_stdlib_corpus(docs)
    return select_text([SHARED / "gutenberg", IMDB / "unsup.jsonl", docs.parent], out,
                       target=SHARED / "sst2" / "stsa.binary.train", tokens=parse_tokens(tokens),
                       doc_unit="line", write_random_sample=True, progress=False)


def pretrain_on(work: Path, name: str, jsonl: Path) -> dict:
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain
    from headstart.text.prepare import prepare_text

    run_dir = work / f"skipgram-{name}"
    if (run_dir / "bench.json").exists():
        return json.loads((run_dir / "bench.json").read_text())
    data = work / f"words-{name}"
    if not (data / "manifest.json").exists():
        prepare_text([jsonl], data, tokenizer="word", vocab_size=50_000, lowercase=True, fmt="jsonl",
                     val_fraction=0.02, progress=False)
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate({**VECTORS, "run_dir": str(run_dir), "data": {"path": str(data)}}))
    summary = {"checkpoint": str(result.last_checkpoint), "seconds": time.perf_counter() - t0}
    (run_dir / "bench.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-select"))
    ap.add_argument("--tokens", default="2M", help="tokens in each sample (select's unit: words and punctuation)")
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    need_shared()
    quiet_logs()
    from headstart.transfer.claims import paired_delta
    from headstart.transfer.stats import mean_ci

    manifest = select_both(args.work, args.tokens)
    task = {"train": str(SHARED / "sst2/stsa.binary.train"), "test": str(SHARED / "sst2/stsa.binary.test"),
            "format": "label-first"}
    samples = {"selected": args.work / "selection" / manifest["file"],
               "random": args.work / "selection" / manifest["random_sample_file"]}
    scores, minutes = {}, {}
    for name, jsonl in samples.items():
        pre = pretrain_on(args.work, name, jsonl)
        minutes[name] = pre["seconds"] / 60
        scores[name] = [probe(args.work / f"probe-{name}-{args.budget}-s{seed}", pre["checkpoint"], task,
                              args.budget, seed) for seed in args.seeds]
    (args.work / "summary.json").write_text(json.dumps({"scores": scores, "minutes": minutes,
                                                        "manifest": manifest}, indent=1))
    kl = manifest["kl_divergence"]
    print(f"\npool: {manifest['pool']['tokens']:,} tokens; each sample {args.tokens} tokens; peak RSS of the "
          f"selection {manifest['peak_rss_mib']} MiB; KL(SST-2 || sample): selected {kl['target_to_selected']:.3f}, "
          f"random {kl['target_to_random_sample']:.3f} nats")
    print(f"{'source':60} {'pool':>7} {'selected':>9} {'random':>7}")
    for row in manifest["sources"]:
        print(f"{Path(row['source']).name:60} {row['pool_share']:7.1%} {row['selected_share']:9.1%} "
              f"{row['random_sample_share']:7.1%}")
    print(f"\nSST-2 test accuracy, {args.budget} labels, seeds {args.seeds} (mean [95% interval]):")
    for name in samples:
        ci = mean_ci(scores[name])
        print(f"  {name:9} {100 * ci.mean:5.1f} [{100 * ci.low:5.1f}, {100 * ci.high:5.1f}]   "
              f"pre-training {minutes[name]:.1f} min")
    d = paired_delta(scores["selected"], scores["random"])
    print(f"  selected - random: {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
          f"{'' if d['significant'] else ' (not significant)'}")
    print("reproduce: python bench/select_vs_random.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
