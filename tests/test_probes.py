"""Probes on frozen features, the 2-D projection, and the classical baselines."""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest

from headstart.transfer.probes import (PROBE_PROTOCOL, knn_probe, linear_probe, project_2d,
                                       raw_features_logreg, resolve_projection_method, tfidf_logreg)


def clustered(n: int, d: int, classes: int, signal: float, seed: int):
    """Gaussian features whose mean depends on the class by ``signal`` along the first axes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    features = rng.normal(size=(n, d))
    features[:, :classes] += signal * np.eye(classes)[labels]
    return features, labels


def split(features, labels, n_train):
    return features[:n_train], labels[:n_train], features[n_train:], labels[n_train:]


def test_linear_probe_reads_what_the_features_encode():
    informative = split(*clustered(400, 16, classes=4, signal=4.0, seed=0), 200)
    noise = split(*clustered(400, 16, classes=4, signal=0.0, seed=0), 200)
    assert linear_probe(*informative, seed=0) > 0.9
    assert linear_probe(*noise, seed=0) < 0.45  # chance is 0.25
    assert linear_probe(*informative, seed=0) == linear_probe(*informative, seed=0)


def test_knn_probe_reads_what_the_features_encode():
    assert knn_probe(*split(*clustered(400, 16, classes=4, signal=4.0, seed=1), 200)) > 0.85
    assert knn_probe(*split(*clustered(400, 16, classes=4, signal=0.0, seed=1), 200)) < 0.45


def on_circle(degrees):
    return np.array([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in degrees])


def test_knn_votes_are_weighted_by_similarity_not_counted():
    # Two class-0 neighbours very close to the query, three class-1 neighbours farther away: a plain
    # majority of the 5 says class 1; exp(similarity / 0.07) weights say class 0.
    train_X, train_y = on_circle([5, -5, 40, 45, 50]), np.array([0, 0, 1, 1, 1])
    query, truth = on_circle([0]), np.array([0])
    assert knn_probe(train_X, train_y, query, truth, k=5) == 1.0
    assert knn_probe(train_X, train_y, query, truth, k=5, temperature=1e6) == 0.0  # ~ unweighted


def test_knn_uses_cosine_so_feature_scale_does_not_matter():
    train_X, train_y, test_X, test_y = split(*clustered(300, 8, classes=3, signal=2.0, seed=2), 150)
    scales = np.random.default_rng(3).uniform(0.01, 100, size=(150, 1))
    assert knn_probe(train_X * scales, train_y, test_X, test_y) == knn_probe(train_X, train_y, test_X, test_y)
    assert knn_probe(train_X[:5], train_y[:5], test_X, test_y, k=20) >= 0  # k larger than the train set


def test_a_single_training_class_predicts_that_class():
    X = np.random.default_rng(0).normal(size=(6, 3))
    assert linear_probe(X[:3], [2, 2, 2], X[3:], [2, 2, 0]) == pytest.approx(2 / 3)
    assert tfidf_logreg(["a", "b"], [1, 1], ["c", "d"], [1, 0]) == 0.5


def test_project_2d_keeps_clusters_apart_along_the_first_axis():
    features = np.vstack([np.full((20, 10), -3.0), np.full((20, 10), 3.0)])
    features += np.random.default_rng(0).normal(scale=0.1, size=features.shape)
    points = project_2d(features)
    assert points.shape == (40, 2)
    first_axis_sign = np.sign(points[:, 0])
    assert set(first_axis_sign[:20]) == {first_axis_sign[0]} and set(first_axis_sign[20:]) == {-first_axis_sign[0]}
    assert project_2d(np.arange(5.0).reshape(5, 1)).shape == (5, 2)  # one dimension, padded


def test_umap_falls_back_to_pca_with_a_note_when_not_installed(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` raise ImportError
    features = np.random.default_rng(0).normal(size=(30, 5))
    with caplog.at_level(logging.WARNING):
        assert resolve_projection_method("umap") == "pca"
        assert np.allclose(project_2d(features, method="umap"), project_2d(features, method="pca"))
    assert "umap-learn is not installed" in caplog.text
    with pytest.raises(ValueError, match="'pca' or 'umap'"):
        project_2d(features, method="tsne")


def test_tfidf_baseline_learns_from_words():
    train = ["a great film", "great acting", "truly great", "an awful film", "awful acting",
             "truly awful", "not bad at all", "bad plot"]
    labels = [1, 1, 1, 0, 0, 0, 1, 0]
    test = ["great story", "awful story", "a great plot", "awful awful"]
    assert tfidf_logreg(train, labels, test, [1, 0, 1, 0], seed=0) == 1.0


def test_raw_features_baseline_flattens_images():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=120)
    images = rng.normal(size=(120, 4, 4))
    images[:, 0, 0] += 4 * labels  # one bright pixel tells the class
    assert raw_features_logreg(images[:80], labels[:80], images[80:], labels[80:]) > 0.9


def test_the_protocol_is_written_down():
    assert "k=20" in PROBE_PROTOCOL["knn"] and "0.07" in PROBE_PROTOCOL["knn"]
    assert "1-2-grams" in PROBE_PROTOCOL["tfidf_logreg"]

def test_tfidf_baseline_chooses_its_regularisation_by_cross_validation(monkeypatch):
    # With few labels, C=1 shrinks TF-IDF weights so much that rare cue words barely count; the
    # baseline must pick C on its training labels, so deep models are not flattered by a weak peer.
    from sklearn.model_selection import GridSearchCV
    chosen, fit = [], GridSearchCV.fit
    monkeypatch.setattr(GridSearchCV, "fit", lambda self, X, y: (fit(self, X, y), chosen.append(self.best_params_))[0])
    rng = np.random.default_rng(0)
    noise, positive, negative = [f"w{i}" for i in range(200)], [f"p{i}" for i in range(10)], [f"n{i}" for i in range(10)]
    labels = [i % 2 for i in range(80)]  # each text: 8 noise words and one of 10 cue words of its class
    texts = [" ".join(rng.choice(noise, 8)) + " " + rng.choice(positive if y else negative) for y in labels]
    assert tfidf_logreg(texts[:50], labels[:50], texts[50:], labels[50:]) > 0.6
    assert chosen and chosen[0]["C"] > 1.0  # the noise words call for weaker regularisation
    assert tfidf_logreg(["good film", "bad film"], [1, 0], ["good", "bad"], [1, 0]) == 1.0  # too few to fold


def test_a_tie_in_the_c_search_goes_to_the_weakest_regularisation():
    from headstart.transfer.probes import weakest_of_the_best
    # Few labels per class: every strong C scores the fold's majority class; the largest of the tie wins.
    assert weakest_of_the_best({"mean_test_score": np.array([0.34, 0.34, 0.34, 0.5, 0.5, 0.45])}) == 4
    assert weakest_of_the_best({"mean_test_score": np.array([0.9, 0.8])}) == 0
    assert weakest_of_the_best({"loss": np.array([-0.5, np.nan, -0.6])}, "loss") == 0  # failed folds never win
