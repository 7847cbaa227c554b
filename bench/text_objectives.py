"""Text objectives at equal pre-training wall time: skip-gram, CBOW, ELECTRA and masked LM, each given the
same minutes on IMDb's 50,000 unlabeled reviews (``train.time_budget``), then scored the same way.

Scoring, identical for every objective: the frozen backbone's mean-pooled features (SIF-weighted for word
vectors), logistic regression with C cross-validated inside 500 labels (`linear_probe`, `solver: lbfgs`),
3 seeds; TF-IDF + LR on the same labels beside them.  These are the splits the recipes are chosen on, so
no final figure comes from them: IMDb's 5,000 tuning test reviews (``imdb_vectors.split_test``) and SST-2's
dev set (872).  A frozen probe is the cheap, equal protocol; it understates transformers, which are made to
be fine-tuned: BENCHMARKS.md quotes their fully fine-tuned figures from text_transfer.py next to this table.

- skipgram, cbow   word tokenizer (100,000 words, lowercased), 300 dimensions, gensim, passes fitted to
                   the time;
- masked_lm        bert-micro (4 layers, 256 wide, rotary, QK-norm), context 256, 16 x 256 tokens a step,
                   byte-level BPE of 16,384 ids, lowercased, mask 20%;
- electra          the same discriminator and data, a generator a quarter as wide, mask 15%;
- skipgram+masked_lm  half the time skip-gram, half masked LM on the same words (100,000 ids), the
                   transformer's token embeddings seeded from the vectors (``model.embeddings_from``).

    python bench/text_objectives.py [--work /tmp/headstart-imdb] [--minutes 6] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_vectors import IMDB, SHARED, need_shared, prepare_unsup, probe, quiet_logs, split_test, tfidf  # noqa: E402

TRANSFORMER = {"preset": "bert-micro", "positions": "rope", "qk_norm": True, "context_length": 256}
TRANSFORMER_TRAIN = {"steps": 100_000, "batch_size": 16, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100,
                     "betas": [0.9, 0.98], "weight_decay": 0.01, "eval_batches": 10, "log_every": 100,
                     "keep_last": 1, "progress": False}
OBJECTIVES = {
    "skipgram": ("words", {"objective": {"name": "skipgram"}, "model": {"dim": 300},
                           "train": {"steps": 100, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001, "keep_last": 1}}),
    "cbow": ("words", {"objective": {"name": "cbow"}, "model": {"dim": 300},
                       "train": {"steps": 100, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001, "keep_last": 1}}),
    "masked_lm": ("bpe", {"objective": {"name": "masked_lm", "mask_prob": 0.2}, "model": TRANSFORMER,
                          "train": TRANSFORMER_TRAIN}),
    "electra": ("bpe", {"objective": {"name": "electra", "mask_prob": 0.15}, "model": TRANSFORMER,
                        "train": TRANSFORMER_TRAIN}),
    # Half the time on skip-gram, half on masked LM over the same words, its token embeddings seeded from
    # the vectors (model.embeddings_from): the transformer starts from what the cheap objective learned.
    "skipgram+masked_lm": ("words", {"objective": {"name": "masked_lm", "mask_prob": 0.2},
                                     "model": {**TRANSFORMER, "embeddings_from": "half:skipgram"},
                                     "train": TRANSFORMER_TRAIN}),
}


def pretrain_for(work: Path, name: str, minutes: float, base: str | None = None) -> dict:
    """Pre-train ``name`` (or a run of objective ``base`` called ``name``) for ``minutes``; resumes."""
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    kind, settings = OBJECTIVES[base or name]
    run_dir = work / "objectives" / f"{name}-{minutes:g}min"
    done = run_dir / "bench.json"
    if done.exists():
        return json.loads(done.read_text())
    data = prepare_unsup(work) if kind == "words" else prepare_unsup(work, "bpe", 16384)
    config = json.loads(json.dumps(settings))
    seeded_by, spent = config["model"].get("embeddings_from", ""), 0.0
    if seeded_by.startswith("half:"):  # the first half of the time trains the vectors that seed the rest
        vectors = pretrain_for(work, f"{seeded_by[5:]}-first-half", minutes / 2, base=seeded_by[5:])
        config["model"]["embeddings_from"] = vectors["run"]
        minutes, spent = minutes / 2, vectors["seconds"]
    config["train"].update(time_budget=f"{minutes}m", eval_every=config["train"]["steps"])
    config.update(run_dir=str(run_dir), data={"path": str(data)})
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate(config))
    summary = {"run": str(run_dir), "checkpoint": str(result.last_checkpoint), "steps": result.step,
               "seconds": spent + time.perf_counter() - t0, "final_eval": result.final_eval}
    done.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    ap.add_argument("--minutes", type=float, default=6.0, help="pre-training wall time for every objective")
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    need_shared()
    quiet_logs()
    tuning, _ = split_test(args.work)
    tasks = {"imdb": {"train": str(IMDB / "train.jsonl"), "test": str(tuning)},
             "sst2": {"train": str(SHARED / "sst2/stsa.binary.train"), "test": str(SHARED / "sst2/stsa.binary.dev"),
                      "format": "label-first"}}
    from headstart.transfer.stats import mean_ci

    rows = {}
    for name in args.objectives:
        pre = pretrain_for(args.work, name, args.minutes)
        runs = args.work / "objectives"
        rows[name] = {"minutes": pre["seconds"] / 60, "steps": pre["steps"],
                      **{t: [probe(runs / f"probe-{t}-{name}-{args.minutes:g}min-{args.budget}-s{s}", pre["checkpoint"], task, args.budget, s)
                             for s in args.seeds] for t, task in tasks.items()}}
    rows["TF-IDF + LR"] = {t: [tfidf(task, args.budget, s) for s in args.seeds] for t, task in tasks.items()}
    (args.work / "objectives" / f"summary-{args.minutes:g}min.json").write_text(json.dumps(rows, indent=1))

    print(f"\n{args.minutes:g} min of pre-training each on IMDb unsup; linear probe, {args.budget} labels, "
          f"seeds {args.seeds}; mean accuracy % [95% interval]")
    print(f"{'objective':12} {'wall min':>8} {'steps':>7} {'IMDb (5k tuning reviews)':>26} {'SST-2 dev':>22}")
    for name, row in rows.items():
        cells = []
        for t in tasks:
            ci = mean_ci(row[t])
            cells.append(f"{100 * ci.mean:5.1f} [{100 * ci.low:5.1f}, {100 * ci.high:5.1f}]")
        timing = f"{row['minutes']:8.1f} {row['steps']:7d}" if "minutes" in row else f"{'':8} {'':7}"
        print(f"{name:12} {timing} {cells[0]:>26} {cells[1]:>22}")
    print(f"\nsummary: {args.work / 'objectives' / f'summary-{args.minutes:g}min.json'}")
    print("reproduce: python bench/text_objectives.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
