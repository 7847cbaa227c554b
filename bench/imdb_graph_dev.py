"""Development check (not a benchmark): would graph pseudo-labels help self-training on IMDb?

Takes the seed 0-2 teachers of ``bench/imdb_semi.py --ngrams`` (vectors + n-grams, 100 labels), scores the
5,000 tuning reviews of ``imdb_transfer.py`` (never the scored ones) as if they were the unlabeled pool, and
compares the teacher's own pseudo-labels with the teacher's scores propagated over the reviews' k-NN graph
in the pre-trained (SIF-mean word vector) features and balanced (``headstart.finetune.graph_labels``):
accuracy over all reviews and over the most confident half and fifth, equally many per class.

    python bench/imdb_graph_dev.py [--work /tmp/headstart-imdb]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml


def kept_accuracy(probs: np.ndarray, truth: np.ndarray, fraction: float) -> float:
    from headstart.finetune.semi_supervised import quota_allocation

    chosen, labels = quota_allocation(probs, int(fraction * len(probs) / probs.shape[1]))
    return float(np.mean(labels == truth[chosen]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    args = ap.parse_args()
    from headstart.classifier import load_classifier
    from headstart.finetune import graph_labels
    from headstart.finetune.config import DataRef, FinetuneConfig
    from headstart.finetune.semi_supervised import pool_features
    from headstart.finetune.task import split_task, task_modality

    runs = args.work / "compare-imdb-self_training-ngrams" / "runs"
    for seed in (0, 1, 2):
        run = runs / f"pretrained+semi-100-s{seed}"
        raw = yaml.safe_load((run / "config.yaml").read_text())
        raw.pop("kind", None)
        cfg = FinetuneConfig.model_validate(raw)
        modality = task_modality(cfg.task)
        train, _, _ = split_task(cfg, modality)
        pool = modality.read(DataRef(path=args.work / "imdb-test-tuning.jsonl"), cfg.task, "pool")
        assert pool.label_names == train.label_names
        truth, teacher = load_classifier(run / "teacher").score(pool)
        features = pool_features(cfg, modality, pool, len(train.label_names))
        print(f"seed {seed}: neighbours (cosine) sharing a review's sentiment: "
              f"nearest {graph_labels.neighbour_agreement(features, truth, 1):.1%}, "
              f"10 nearest {graph_labels.neighbour_agreement(features, truth, 10):.1%}")
        rows = {"teacher": teacher}
        for k in (10, 30):
            graph = graph_labels.knn_graph(features, k)
            for alpha in (0.5, 0.9):
                spread = graph_labels.propagate(graph, teacher, alpha)
                rows[f"graph k {k}, alpha {alpha}"] = graph_labels.balance(spread, np.array([0.5, 0.5]))
        for name, probs in rows.items():
            print(f"  {name:24} all {np.mean(probs.argmax(1) == truth):.3f}  top half "
                  f"{kept_accuracy(probs, truth, 0.5):.3f}  top fifth {kept_accuracy(probs, truth, 0.2):.3f}")
    print("reproduce: python bench/imdb_graph_dev.py --work", args.work)


if __name__ == "__main__":
    main()
