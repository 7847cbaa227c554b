"""Development measurement behind ``ngrams: true`` (BENCHMARKS.md, "IMDb, vectors plus n-grams"): on the 5,000
tuning reviews (never scored), the frozen skip-gram vectors' probe, TF-IDF + LR, their logits summed, and
one logistic regression over both feature sets, at N labels (N/2 a class, seeds 0-2).

A standalone script, not headstart's code path: the SIF-weighted mean is computed here with numpy from the
checkpoint's tables (as ``WordVectorModel`` pools), so the four variants share one feature pass.

    python bench/imdb_fusion_dev.py --work /tmp/headstart-imdb --budget 500   # after bench/imdb_transfer.py

``--self-training 0.2 0.4`` measures instead self-training with the summed model as teacher and student
(issue #22): a seeded ``--pool`` of the unlabeled reviews is scored, the most confident fifth (then two
fifths) of it, half a class, joins the N labels, and both models are fitted again on labels + pseudo-labels.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_vectors import IMDB, need_shared  # noqa: E402


def read(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    return [r["text"] for r in rows], np.array([{"neg": 0, "pos": 1}.get(r.get("label"), -1) for r in rows])


def sif_means(texts: list[str], run: Path) -> np.ndarray:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    checkpoint = sorted((run / "checkpoints").glob("step_*"))[-1]
    tables = load_file(str(checkpoint / "model.safetensors"))
    vectors = next(v for k, v in tables.items() if k.endswith("words.weight"))
    weights = next(v for k, v in tables.items() if k.endswith("word_weights"))
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    out = np.zeros((len(texts), vectors.shape[1]), np.float32)
    for i, encoding in enumerate(tokenizer.encode_batch(texts)):
        ids = np.asarray(encoding.ids or [0])
        out[i] = (vectors[ids] * weights[ids, None]).sum(0) / max(float(weights[ids].sum()), 1e-9)
    return out


def searched(X, y, grid, seed, solver="lbfgs"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    return GridSearchCV(LogisticRegression(max_iter=5000, solver=solver, random_state=seed), {"C": grid},
                        scoring="neg_log_loss", cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(X, y).best_estimator_


def draw(train_y: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """``budget`` training reviews, half a class."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(train_y == c), budget // 2, replace=False) for c in (0, 1)])


class TwoHalves:
    """The vectors' probe (on standardised SIF means) and TF-IDF + LR, fitted on the same examples."""

    def __init__(self, texts: list[str], V: np.ndarray, y: np.ndarray, seed: int):
        from sklearn.feature_extraction.text import TfidfVectorizer
        self.mean, self.std = V.mean(0), V.std(0) + 1e-6
        self.vectors = searched(self.standardised(V), y, list(np.logspace(-3, 3, 13)), seed)
        self.tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.ngrams = searched(self.tfidf.fit_transform(texts), y, [0.1, 1, 10, 100, 1000, 10000], seed, "saga")

    def standardised(self, V: np.ndarray) -> np.ndarray:
        return (V - self.mean) / self.std

    def margins(self, texts: list[str], V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each half's logit margin (positive: "pos")."""
        return (self.vectors.decision_function(self.standardised(V)),
                self.ngrams.decision_function(self.tfidf.transform(texts)))

    def summed(self, texts: list[str], V: np.ndarray) -> np.ndarray:
        return sum(self.margins(texts, V))


def self_training(args, train_texts, train_y, V_train, test_texts, test_y, V_test) -> None:
    pool = read(IMDB / "unsup.jsonl")[0]
    pool = [pool[i] for i in np.sort(np.random.default_rng(7).choice(len(pool), args.pool, replace=False))]
    V_pool = sif_means(pool, args.work / "imdb-skipgram")
    for seed in args.seeds:
        pick = draw(train_y, args.budget, seed)
        texts, y = [train_texts[i] for i in pick], train_y[pick]
        model = TwoHalves(texts, V_train[pick], y, seed)
        line = [f"seed {seed}: teacher {np.mean((model.summed(test_texts, V_test) > 0) == test_y):.4f}"]
        for share in args.self_training:
            order = np.argsort(model.summed(pool, V_pool))
            k = int(share * len(pool) / 2)
            chosen = np.concatenate([order[:k], order[::-1][:k]])
            model = TwoHalves(texts + [pool[i] for i in chosen], np.vstack([V_train[pick], V_pool[chosen]]),
                              np.r_[y, np.zeros(k, int), np.ones(k, int)], seed)
            line.append(f"student on {share:.0%} of the pool {np.mean((model.summed(test_texts, V_test) > 0) == test_y):.4f}")
        print(" | ".join(line), flush=True)


def ensembles(args, train_texts, train_y, V_train, test_texts, test_y, V_test) -> None:
    from scipy import sparse
    for seed in args.seeds:
        pick = draw(train_y, args.budget, seed)
        texts, y = [train_texts[i] for i in pick], train_y[pick]
        model = TwoHalves(texts, V_train[pick], y, seed)
        vectors, ngrams = model.margins(test_texts, V_test)
        line = [f"seed {seed}: vectors {np.mean((vectors > 0) == test_y):.4f}",
                f"tf-idf {np.mean((ngrams > 0) == test_y):.4f}", f"sum {np.mean((vectors + ngrams > 0) == test_y):.4f}"]
        Xv, Xv_test = model.standardised(V_train[pick]), model.standardised(V_test)
        Xt, Xt_test = model.tfidf.transform(texts), model.tfidf.transform(test_texts)
        for scale in (0.02, 0.05, 0.1):  # one model over both: the vectors' scale against TF-IDF's unit rows
            both = sparse.hstack([Xt, sparse.csr_matrix(Xv * scale)]).tocsr()
            one = searched(both, y, [0.1, 1, 10, 100, 1000], seed, "saga")
            both_test = sparse.hstack([Xt_test, sparse.csr_matrix(Xv_test * scale)]).tocsr()
            line.append(f"one model (x{scale}) {np.mean(one.predict(both_test) == test_y):.4f}")
        print(" | ".join(line), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--self-training", type=float, nargs="*", default=None)
    ap.add_argument("--pool", type=int, default=10_000)
    args = ap.parse_args()
    need_shared()
    warnings.filterwarnings("ignore")
    train_texts, train_y = read(IMDB / "train.jsonl")
    test_texts, test_y = read(args.work / "imdb-test-tuning.jsonl")
    V_train, V_test = (sif_means(t, args.work / "imdb-skipgram") for t in (train_texts, test_texts))
    study = self_training if args.self_training else ensembles
    study(args, train_texts, train_y, V_train, test_texts, test_y, V_test)
    print("reproduce: python bench/imdb_fusion_dev.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
