"""Use what you fine-tuned: a fine-tuning run's ``classifier/`` folder loads on its own, predicts, is evaluated.

    clf = headstart.load_classifier("runs/sst2")      # a fine-tuning run, or its classifier/ folder
    clf.predict(["a gripping film", "dull"])          # ['1', '0']
    clf.predict_proba(["a gripping film"])            # (1, classes) probabilities, columns = clf.labels
"""
from ..lazy_api import lazy_getattr

# Loaded on first use: a modality's reader of inputs imports ``classifier.io`` alone, without the
# fine-tuning code that ``classifier.py`` and ``saved.py`` build on.
_API = {"Classifier": ".classifier", "load_classifier": ".classifier", "CLASSIFIER_DIR": ".saved",
        "save_classifier": ".saved"}
__all__ = sorted(_API)

__getattr__ = lazy_getattr(__name__, _API)
