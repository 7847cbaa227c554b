"""Measuring the head start of pre-training, on numbers alone: no model, no modality.

- ``stats``: mean and confidence interval over seeds, labels saved, steps to a target accuracy, Kendall tau
- ``logme``: LogME transferability of frozen features
- ``probes``: linear and kNN probes on frozen features, a 2-D projection, classical baselines
- ``report``: the self-contained HTML + Markdown + JSON report of a comparison
"""

from headstart.transfer.logme import logme_score
from headstart.transfer.stats import kendall_tau, labels_saved, mean_ci, steps_to_target

__all__ = ["logme_score", "mean_ci", "labels_saved", "steps_to_target", "kendall_tau"]
