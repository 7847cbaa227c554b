"""Probes on frozen features, a 2-D projection, and classical baselines.

A probe answers "how much does the representation already know?" without fine-tuning.  Probe
protocols differ silently between tools (lightly #1824, solo-learn #221), so headstart's is fixed and
spelled out in ``PROBE_PROTOCOL``; a report should carry it next to the numbers.

All functions take NumPy arrays (features (N, D), integer labels (N,)) and return plain accuracy, so
they serve any modality.  ``tfidf_logreg`` is the one text-specific baseline.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

KNN_TEMPERATURE = 0.07
_MAX_ITER = 5000  # lbfgs on standardised features converges well within this; we warn if it does not
# Up to 1e4: with tens of labels TF-IDF wants little regularisation (the demo's 50 labels: C=0.1 predicts the
# majority class, 28%; C=1e4 61%), and a baseline stopped short of its best C would flatter deep models.
TFIDF_CS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
_CHUNK = 1024  # test rows per similarity block, so kNN memory stays at chunk x N_train

PROBE_PROTOCOL = {
    "linear": "standardise features (train mean/std); scikit-learn LogisticRegression, L2, C=1, "
              f"lbfgs, max_iter={_MAX_ITER}; accuracy on the test split",
    "knn": f"L2-normalise; cosine similarity; k=20 nearest training examples; each votes for its "
           f"class with weight exp(similarity / {KNN_TEMPERATURE}) (solo-learn's WeightedKNNClassifier, "
           "after Wu et al. 2018); highest total wins",
    "tfidf_logreg": "TfidfVectorizer word 1-2-grams, sublinear tf, min_df=1; LogisticRegression (saga) with C "
                    f"chosen from {list(TFIDF_CS)} by stratified 5-fold cross-validation on the training labels",
    "raw_features_logreg": "the linear probe on the flattened raw inputs",
    "pooled_logmel_logreg": "the linear probe on each clip's per-bin mean and standard deviation of its "
                            "log-mel frames",
}


def linear_probe(train_X: np.ndarray, train_y: np.ndarray, test_X: np.ndarray, test_y: np.ndarray,
                 seed: int = 0) -> float:
    """Accuracy of a logistic-regression classifier on standardised frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_X, train_y, test_X, test_y = _check(train_X, train_y, test_X, test_y)
    if len(np.unique(train_y)) < 2:
        return _constant_accuracy(train_y, test_y)
    scaler = StandardScaler().fit(train_X)  # fitted on train only: the test split stays unseen
    classifier = LogisticRegression(C=1.0, max_iter=_MAX_ITER, random_state=seed)
    _fit_noting_convergence(classifier, scaler.transform(train_X), train_y, "linear probe")
    return _accuracy(classifier.predict(scaler.transform(test_X)), test_y)


def knn_probe(train_X: np.ndarray, train_y: np.ndarray, test_X: np.ndarray, test_y: np.ndarray,
              k: int = 20, temperature: float = KNN_TEMPERATURE) -> float:
    """Accuracy of a weighted k-nearest-neighbour vote in cosine similarity (see ``PROBE_PROTOCOL``).

    Weighting is solo-learn's (k=20, T=0.07): neighbour j votes exp(cos(x, x_j) / T), so close
    neighbours dominate and ties are rare.  lightly's ``knn_predict`` has the same form with k=200,
    T=0.1; pass those to compare with lightly's numbers.
    """
    train_X, train_y, test_X, test_y = _check(train_X, train_y, test_X, test_y)
    classes, train_ids = np.unique(train_y, return_inverse=True)
    train_unit, test_unit = _l2_normalise(train_X), _l2_normalise(test_X)
    k = min(k, len(train_unit))
    predicted = np.empty(len(test_unit), dtype=np.int64)
    for start in range(0, len(test_unit), _CHUNK):
        similarity = test_unit[start:start + _CHUNK] @ train_unit.T
        neighbours = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(similarity, neighbours, axis=1) / temperature)
        votes = np.zeros((len(similarity), len(classes)))
        rows = np.repeat(np.arange(len(similarity)), k)
        np.add.at(votes, (rows, train_ids[neighbours].ravel()), weights.ravel())
        predicted[start:start + len(similarity)] = votes.argmax(axis=1)
    return _accuracy(classes[predicted], test_y)


def resolve_projection_method(method: str) -> str:
    """The method ``project_2d`` will actually use: "umap" only when umap-learn is installed.

    A caller labels the plot with this, so a PCA fallback is never shown as UMAP.
    """
    if method not in ("pca", "umap"):
        raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")
    if method == "umap":
        try:
            import umap  # noqa: F401  optional: pip install umap-learn
        except ImportError:
            log.warning("umap-learn is not installed; projecting with PCA instead (pip install umap-learn)")
            return "pca"
    return method


def project_2d(X: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project features (N, D) to points (N, 2) for a scatter plot.

    PCA by default (deterministic, and distances along its axes mean something); ``"umap"`` when
    umap-learn is installed (it is not a dependency), else PCA with a logged note; see
    ``resolve_projection_method``.  Fewer than 2 dimensions are padded with zeros.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if resolve_projection_method(method) == "umap" and len(X) > 2:
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(X) - 1), random_state=seed)
        return np.asarray(reducer.fit_transform(X), dtype=np.float64)
    from sklearn.decomposition import PCA

    components = min(2, X.shape[0], X.shape[1])
    points = np.zeros((len(X), 2))
    if len(X) > 1:
        points[:, :components] = PCA(n_components=components, random_state=seed).fit_transform(X)
    return points


