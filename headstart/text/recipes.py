"""``headstart recipe``: the pre-training recipe that transfers best for the compute a user has.

The choice follows measurements, not taste (BENCHMARKS.md, "Text objectives at equal wall time"): on
2 CPU cores, at every wall time measured (6 and 20 minutes on IMDb's 13 M words), skip-gram word vectors
gave a linear probe 10-20 points above masked LM, ELECTRA or CBOW-free transformers trained as long, and
above a fully fine-tuned masked-LM transformer pre-trained for 20 minutes.  No wall time measured here
made a transformer worth its cost on a CPU, so the recipe is skip-gram for every budget, its passes
fitted to the budget (``train.time_budget``; more than 20 passes did not help on IMDb).  Budgets beyond
the measured ones and GPUs are flagged in the recipe's notes: there the choice is an extrapolation.
"""
from __future__ import annotations

import math
from pathlib import Path

from pydantic import ValidationError

from ..engine.config import TrainConfig
from ..errors import HeadstartError
from .shards import load_manifest

MEASURED_UP_TO_S = 20 * 60  # the longest CPU pre-training of the equal-wall-time table
WORDS_PER_SECOND = 370_000  # gensim skip-gram, 300 dims, 2 cores (AMD EPYC, IMDb unsup): planning only
MAX_PASSES = 20


def text_recipe(data: Path, time_budget: str | float, device: str = "cpu") -> tuple[dict, list[str]]:
    """(a pre-training config for ``data``, the reasons for it, one a line)."""
    try:
        seconds = TrainConfig.model_validate({"steps": 1, "batch_size": 1, "lr": 1.0,
                                              "time_budget": time_budget}).time_budget
    except ValidationError:
        raise HeadstartError(f"--time-budget {time_budget}: expected seconds or a duration such as 20m or 1.5h")
    manifest = load_manifest(data)  # a one-line error for anything but a `prepare text` folder
    kind = (manifest.get("tokenizer") or {}).get("kind")
    if kind != "word":
        raise HeadstartError(f"{data} was prepared with a {kind} tokenizer; the recipe for a {_minutes(seconds)} "
                             f"budget is skip-gram word vectors, which need words: headstart prepare text ... "
                             f"--tokenizer word --lowercase")
    tokens = int(manifest["splits"]["train"]["tokens"])
    dim = 300 if tokens >= 2_000_000 else 100  # fewer words than that cannot fill 300 dimensions (the demo)
    passes_that_fit = max(1, math.floor(seconds * WORDS_PER_SECOND / max(tokens, 1)))
    config = {
        "run_dir": f"runs/skipgram-{Path(data).name}",
        "data": {"path": str(data)},
        "objective": {"name": "skipgram", "window": 5, "negative": 5},
        "model": {"dim": dim},
        "train": {"steps": MAX_PASSES, "time_budget": seconds, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001,
                  "eval_every": 5, "keep_last": 1},
    }
    reasons = [
        f"skip-gram word vectors: at every CPU wall time measured (up to {MEASURED_UP_TO_S // 60} min) they "
        "transfer best (BENCHMARKS.md, 'Text objectives at equal wall time')",
        f"{dim} dimensions for {tokens:,} training words",
        f"up to {MAX_PASSES} passes (more did not help on IMDb), as many as fit in {_minutes(seconds)}: about "
        f"{min(passes_that_fit, MAX_PASSES)} at 2 cores' speed; the run measures its own pass and plans the rest",
        "fine-tune with strategy: {name: linear_probe, solver: lbfgs} (a short text, sentiment) or "
        "{name: full} with pooling: cnn (questions, where the first words carry the class)",
    ]
    if seconds > MEASURED_UP_TO_S:
        reasons.append(f"note: {_minutes(seconds)} is beyond the longest budget measured ({MEASURED_UP_TO_S // 60} "
                       "min); a transformer (objective electra) may overtake word vectors with hours of compute, "
                       "which headstart has not measured on a CPU")
    if device != "cpu":
        reasons.append(f"note: measured on CPU only; on {device} a transformer trains tens of times faster and "
                       "the choice may differ (not measured)")
    return config, reasons


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds < 3600 else f"{seconds / 3600:g} h"
