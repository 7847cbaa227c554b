"""Statistics for the head-start report: intervals over seeds, labels saved, steps to target, Kendall tau."""

from __future__ import annotations

import math

import pytest

from headstart.transfer.stats import kendall_tau, labels_saved, mean_ci, steps_to_target


def test_mean_ci_uses_student_t_for_few_seeds():
    mean, low, high = mean_ci([0.80, 0.82, 0.84])
    # s = 0.02, n = 3: half-width = t(0.975, 2) * 0.02 / sqrt(3) = 4.3027 * 0.011547 = 0.049683
    assert mean == pytest.approx(0.82)
    assert (low, high) == pytest.approx((0.82 - 0.049683, 0.82 + 0.049683), abs=1e-6)
    assert mean_ci([0.80, 0.82, 0.84]).single_value is False


def test_a_wider_confidence_gives_a_wider_interval():
    values = [0.7, 0.75, 0.72, 0.78]
    narrow, wide = mean_ci(values, confidence=0.8), mean_ci(values, confidence=0.99)
    assert wide.low < narrow.low < narrow.mean < narrow.high < wide.high


def test_one_value_has_no_interval_and_says_so():
    result = mean_ci([0.9])
    assert tuple(result) == (0.9, 0.9, 0.9)
    assert result.single_value and result.n == 1


def test_mean_ci_refuses_empty_or_nan():
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci([0.5, float("nan")])


BUDGETS = [10, 100, 1000]
SCRATCH = [0.50, 0.60, 0.80]


def test_labels_saved_interpolates_on_the_log_budget_axis():
    # 0.70 is halfway from 0.60 (100 labels) to 0.80 (1000): halfway in log10 is 10**2.5 = 316.2.
    assert labels_saved(BUDGETS, SCRATCH, 0.70) == pytest.approx(10**2.5)
    assert labels_saved(BUDGETS, SCRATCH, 0.55) == pytest.approx(10**1.5)


def test_labels_saved_exact_budget_when_a_measurement_equals_the_target():
    assert labels_saved(BUDGETS, SCRATCH, 0.60) == 100.0
    assert labels_saved(BUDGETS, SCRATCH, 0.40) == 10.0  # already reached at the smallest budget


def test_labels_saved_is_none_when_scratch_never_gets_there():
    assert labels_saved(BUDGETS, SCRATCH, 0.81) is None


def test_labels_saved_takes_the_first_crossing_of_a_noisy_curve():
    assert labels_saved([10, 100, 1000, 10000], [0.5, 0.7, 0.65, 0.9], 0.7) == 100.0


def test_labels_saved_refuses_unsorted_budgets():
    with pytest.raises(ValueError, match="increasing"):
        labels_saved([100, 10], [0.5, 0.6], 0.55)


def test_steps_to_target_is_the_first_logged_step_at_or_above_it():
    steps, accuracy = [0, 50, 100, 150], [0.3, 0.6, 0.59, 0.8]
    assert steps_to_target(steps, accuracy, 0.6) == 50
    assert steps_to_target(steps, accuracy, 0.7) == 150
    assert steps_to_target(steps, accuracy, 0.9) is None


def test_kendall_tau():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
