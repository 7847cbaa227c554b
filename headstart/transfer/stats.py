"""The few statistics a head-start claim rests on: intervals over seeds, labels saved, steps to target.

All functions take plain numbers, so they serve any modality and any metric where higher is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MeanCI:
    """A mean with its confidence interval.  Unpacks as ``mean, low, high = mean_ci(values)``."""

    mean: float
    low: float
    high: float
    n: int  # how many values

    @property
    def single_value(self) -> bool:
        """True when there was one value: the interval is the value itself, not an estimate."""
        return self.n == 1

    def __iter__(self):  # so the result unpacks like the (mean, low, high) tuple it stands for
        return iter((self.mean, self.low, self.high))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean and two-sided Student-t interval of the mean: mean ± t(n-1) · s / √n.

    The t distribution, not the normal, because seeds are few (3–5): with n = 3 the 95% multiplier is
    4.30, not 1.96.  One value gives low = high = mean with ``single_value`` set, so a report can say
    "one seed, no interval" instead of inventing one.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if not np.isfinite(array).all():
        raise ValueError(f"mean_ci got non-finite values: {array.tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    mean = float(array.mean())
    if array.size == 1:
        return MeanCI(mean, mean, mean, 1)
    # The inverse Student-t CDF from scipy.special: the same value as scipy.stats.t.ppf, and scipy.stats
    # takes three times as long to import.
    from scipy.special import stdtrit

    half_width = float(stdtrit(array.size - 1, (1 + confidence) / 2) * array.std(ddof=1)
                       / math.sqrt(array.size))
    return MeanCI(mean, mean - half_width, mean + half_width, int(array.size))


def labels_saved(budgets: Sequence[float], scratch_acc: Sequence[float], target_acc: float) -> float | None:
    """How many labels training from scratch needs to reach ``target_acc``.

    ``scratch_acc[i]`` is scratch's (mean) accuracy with ``budgets[i]`` labels; budgets increase.
    Between two measured budgets, accuracy is interpolated linearly in log(budget): label-efficiency
    curves are close to straight lines on a log axis, and linear interpolation on a linear axis would
    overstate the labels needed between widely spaced budgets (100 → 1000).  The first crossing
    counts.  Returns the exact budget when a measured accuracy equals the target, ``budgets[0]`` when
    scratch already reaches the target at the smallest budget (we cannot extrapolate below it), and
    ``None`` when scratch never reaches it: "more than all" the labels tried.

    The labels pre-training saves at budget b, matching the pre-trained accuracy ``target_acc``
    there, are ``labels_saved(...) - b``.
    """
    budgets_array = np.asarray(budgets, dtype=np.float64)
    accuracy = np.asarray(scratch_acc, dtype=np.float64)
    if budgets_array.ndim != 1 or budgets_array.shape != accuracy.shape or budgets_array.size == 0:
        raise ValueError(f"budgets and scratch_acc must be equal-length 1-D sequences, got "
                         f"{budgets_array.shape} and {accuracy.shape}")
    if (budgets_array <= 0).any() or (np.diff(budgets_array) <= 0).any():
        raise ValueError(f"budgets must be positive and increasing, got {budgets_array.tolist()}")
    if not np.isfinite(accuracy).all() or not math.isfinite(target_acc):
        raise ValueError("accuracies must be finite")
    reached = np.flatnonzero(accuracy >= target_acc)
    if reached.size == 0:
        return None
    i = int(reached[0])
    if i == 0 or accuracy[i] == target_acc:
        return float(budgets_array[i])
    fraction = (target_acc - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1])
    low, high = np.log(budgets_array[i - 1]), np.log(budgets_array[i])
    return float(np.exp(low + fraction * (high - low)))


def steps_to_target(steps: Sequence[int], accuracies: Sequence[float], target: float) -> int | None:
    """The first logged step whose accuracy is at least ``target``; None if none reaches it.

    Only logged steps count (no interpolation): the answer is a step the run actually evaluated.
    """
    if len(steps) != len(accuracies):
        raise ValueError(f"steps and accuracies differ in length: {len(steps)} and {len(accuracies)}")
    for step, accuracy in zip(steps, accuracies):
        if accuracy >= target:
            return int(step)
    return None


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b rank correlation of two equal-length sequences (e.g. LogME vs fine-tuned accuracy).

    NaN when either sequence is constant: no ranking to agree with.
    """
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"kendall_tau needs two sequences of equal length >= 2, got {len(a)} and {len(b)}")
    from scipy import stats

    if np.ptp(np.asarray(a, dtype=np.float64)) == 0 or np.ptp(np.asarray(b, dtype=np.float64)) == 0:
        return float("nan")  # scipy warns and returns NaN here; say it without the warning
    return float(stats.kendalltau(a, b).statistic)
