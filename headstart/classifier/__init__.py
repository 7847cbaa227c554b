"""Use what you fine-tuned: a fine-tuning run's ``classifier/`` folder loads on its own, predicts, is evaluated.

    clf = headstart.load_classifier("runs/sst2")      # a fine-tuning run, or its classifier/ folder
    clf.predict(["a gripping film", "dull"])          # ['1', '0']
    clf.predict_proba(["a gripping film"])            # (1, classes) probabilities, columns = clf.labels
"""
from importlib import import_module

# Loaded on first use: a modality's reader of inputs imports ``classifier.io`` alone, without the
# fine-tuning code that ``classifier.py`` and ``saved.py`` build on.
_API = {"Classifier": ".classifier", "load_classifier": ".classifier", "CLASSIFIER_DIR": ".saved",
        "save_classifier": ".saved"}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(_API[name], __name__), name)
    raise AttributeError(f"module 'headstart.classifier' has no attribute {name!r}")
