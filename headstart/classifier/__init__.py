"""Use what you fine-tuned: a fine-tuning run's ``classifier/`` folder loads on its own, predicts, is evaluated.

    clf = headstart.load_classifier("runs/sst2")      # a fine-tuning run, or its classifier/ folder
    clf.predict(["a gripping film", "dull"])          # ['1', '0']
    clf.predict_proba(["a gripping film"])            # (1, classes) probabilities, columns = clf.labels
"""
from .classifier import Classifier, load_classifier
from .saved import CLASSIFIER_DIR, save_classifier

__all__ = ["CLASSIFIER_DIR", "Classifier", "load_classifier", "save_classifier"]
