"""Self-training's graph pseudo-labels: a teacher's scores propagated over the pool's neighbourhood graph and
balanced across classes fix the systematic mistakes a teacher makes on data unlike its labels."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from headstart.finetune.config import SemiSupervisedConfig
from headstart.finetune.graph_labels import balance, graph_pseudo_probabilities, knn_graph
from headstart.finetune.run import finetune
from headstart.finetune.semi_supervised import quota_allocation
from headstart.transfer import semi_report

from test_semi_supervised import text_config
from test_word_vectors import skipgram_run, word_data  # noqa: F401  (fixture)


def two_voices(rng: np.random.Generator, per_cluster: int = 20):
    """Four tight clusters: classes 0 and 1 said by a familiar voice (A) and a new one (B).  The teacher is
    right about A but hears most of B's class 0 as class 1, as a model trained on other speakers does."""
    centres = rng.normal(size=(4, 16)) * 3  # A0, A1, B0, B1
    features = np.concatenate([c + rng.normal(scale=0.3, size=(per_cluster, 16)) for c in centres])
    truth = np.repeat([0, 1, 0, 1], per_cluster)
    p_class1 = np.concatenate([np.full(per_cluster, 0.1), np.full(per_cluster, 0.9),  # A: right
                               rng.uniform(0.5, 0.7, per_cluster),  # B0: mostly called 1
                               rng.uniform(0.5, 0.95, per_cluster)])  # B1: right, often no surer
    flip = rng.permutation(per_cluster)[:per_cluster // 4]  # a quarter of B0 the teacher gets right
    p_class1[2 * per_cluster + flip] = 0.4
    return features, np.stack([1 - p_class1, p_class1], axis=1), truth


def test_propagation_and_balancing_correct_a_teacher_that_errs_on_a_new_voice():
    features, teacher, truth = two_voices(np.random.default_rng(0))
    assert (teacher.argmax(1) == truth).mean() <= 0.82  # wrong on three quarters of B0
    fixed = graph_pseudo_probabilities(features, teacher, np.array([0.5, 0.5]), neighbours=5, alpha=0.9)
    assert (fixed.argmax(1) == truth).mean() == 1.0
    assert np.allclose(fixed.sum(1), 1.0)


def test_balancing_alone_cannot_tell_the_clusters_apart_where_the_graph_can():
    """Without the graph, balancing moves the least confident examples of class 1, from B0 and B1 alike; with
    it, each cluster is judged as a whole."""
    features, teacher, truth = two_voices(np.random.default_rng(1))
    alone = balance(teacher, np.array([0.5, 0.5]))
    with_graph = graph_pseudo_probabilities(features, teacher, np.array([0.5, 0.5]), neighbours=5, alpha=0.9)
    assert (alone.argmax(1) == truth).mean() < (with_graph.argmax(1) == truth).mean()


def test_balance_gives_each_class_its_share():
    scores = np.random.default_rng(2).dirichlet([8, 1, 1], size=300)  # a teacher that favours class 0
    shares = np.array([0.5, 0.3, 0.2])
    balanced = balance(scores, shares)
    assert np.allclose(balanced.mean(0), shares, atol=1e-3) and np.allclose(balanced.sum(1), 1.0)


def test_every_class_gets_its_quota_even_one_the_teacher_never_ranks_first():
    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.1, 0.3], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.45, 0.45, 0.1],
                      [0.4, 0.35, 0.25]])
    chosen, labels = quota_allocation(probs, per_class=2)
    # The surest pairs go first: 2 -> 1 (0.8), 0 -> 0 (0.7), 1 -> 0 (0.6, before class 2's 0.3 for it); class 0
    # is then full, so 4 -> 1 (0.45); class 2, nobody's first choice, still gets two: 5 (0.25) and 3 (0.1).
    assert dict(zip(chosen.tolist(), labels.tolist())) == {0: 0, 1: 0, 2: 1, 3: 2, 4: 1, 5: 2}


def test_the_graph_links_each_example_to_its_nearest_neighbours_symmetrically():
    features = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    graph = knn_graph(features, neighbours=1).toarray()
    assert (graph == graph.T).all() and (np.diag(graph) == 0).all()
    assert graph[0, 1] > 0 and graph[2, 3] > 0 and graph[0, 2] == graph[0, 3] == 0


def test_self_training_with_graph_pseudo_labels_keeps_half_the_pool_and_iterates(tmp_path, skipgram_run):  # noqa: F811
    cfg = text_config(tmp_path, skipgram_run, method="self_training", pseudo_labels="graph", rounds=2)
    results = finetune(cfg)
    record = results["self_training"]
    pool = sum(1 for line in (tmp_path / "pool.txt").read_text().splitlines() if line.strip())
    assert record["labeled_by"] == "graph" and record["keep"] == 0.5 and record["round"] == 2
    assert record["pseudo_labels"] == 2 * record["per_class"] <= pool // 2
    assert results["labels"] + results["validation_labels"] == 12  # pseudo-labels are not labels
    first = yaml.safe_load((tmp_path / "ft" / "teacher" / "config.yaml").read_text())  # round 1's student
    assert first["semi_supervised"]["rounds"] == 1
    assert (tmp_path / "ft" / "teacher" / "teacher" / "classifier").is_dir()  # round 1's teacher
    # What a student costs counts its teachers: round 2's seconds hold round 1's, which hold its teacher's.
    first_seconds = json.loads((tmp_path / "ft" / "teacher" / "results.json").read_text())["seconds"]
    assert record["teacher_seconds"] == first_seconds and results["seconds"] > first_seconds > 0


def test_the_report_sets_the_pseudo_labels_beside_the_teachers_own_first_choices(tmp_path):
    # A benchmark's pool with labels of its own: the report shows how often the teacher was right over the
    # whole pool and how often the pseudo-labels it kept were, so what the graph and keep rule added is visible.
    runs = {("pretrained+semi", 50, seed): ({"self_training": {"pool": 500, "pseudo_labels": 250,
                                                               "teacher_pool_accuracy": teacher,
                                                               "pseudo_accuracy": kept}}, tmp_path)
            for seed, (teacher, kept) in enumerate([(0.40, 0.60), (0.50, 0.80)])}
    header, rows = semi_report.rows(semi_report.semi_study(runs, [50], [0, 1]))
    row = dict(zip(header, rows[0]))
    assert row["teacher's pool accuracy (%)"] == "45.0" and row["pseudo-label accuracy (%)"] == "70.0"
    assert row["pseudo-labels kept"] == "250" and row["mask rate, last fifth (%)"] == "—"


@pytest.mark.parametrize("settings, message", [
    ({"method": "fixmatch", "rounds": 2}, "rounds: only self_training has it, not fixmatch"),
    ({"method": "consistency", "pseudo_labels": "graph"}, "pseudo_labels: only self_training has it"),
    ({"method": "self_training", "keep": 0.5, "threshold": 0.9}, "keep and threshold: give one"),
])
def test_settings_of_another_method_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        SemiSupervisedConfig.model_validate({"unlabeled": "pool.txt", **settings})
