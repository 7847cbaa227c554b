"""LogME: how well frozen features explain labels, without fine-tuning (You et al., ICML 2021).

For each class c, the one-hot target y (1 where the label is c) is modelled as a Bayesian linear
regression on the features F (N x D): weights w ~ N(0, 1/alpha I), y | F, w ~ N(F w, 1/beta I).  The log
evidence (marginal likelihood) of y is

    L(alpha, beta) = D/2 log alpha + N/2 log beta - N/2 log 2 pi
                     - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log|A|,
    A = alpha I + beta F^T F,   m = beta A^-1 F^T y.

alpha and beta are set to maximise L by MacKay's fixed-point iteration (the ``_fit_fixed_point``
variant of thuml/LogME): with sigma_i the eigenvalues of F^T F and t = alpha / beta,
gamma = sum sigma_i / (sigma_i + t), alpha = gamma / ||m||^2, beta = (N - gamma) / ||F m - y||^2.
The score is L / N averaged over classes: higher means the features fit the labels better.

Everything is computed in the eigenbasis of F^T F, so each iteration costs O(min(N, D)).  With N >= D
that basis comes from the thin SVD of F; with N < D from the eigendecomposition of the N x N matrix
F F^T, which shares the non-zero eigenvalues.  Two deliberate differences from the reference code:
the D - k directions where F^T F is zero still contribute log alpha each to log|A| (the reference drops
them when N < D, which favours wide features), and the iteration runs to a tighter tolerance and
evaluates L at the final (alpha, beta) rather than one half-step behind.

When the features can fit a target exactly (N <= D, typically) L keeps rising toward a finite limit
as beta -> infinity; the reference's 1e-5 guard in the beta update, kept here, stops beta at a finite
value, and the score lands within about 1e-3 of that limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_GUARD = 1e-5  # added to denominators as the reference does, so a perfect fit cannot divide by zero
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-6  # relative change of alpha / beta


@dataclass(frozen=True)
class EvidenceFit:
    evidence: float  # log evidence divided by N
    alpha: float  # prior precision of the weights
    beta: float  # noise precision
    iterations: int


def logme_score(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of ``features`` (N, D) for integer class ``labels`` (N,): mean over classes of evidence / N."""
    features, labels = _check(features, labels)
    basis, eigenvalues = _eigenbasis(features)
    fits = [_fit(basis, eigenvalues, (labels == c).astype(np.float64), features.shape[1])
            for c in np.unique(labels)]
    return float(np.mean([fit.evidence for fit in fits]))


def fit_evidence(features: np.ndarray, target: np.ndarray) -> EvidenceFit:
    """The maximised evidence of one real-valued target (N,) on ``features``; LogME's per-class step."""
    features = np.asarray(features, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if features.ndim != 2 or target.shape != (features.shape[0],):
        raise ValueError(f"expected features (N, D) and target (N,), got {features.shape} and {target.shape}")
    basis, eigenvalues = _eigenbasis(features)
    return _fit(basis, eigenvalues, target, features.shape[1])


def _check(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, D) array, got shape {features.shape}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must have shape ({features.shape[0]},), got {labels.shape}")
    if features.shape[0] < 2:
        raise ValueError("LogME needs at least 2 examples")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or infinity")
    return features, labels


def _eigenbasis(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, sigma): orthonormal columns U (N, k) spanning F's column space, sigma the eigenvalues of F^T F.

    k = min(N, D); zero eigenvalues are kept, so directions F cannot reach are still counted.
    """
    n, d = features.shape
    if n >= d:
        u, singular, _ = np.linalg.svd(features, full_matrices=False)
        return u, singular**2
    # N < D: F F^T (N x N) is the small side; its eigenvectors are F's left singular vectors.
    eigenvalues, u = np.linalg.eigh(features @ features.T)
    return u, np.clip(eigenvalues, 0.0, None)  # round-off can make tiny eigenvalues negative


def _fit(basis: np.ndarray, sigma: np.ndarray, target: np.ndarray, d: int) -> EvidenceFit:
    n = basis.shape[0]
    x2 = (basis.T @ target) ** 2  # the target's energy along each eigen-direction
    outside = max(float(target @ target - x2.sum()), 0.0)  # energy no weight vector can reach
    if not (sigma > 0).any():
        # All-zero features (a collapsed encoder): the alpha terms of L cancel and beta has a closed
        # form; the iteration would drive alpha to 0 and divide by it.
        beta = n / (float(target @ target) + _GUARD)  # every bit of the target is residual
        return _log_evidence(1.0, beta, sigma, x2, outside, n, d, iterations=0)
    alpha, beta = 1.0, 1.0
    for iteration in range(1, _MAX_ITERATIONS + 1):
        t = alpha / beta
        gamma = float((sigma / (sigma + t)).sum())  # effective number of well-determined weights
        residual, norm = _residual_and_norm(t, sigma, x2, outside)
        alpha, beta = gamma / (norm + _GUARD), (n - gamma) / (residual + _GUARD)
        if abs(alpha / beta - t) / t <= _TOLERANCE:
            break
    return _log_evidence(alpha, beta, sigma, x2, outside, n, d, iteration)


def _residual_and_norm(t: float, sigma: np.ndarray, x2: np.ndarray, outside: float) -> tuple[float, float]:
    """||F m - y||^2 and ||m||^2 for m = (F^T F + t I)^-1 F^T y, computed in the eigenbasis."""
    shrink = t / (sigma + t)
    return float((x2 * shrink**2).sum()) + outside, float((sigma * x2 / (sigma + t) ** 2).sum())


def _log_evidence(alpha: float, beta: float, sigma: np.ndarray, x2: np.ndarray, outside: float,
                  n: int, d: int, iterations: int) -> EvidenceFit:
    residual, norm = _residual_and_norm(alpha / beta, sigma, x2, outside)
    log_det_a = float(np.log(alpha + beta * sigma).sum()) + (d - len(sigma)) * math.log(alpha)
    evidence = (d / 2 * math.log(alpha) + n / 2 * math.log(beta) - n / 2 * math.log(2 * math.pi)
                - beta / 2 * residual - alpha / 2 * norm - log_det_a / 2)
    return EvidenceFit(evidence / n, alpha, beta, iterations)
