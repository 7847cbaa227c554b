"""LogME: frozen features that encode the labels score higher, and the evidence is the textbook one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from headstart.transfer.logme import fit_evidence, logme_score


def labeled_features(n: int, d: int, classes: int, signal: float, seed: int = 0):
    """Features whose first ``classes`` columns are the one-hot label times ``signal``, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    features = rng.normal(size=(n, d))
    features[:, :classes] += signal * np.eye(classes)[labels]
    return features, labels


def direct_log_evidence(features: np.ndarray, target: np.ndarray, alpha: float, beta: float) -> float:
    """The evidence formula evaluated literally, with a D x D solve and determinant; divided by N."""
    n, d = features.shape
    a = alpha * np.eye(d) + beta * features.T @ features
    m = beta * np.linalg.solve(a, features.T @ target)
    _, log_det_a = np.linalg.slogdet(a)
    residual = float(((features @ m - target) ** 2).sum())
    return (d / 2 * math.log(alpha) + n / 2 * math.log(beta) - n / 2 * math.log(2 * math.pi)
            - beta / 2 * residual - alpha / 2 * float(m @ m) - log_det_a / 2) / n


def test_features_that_encode_the_labels_score_higher_than_random_ones():
    informative, labels = labeled_features(300, 32, classes=4, signal=3.0)
    random = np.random.default_rng(1).normal(size=(300, 32))
    weak, _ = labeled_features(300, 32, classes=4, signal=0.5)
    assert logme_score(informative, labels) > logme_score(weak, labels) > logme_score(random, labels)


def test_score_ignores_the_order_of_examples_and_the_names_of_classes():
    features, labels = labeled_features(120, 10, classes=3, signal=1.0)
    order = np.random.default_rng(2).permutation(120)
    score = logme_score(features, labels)
    assert logme_score(features[order], labels[order]) == pytest.approx(score, rel=1e-10)
    assert logme_score(features, labels * 7 + 100) == pytest.approx(score, rel=1e-10)


@pytest.mark.parametrize("n, d", [(40, 6), (9, 25)])  # more examples than dimensions, and fewer
def test_evidence_matches_the_direct_formula(n, d):
    features, labels = labeled_features(n, d, classes=2, signal=2.0, seed=n)
    target = (labels == 1).astype(np.float64)
    fit = fit_evidence(features, target)
    assert fit.evidence == pytest.approx(direct_log_evidence(features, target, fit.alpha, fit.beta), rel=1e-8)


def test_alpha_and_beta_maximise_the_evidence():
    features, labels = labeled_features(40, 6, classes=2, signal=2.0, seed=40)
    target = (labels == 1).astype(np.float64)
    fit = fit_evidence(features, target)
    for alpha, beta in [(fit.alpha * 1.3, fit.beta), (fit.alpha / 1.3, fit.beta),
                        (fit.alpha, fit.beta * 1.3), (fit.alpha, fit.beta / 1.3)]:
        assert direct_log_evidence(features, target, alpha, beta) < fit.evidence


def test_with_fewer_examples_than_dimensions_the_evidence_is_near_its_noise_free_limit():
    # F can fit any target exactly, so the evidence rises toward a limit as beta -> infinity; the
    # iteration stops at a finite beta (the denominator guard) a hair below that limit.
    features, labels = labeled_features(9, 25, classes=2, signal=2.0, seed=9)
    target = (labels == 1).astype(np.float64)
    fit = fit_evidence(features, target)
    limit = direct_log_evidence(features, target, fit.alpha, fit.beta * 1e6)
    assert limit - 1e-3 < fit.evidence < limit
    assert direct_log_evidence(features, target, fit.alpha * 1.3, fit.beta) < fit.evidence
    assert direct_log_evidence(features, target, fit.alpha / 1.3, fit.beta) < fit.evidence


def test_score_is_the_mean_evidence_of_each_class_one_hot_target():
    features, labels = labeled_features(50, 8, classes=3, signal=1.0)
    per_class = [fit_evidence(features, (labels == c).astype(float)).evidence for c in range(3)]
    assert logme_score(features, labels) == pytest.approx(np.mean(per_class), rel=1e-12)


def test_collapsed_all_zero_features_score_like_no_features():
    labels = np.array([0, 1, 0, 1, 1, 1])
    # With F = 0 each one-hot target y is plain noise: beta = N / ||y||^2, evidence in closed form.
    expected = np.mean([(len(labels) / 2 * math.log(len(labels) / k) - len(labels) / 2
                         - len(labels) / 2 * math.log(2 * math.pi)) / len(labels) for k in (2, 4)])
    assert logme_score(np.zeros((6, 3)), labels) == pytest.approx(expected, rel=1e-5)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        logme_score(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\)"):
        logme_score(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        logme_score(np.full((5, 2), np.nan), np.zeros(5))
