"""``headstart demo --images``: SimCLR on scikit-learn's bundled digits, then the head start, offline.

The digits (1,797 grayscale 8x8 images, 10 classes) ship with scikit-learn, so nothing is downloaded.
Their limits: tiny images and an easy task, where logistic regression on the 64 pixels is already
strong; the demo shows the flow working, and ``bench/mnist_transfer.py`` measures a real head start.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from ..demo import demo_compare, demo_pretrain, fresh_demo_folder, print_demo_summary
from .prepare import sklearn_digits_images

log = logging.getLogger("headstart")

# configs/digits-simclr.yaml's recipe: about 2 minutes on 2 CPU cores.
DEMO_CONFIG = {
    "model": {"preset": "resnet-tiny"},
    "objective": {"name": "simclr", "temperature": 0.5, "projection_dim": 64, "projection_hidden_dim": 256,
                  "crop_scale": [0.3, 1.0], "flip_p": 0.0, "blur_p": 0.0, "jitter_strength": 0.5},
    "monitor": {"knn_train_images": 2000, "knn_val_images": 1000},
    "train": {"steps": 400, "batch_size": 256, "lr": 2e-3, "min_lr": 1e-4, "warmup_steps": 50,
              "weight_decay": 1e-4, "eval_every": 100, "eval_batches": 2, "log_every": 25},
}
DEMO_COMPARE = {"budgets": [20, 50, "all"], "seeds": [0, 1, 2], "task": {"augment": True},
                "train": {"steps": 150, "batch_size": 32, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 10,
                          "eval_every": 25, "log_every": 25}}


def run_image_demo(out: Path = Path("headstart-demo-images"), steps: Optional[int] = None,
                   finetune_steps: Optional[int] = None, seeds: Optional[list[int]] = None) -> dict:
    """``steps``, ``finetune_steps`` and ``seeds`` shorten the demo (tests use them)."""
    out = fresh_demo_folder(out)
    t0 = time.perf_counter()
    log.info("1/3  preparing scikit-learn's digits: 80%% to pre-train on (labels unused) and fine-tune "
             "from, 20%% held out for testing")
    data = out / "data"
    sklearn_digits_images(data, val_fraction=0.2)

    log.info("2/3  pre-training SimCLR on a small ResNet (the online kNN accuracy uses labels to watch, "
             "never to train)")
    config_file, result = demo_pretrain(out, data, DEMO_CONFIG, steps)

    log.info("3/3  proving the head start: pre-trained vs scratch vs logistic regression on pixels")
    # The last checkpoint: the held-out images are pre-training's validation split, so they must not
    # choose the checkpoint either.
    task = {"train": str(data), "test": {"path": str(data), "split": "val"}}
    compare_file, study = demo_compare(out, DEMO_COMPARE, result.last_checkpoint, task, seeds, finetune_steps)

    print_demo_summary("headstart demo --images", t0, {
        "prepared data": f"{data}  (manifest.json, uint8 image arrays)", "configs": f"{config_file}, {compare_file}",
        "run": f"{result.run_dir}  (tensorboard --logdir {result.run_dir})"}, result, study)
    return {"data": data, "result": result, "report": study["report"], "study": study["results"]}
