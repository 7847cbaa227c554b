"""``headstart demo --audio``: BEST-RQ on synthetic spoken words, then the head start on unseen speakers.

No speech corpus ships with an install, so the demo synthesises one (``synthetic.py``: ten three-vowel
"words" said by eight synthetic speakers, 15 takes each).  Six speakers' clips are pre-trained on
without labels and are the fine-tuning pool; two speakers are held out for testing, as
``bench/fsdd_transfer.py`` does with real recordings.  The limits of synthetic speech are in
``synthetic.py``: the demo shows the flow working; the FSDD benchmark measures a real head start.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from ..demo import demo_compare, demo_pretrain, fresh_demo_folder, print_demo_summary
from .prepare import prepare_audio
from .synthetic import write_synthetic_words

log = logging.getLogger("headstart")

SPEAKERS, TEST_SPEAKERS, TAKES = 8, 2, 15
FEATURES = {"sample_rate": 8000, "n_mels": 40}
DEMO_CONFIG = {
    "model": {"preset": "audio-tiny", "max_frames": 200},
    "objective": {"name": "best_rq", "mask_prob": 0.05, "mask_span": 10, "codebook_size": 1024},
    "train": {"steps": 600, "batch_size": 64, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 60,
              "weight_decay": 0.01, "eval_every": 150, "eval_batches": 2, "log_every": 50},
}
DEMO_COMPARE = {"budgets": [20, 50], "seeds": [0, 1, 2],
                "train": {"steps": 200, "batch_size": 16, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 20,
                          "eval_every": 25, "patience": 4, "log_every": 25}}


def run_audio_demo(out: Path = Path("headstart-demo-audio"), steps: Optional[int] = None,
                   finetune_steps: Optional[int] = None, seeds: Optional[list[int]] = None) -> dict:
    """``steps``, ``finetune_steps`` and ``seeds`` shorten the demo (tests use them)."""
    out = fresh_demo_folder(out)
    t0 = time.perf_counter()
    log.info("1/3  synthesising %d speakers saying 10 words, %d takes each; %d speakers are held out for "
             "testing", SPEAKERS, TAKES, TEST_SPEAKERS)
    clips = write_synthetic_words(out / "wav", speakers=SPEAKERS, takes=TAKES, sample_rate=FEATURES["sample_rate"])
    held_out = {f"s{s}" for s in range(SPEAKERS - TEST_SPEAKERS, SPEAKERS)}
    train_clips = [c for c in clips if c.stem.split("_")[1] not in held_out]
    test_clips = [c for c in clips if c.stem.split("_")[1] in held_out]
    labels = {"label_from_name": "{label}_{speaker}_{take}"}
    pretrain_data, pool, test = out / "pretrain-data", out / "task-pool", out / "task-test"
    prepare_audio(train_clips, pretrain_data, val_fraction=0.05, progress=False, **FEATURES)
    prepare_audio(train_clips, pool, val_fraction=0.0, progress=False, **labels, **FEATURES)
    prepare_audio(test_clips, test, val_fraction=0.0, progress=False, **labels, **FEATURES)

    log.info("2/3  pre-training BEST-RQ on the training speakers' clips, labels unused")
    config_file, result = demo_pretrain(out, pretrain_data, DEMO_CONFIG, steps)

    log.info("3/3  proving the head start on unseen speakers: pre-trained vs scratch vs logistic regression "
             "on pooled log-mels")
    task = {"train": str(pool), "test": str(test)}
    compare_file, study = demo_compare(out, DEMO_COMPARE, result.last_checkpoint, task, seeds, finetune_steps)

    print_demo_summary("headstart demo --audio", t0, {
        "prepared data": f"{pretrain_data}, {pool}, {test}  (manifest.json, log-mel features)",
        "configs": f"{config_file}, {compare_file}",
        "run": f"{result.run_dir}  (tensorboard --logdir {result.run_dir})"}, result, study, "  (unseen speakers)")
    return {"data": pretrain_data, "result": result, "report": study["report"], "study": study["results"]}
