"""Development measurement for issue #22's IMDb goal (BENCHMARKS.md, "Semi-supervised fine-tuning on IMDb"):
does self-training gain more when its models see the reviews through *different* representations?

Why: a student on n-grams can copy a teacher on word-vector means exactly (a SIF mean is a weighted average of
the words' vectors, so the probe on it is linear in the words' frequencies), so a student trained on the
teacher's pseudo-labels learns the teacher again.  Tri-training (Zhou & Li 2005) needs views whose errors
differ; here three: the skip-gram vectors' SIF means (headstart's pre-trained arm), paragraph vectors (PV-DBOW,
Le & Mikolov 2014; gensim's Doc2Vec on the 50,000 unlabeled reviews) and TF-IDF uni+bigrams fitted on the pool.
Each view's logistic regression starts on the N labels; in every round each one re-trains on the labels plus
the pool reviews where the other two agree (half a class, balanced), and the prediction is the sum of the
three standardised margins.  It also prints how often a tuning review's nearest neighbours share its
sentiment in each view.

A standalone script, not headstart's code path; scored on the 5,000 tuning reviews (never the scored ones).

    python bench/imdb_views_dev.py --work /tmp/headstart-imdb   # after bench/imdb_transfer.py (the vectors)
"""
from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb_fusion_dev import draw, read, searched, sif_means  # noqa: E402
from imdb_vectors import IMDB, need_shared  # noqa: E402

from headstart.finetune.graph_labels import neighbour_agreement  # noqa: E402

WORDS = re.compile(r"[a-z0-9']+|[!?.,]")


def words(text: str) -> list[str]:
    return WORDS.findall(text.lower().replace("<br />", " "))


def paragraph_vectors(unsup: list[str], epochs: int):
    from gensim.models.doc2vec import Doc2Vec, TaggedDocument
    return Doc2Vec([TaggedDocument(words(t), [i]) for i, t in enumerate(unsup)], dm=0, vector_size=100,
                   window=10, min_count=2, sample=1e-4, negative=5, epochs=epochs, workers=2, seed=0)


def standardiser(reference: np.ndarray):
    mean, std = reference.mean(0), reference.std(0) + 1e-6
    return lambda X: (X - mean) / std


def views(args, unsup, pool_rows, labeled_texts, test_texts):
    """Three (pool, labeled, test) feature triples."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    pool = [unsup[i] for i in pool_rows]
    pv = paragraph_vectors(unsup, args.epochs)
    infer = lambda texts: np.array([pv.infer_vector(words(t), epochs=args.epochs) for t in texts])  # noqa: E731
    P = (pv.dv.vectors[pool_rows], infer(labeled_texts), infer(test_texts))
    S = tuple(sif_means(t, args.work / "imdb-skipgram") for t in (pool, labeled_texts, test_texts))
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=3, max_features=300_000).fit(pool)
    T = tuple(tfidf.transform(t) for t in (pool, labeled_texts, test_texts))
    out = []
    for dense in (S, P):
        z = standardiser(dense[0])
        out.append(tuple(z(X) for X in dense))
    return out + [T]


def tri_training(args, V, test_y, rows, y, seed) -> str:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    grids = [list(np.logspace(-3, 3, 13))] * 2 + [[0.1, 1, 10, 100, 1000, 10000]]
    models = [searched(v[1][rows], y, grid, seed, "saga" if sparse.issparse(v[1]) else "lbfgs")
              for v, grid in zip(V, grids)]
    accuracy = lambda margin: np.mean((margin > 0) == test_y)  # noqa: E731

    def margins():
        return ([m.decision_function(v[0]) for m, v in zip(models, V)],
                [m.decision_function(v[2]) for m, v in zip(models, V)])

    def summed(pool_m, test_m):
        return sum(t / p.std() for p, t in zip(pool_m, test_m))

    pool_m, test_m = margins()
    agree = " ".join(f"{np.mean((pool_m[a] > 0) == (pool_m[b] > 0)):.3f}" for a, b in ((0, 1), (0, 2), (1, 2)))
    line = [f"seed {seed}: SIF / PV / TF-IDF {' / '.join(f'{accuracy(t):.4f}' for t in test_m)}, "
            f"summed {accuracy(summed(pool_m, test_m)):.4f} (pool agreement {agree})"]
    for round_ in range(args.rounds):
        new = []
        for i, v in enumerate(V):
            a, b = (pool_m[j] / pool_m[j].std() for j in range(3) if j != i)
            agreeing = np.sign(a) == np.sign(b)
            vote = np.where(agreeing, a + b, 0.0)
            k = int(min(np.sum(vote > 0), np.sum(vote < 0)))
            order = np.argsort(vote)
            chosen = np.r_[order[:k], order[::-1][:k]]
            X = (sparse.vstack([v[1][rows], v[0][chosen]]).tocsr() if sparse.issparse(v[0])
                 else np.vstack([v[1][rows], v[0][chosen]]))
            new.append(LogisticRegression(C=10.0 if sparse.issparse(v[0]) else 1.0, max_iter=3000)
                       .fit(X, np.r_[y, np.zeros(k, int), np.ones(k, int)]))
        models = new
        pool_m, test_m = margins()
        line.append(f"round {round_ + 1} ({2 * k} pseudo-labels): {' / '.join(f'{accuracy(t):.4f}' for t in test_m)}, "
                    f"summed {accuracy(summed(pool_m, test_m)):.4f}")
    return "\n  ".join(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-imdb"))
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15, help="paragraph vectors' passes (and inference's)")
    args = ap.parse_args()
    need_shared()
    warnings.filterwarnings("ignore")
    started = time.time()
    unsup = read(IMDB / "unsup.jsonl")[0]
    pool_rows = np.sort(np.random.default_rng(7).choice(len(unsup), args.pool, replace=False))
    train_texts, train_y = read(IMDB / "train.jsonl")
    test_texts, test_y = read(args.work / "imdb-test-tuning.jsonl")
    drawn = {seed: draw(train_y, args.budget, seed) for seed in args.seeds}
    labeled = np.unique(np.concatenate(list(drawn.values())))
    V = views(args, unsup, pool_rows, [train_texts[i] for i in labeled], test_texts)
    print(f"features in {time.time() - started:.0f} s", flush=True)
    # Whether a graph could carry the labels: how often a tuning review's neighbours share its sentiment.
    for name, view in zip(("SIF", "PV", "TF-IDF"), V):
        print(f"{name}: nearest neighbour, 10 nearest share the sentiment "
              f"{neighbour_agreement(view[2], test_y, 1):.3f}, {neighbour_agreement(view[2], test_y, 10):.3f}")
    for seed, picked in drawn.items():
        print(tri_training(args, V, test_y, np.searchsorted(labeled, picked), train_y[picked], seed),
              flush=True)
    print(f"{time.time() - started:.0f} s; reproduce: python bench/imdb_views_dev.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
