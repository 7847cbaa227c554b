"""Self-training's pseudo-labels smoothed over the pool's neighbourhood graph and balanced across classes.

A teacher fine-tuned on few labels errs systematically on data unlike its labels (a new speaker's "five"
heard as "nine", clip after clip), so its confident predictions are confidently wrong and self-training
teaches them again.  Two published remedies, combined here:

- **label propagation** (Zhou et al. 2004; Iscen et al. 2019 for deep self-training): the teacher's class
  scores diffuse over a k-nearest-neighbour graph of the pool, built on the features of the backbone the
  fine-tuning started from (a pre-trained encoder's neighbourhoods: on unseen speakers' digits, 97% of
  nearest neighbours share the digit, against 83% for a random network), so each example takes the
  verdict of its neighbourhood rather than its own;
- **balanced allocation** (Sinkhorn-Knopp to the labels' class shares, as Sinkhorn Label Allocation, Tai
  et al. 2021, and SwAV's equipartition): a teacher that calls every unfamiliar clip "nine" cannot hand
  "nine" to half the pool.

Written here rather than taken from a library: scikit-learn's ``LabelSpreading`` spreads given labels, not a
teacher's soft scores over unlabeled nodes, and has no class balancing; the k-NN search is scikit-learn's.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

# Iscen et al. 2019's similarity exponent: sharpens cosine similarities so that near neighbours dominate.
SIMILARITY_POWER = 3
SINKHORN_ITERATIONS = 100


def knn_graph(features: np.ndarray, neighbours: int) -> sp.csr_matrix:
    """Symmetric affinity matrix: each example linked to its ``neighbours`` nearest by cosine similarity,
    weighted by the similarity cubed (negative similarities count as 0)."""
    n = len(features)
    k = min(neighbours, n - 1)
    distances, index = _nearest(features, k)
    weights = np.clip(1.0 - distances, 0.0, None) ** SIMILARITY_POWER
    graph = sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(n), k), index.ravel())), shape=(n, n))
    return (graph + graph.T).tocsr()


def _nearest(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosine distances, indices) of each example's ``k`` nearest others (itself left out)."""
    from sklearn.neighbors import NearestNeighbors

    distances, index = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(features).kneighbors(features)
    return distances[:, 1:], index[:, 1:]  # each example is its own nearest neighbour


def neighbour_agreement(features: np.ndarray, labels: np.ndarray, k: int) -> float:
    """How often an example's ``k`` nearest neighbours share its label: how well a graph on these features
    can carry labels (a diagnostic for pools that have labels of their own)."""
    labels = np.asarray(labels)
    return float(np.mean(labels[_nearest(features, k)[1]] == labels[:, None]))


def propagate(graph: sp.csr_matrix, scores: np.ndarray, alpha: float) -> np.ndarray:
    """Zhou et al.'s diffusion: F = (I - alpha S)^-1 Y with S the symmetrically normalised graph, Y the
    scores with each class's column summed to 1 (so a class the teacher calls often does not flood the
    graph), solved by conjugate gradients one class at a time, as Iscen et al. do."""
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    system = sp.identity(graph.shape[0], format="csr") - alpha * (scale @ graph @ scale)
    columns = scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-12)
    spread = np.stack([spl.cg(system, columns[:, c], maxiter=50)[0] for c in range(scores.shape[1])], axis=1)
    return np.clip(spread, 0.0, None)


def balance(scores: np.ndarray, class_shares: np.ndarray) -> np.ndarray:
    """Sinkhorn-Knopp: the scores rescaled so that the classes take ``class_shares`` of the examples in all,
    each example's row then normalised to probabilities."""
    plan = np.maximum(scores, 1e-12)
    plan = plan / plan.sum()
    rows = np.full(len(plan), 1.0 / len(plan))
    for _ in range(SINKHORN_ITERATIONS):
        plan *= (class_shares / plan.sum(axis=0))[None, :]
        plan *= (rows / plan.sum(axis=1))[:, None]
    return plan / plan.sum(axis=1, keepdims=True)


def graph_pseudo_probabilities(features: np.ndarray, teacher_probs: np.ndarray, class_shares: np.ndarray,
                               neighbours: int, alpha: float) -> np.ndarray:
    """The teacher's probabilities on the pool, propagated over the pool's k-NN graph and balanced."""
    spread = propagate(knn_graph(features, neighbours), teacher_probs, alpha)
    return balance(spread, class_shares)
