"""``headstart recipe``: the pre-training recipe that transfers best for the compute a user has.

The choice follows measurements (BENCHMARKS.md, "Text objectives at equal wall time"; 2 CPU cores, IMDb's
13 M words, probed with 500 labels on IMDb and SST-2): at 2 and 6 minutes skip-gram and CBOW word
vectors scored 83.8-84.0% / 77.2-78.2%, masked LM 62.2% / 59.4% and ELECTRA 58.5% / 54.6% in the same
time, and a transformer seeded from the vectors and trained on lost 3-4 points against the vectors alone.
So the recipe is word vectors at every budget, passes fitted to it (``train.time_budget``; 20 passes were
no better than 10 on IMDb): skip-gram where at least 3 of its passes fit, CBOW where fewer do (a CBOW
pass takes a third of the time and the two tied wherever both were measured).  Budgets beyond the
measured ones and GPUs are flagged in the recipe's reasons: there the choice is an extrapolation.
"""
from __future__ import annotations

import math
from pathlib import Path

from pydantic import ValidationError

from ..engine.config import TrainConfig
from ..errors import HeadstartError
from .shards import load_manifest

MEASURED_UP_TO_S = 20 * 60  # the longest CPU pre-training measured (issue #20's 20-minute masked LM)
MIN_SKIPGRAM_PASSES = 3  # the fewest skip-gram passes measured to transfer as well as CBOW
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
                             f"budget is word vectors, which need words: headstart prepare text ... "
                             f"--tokenizer word --lowercase")
    tokens = int(manifest["splits"]["train"]["tokens"])
    dim = 300 if tokens >= 2_000_000 else 100  # fewer words than that cannot fill 300 dimensions (the demo)
    passes_that_fit = max(1, math.floor(seconds * WORDS_PER_SECOND / max(tokens, 1)))
    objective = "skipgram" if passes_that_fit >= MIN_SKIPGRAM_PASSES else "cbow"
    config = {
        "run_dir": f"runs/{objective}-{Path(data).name}",
        "data": {"path": str(data)},
        "objective": {"name": objective, "window": 5, "negative": 5},
        "model": {"dim": dim},
        "train": {"steps": MAX_PASSES, "time_budget": seconds, "batch_size": 1, "lr": 0.025, "min_lr": 0.0001,
                  "eval_every": 5, "keep_last": 1},
    }
    reasons = [
        "word vectors: at every CPU wall time measured they transfer 20 points better than a masked-LM or "
        "ELECTRA transformer trained as long (BENCHMARKS.md, 'Text objectives at equal wall time')",
        (f"skip-gram: about {passes_that_fit} of its passes fit, at least the {MIN_SKIPGRAM_PASSES} measured to "
         "match CBOW" if objective == "skipgram" else
         f"CBOW: fewer than {MIN_SKIPGRAM_PASSES} skip-gram passes fit; a CBOW pass takes a third of the time "
         "and the two transferred alike wherever both were measured"),
        f"{dim} dimensions for {tokens:,} training words",
        f"up to {MAX_PASSES} passes (20 were no better than 10 on IMDb), as many as fit in {_minutes(seconds)}; "
        "the run times its first pass and plans the rest",
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