def tfidf_logreg(train_texts: list[str], train_y: np.ndarray, test_texts: list[str], test_y: np.ndarray,
                 seed: int = 0) -> float:
    """The baseline practitioners try first on text: TF-IDF of word 1-2-grams + logistic regression
    (``fit_tfidf_logreg``), its accuracy on the test texts."""
    if len(train_texts) != len(train_y) or len(test_texts) != len(test_y):
        raise ValueError("texts and labels differ in length")
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if len(np.unique(train_y)) < 2:
        return _constant_accuracy(train_y, test_y)
    vectorizer, classifier = fit_tfidf_logreg(train_texts, train_y, seed)
    return _accuracy(classifier.predict(vectorizer.transform(test_texts)), test_y)


def fit_tfidf_logreg(train_texts: list[str], train_y: np.ndarray, seed: int = 0):
    """(the fitted TfidfVectorizer, the fitted LogisticRegression) of the TF-IDF baseline.

    Sublinear tf (1 + log tf) keeps a repeated word from dominating a short document; min_df=1 because
    with few labels most n-grams are seen once.  C is chosen by cross-validation on the training
    labels only, as a practitioner would: with a fixed C=1 the baseline is needlessly weak (on SST-2
    with 500 labels, 64% instead of 66%; on TREC 70% instead of 76%), which would flatter deep models.
    Text fine-tuning's ``ngrams: true`` adds this very model's logits to a classifier's.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    train_y = np.asarray(train_y)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    train_features = vectorizer.fit_transform(train_texts)
    # saga, not lbfgs: the same L2 logistic regression, solved 3-5x faster on sparse n-grams with several
    # classes (the demo's 7 packages: 9.5 s against 48.6 s for the C search; same test accuracy).
    classifier = LogisticRegression(C=1.0, max_iter=_MAX_ITER, random_state=seed, solver="saga")
    folds = min(5, int(np.bincount(np.unique(train_y, return_inverse=True)[1]).min()))
    if folds >= 2:  # every class needs an example in every fold; otherwise keep C=1
        # The vectorizer is fitted on all training texts once; refitting it per fold changes C's choice
        # little and costs a lot.
        # Scored by log loss, as the word-vector probe is (finetune/probe_fit.py): on folds of 20 labels
        # accuracy moves in steps of 5 points and picks C by noise.
        classifier = GridSearchCV(classifier, {"C": list(TFIDF_CS)}, scoring="neg_log_loss",
                                  refit=weakest_of_the_best, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    _fit_noting_convergence(classifier, train_features, train_y, "tfidf_logreg")
    return vectorizer, getattr(classifier, "best_estimator_", classifier)


def weakest_of_the_best(cv_results: dict, key: str = "mean_test_score") -> int:
    """GridSearchCV's ``refit``: among the C values tied for the best cross-validated score, the largest.

    With a handful of labels per class every strong regularisation scores the same (each fold's majority
    class), and scikit-learn's default takes the first of a tie, the smallest C: a classifier that predicts
    one class.  A C whose folds failed (NaN) never wins.  The grid must list C in increasing order."""
    scores = np.nan_to_num(np.asarray(cv_results[key], dtype=np.float64), nan=-np.inf)
    return int(np.flatnonzero(scores >= scores.max() - 1e-12)[-1])


def raw_features_logreg(train_X: np.ndarray, train_y: np.ndarray, test_X: np.ndarray, test_y: np.ndarray,
                        seed: int = 0) -> float:
    """The classical baseline for images or audio: the linear probe on the raw inputs, flattened."""
    train_X, test_X = np.asarray(train_X), np.asarray(test_X)
    return linear_probe(train_X.reshape(len(train_X), -1), train_y, test_X.reshape(len(test_X), -1),
                        test_y, seed)


def _check(train_X, train_y, test_X, test_y):
    train_X, test_X = np.asarray(train_X, dtype=np.float64), np.asarray(test_X, dtype=np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_X.ndim != 2 or test_X.ndim != 2 or train_X.shape[1] != test_X.shape[1]:
        raise ValueError(f"features must be 2-D with equal widths, got {train_X.shape} and {test_X.shape}")
    if len(train_X) != len(train_y) or len(test_X) != len(test_y):
        raise ValueError("features and labels differ in length")
    if len(train_X) == 0 or len(test_X) == 0:
        raise ValueError("train and test need at least one example each")
    return train_X, train_y, test_X, test_y


def _l2_normalise(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)  # a zero row stays zero


def _accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(predicted == truth))


def _constant_accuracy(train_y: np.ndarray, test_y: np.ndarray) -> float:
    # One class in the training subset (a tiny budget can do that): predicting it is all any classifier
    # could learn, and scikit-learn refuses to fit.
    return _accuracy(np.full(len(test_y), train_y[0]), test_y)


def _fit_noting_convergence(classifier, X, y, name: str) -> None:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(X, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("%s: logistic regression did not converge in %d iterations; the accuracy is "
                    "still reported", name, _MAX_ITER)
