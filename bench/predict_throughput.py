"""Batch inference throughput: ``headstart predict`` vs transformers' ``pipeline`` on the same classifier.

    python bench/predict_throughput.py [--run /tmp/hs-round-trip/sst2-ft] [--rounds 3]

The classifier is the SST-2 run of ``bench/classifier_round_trip.py`` (a gpt-nano fine-tuned with last-token
pooling), exported with ``headstart export`` as GPT2ForSequenceClassification; both sides classify
stsa.binary.test's 1,821 sentences at batch 64 on the CPU, in the same process, alternating rounds
(ABAB: these machines are noisy), and the median sentences/s of each is compared.

headstart's side is ``predict_files``, the whole command minus process start: reading the file, tokenising,
batching, the model, writing one JSON line per sentence.  transformers' side is ``pipeline(...)(texts)``,
the texts already in memory.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SST2_TEST = ROOT.parent / "shared" / "data" / "sst2" / "stsa.binary.test"
BATCH = 64


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("/tmp/hs-round-trip/sst2-ft"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (args.run / "classifier").is_dir():
        raise SystemExit(f"{args.run}: no classifier; run bench/classifier_round_trip.py --only text first")
    hf_dir = args.run.parent / "sst2-ft-hf-throughput"
    if not (hf_dir / "config.json").exists():
        subprocess.run([sys.executable, "-m", "headstart", "export", str(args.run), "--out", str(hf_dir)], check=True)

    import torch
    from transformers import pipeline

    from headstart.classifier import load_classifier
    from headstart.classifier.predict import predict_files

    texts = [line.split(maxsplit=1)[1] for line in SST2_TEST.read_text().splitlines() if line.strip()]
    classifier = load_classifier(args.run)
    hf = pipeline("text-classification", model=str(hf_dir), tokenizer=str(hf_dir), device=-1)
    out = args.run.parent / "throughput-preds.jsonl"

    def ours() -> float:
        started = time.perf_counter()
        counts = predict_files(classifier, [str(SST2_TEST)], str(out), batch_size=BATCH)
        assert counts["predicted"] == len(texts)
        return len(texts) / (time.perf_counter() - started)

    def theirs() -> float:
        started = time.perf_counter()
        results = hf(texts, batch_size=BATCH, truncation=True)
        assert len(results) == len(texts)
        return len(texts) / (time.perf_counter() - started)

    ours(), theirs()  # warm-up: first calls load kernels and allocate
    rates = {"headstart": [], "transformers": []}
    for _ in range(args.rounds):
        rates["headstart"].append(ours())
        rates["transformers"].append(theirs())
    ours_rate, their_rate = statistics.median(rates["headstart"]), statistics.median(rates["transformers"])
    # Agreement: the same classifier must give the same labels both ways.
    ours_labels = [json.loads(line)["label"] for line in out.read_text().splitlines()]
    their_labels = [r["label"] for r in hf(texts, batch_size=BATCH, truncation=True)]
    agree = sum(a == b for a, b in zip(ours_labels, their_labels)) / len(texts)
    print(json.dumps({"cpu": cpu_name(), "threads": torch.get_num_threads(), "cores": os.cpu_count(),
                      "sentences": len(texts), "batch": BATCH,
                      "headstart_sentences_per_s": round(ours_rate, 1),
                      "transformers_pipeline_sentences_per_s": round(their_rate, 1),
                      "ratio": round(ours_rate / their_rate, 2), "label_agreement": agree,
                      "rounds": {k: [round(v, 1) for v in vs] for k, vs in rates.items()}}, indent=1))
    print(f"reproduce: python bench/predict_throughput.py --run {args.run} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
