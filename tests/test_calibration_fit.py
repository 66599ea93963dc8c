"""The per-phase calibration sigmoid(logit / T + b): it follows the data when there is plenty of it, and a
handful of validation trials cannot push the served probabilities to exactly 0 or 1."""
from __future__ import annotations

import numpy as np

from engine.model.calibration import apply_calibration, fit_calibration


def test_many_trials_recover_the_temperature_and_bias_that_generated_them():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 20000)
    y = (rng.random(len(z)) < apply_calibration(z, 2.0, 0.5)).astype(float)
    t, b = fit_calibration(z, y)
    assert abs(t - 2.0) < 0.1 and abs(b - 0.5) < 0.1


def test_a_few_separable_trials_keep_the_calibration_near_the_identity():
    """Six validation trials that the logits separate perfectly: the unregularised NLL minimum is T -> 0,
    which served probabilities of 0.0 and 1.0 (CI, a tiny model fine-tuned on 40 trials)."""
    z = np.array([-0.6, -0.4, -0.2, 0.2, 0.4, 0.6])
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    t, b = fit_calibration(z, y)
    assert 0.3 < t < 3 and abs(b) < 1
    p = apply_calibration(np.array([-1.0, 1.0]), t, b)
    assert 0.1 < p[0] < 0.5 < p[1] < 0.9


def test_anti_correlated_or_broken_logits_never_give_nan():
    z = np.array([2.0, 1.5, 1.0, -1.0, -1.5, -2.0])
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    t, b = fit_calibration(z, y)
    assert np.isfinite([t, b]).all() and 0.05 <= t <= 20
    assert fit_calibration(np.array([0.1, np.nan, 0.3]), np.array([0.0, 1.0, 1.0])) == (1.0, 0.0)
    assert fit_calibration(np.array([]), np.array([])) == (1.0, 0.0)


def test_a_single_class_moves_the_bias_towards_it_without_saturating():
    z = np.zeros(10)
    t, b = fit_calibration(z, np.ones(10))
    assert 0.5 < apply_calibration(np.array([0.0]), t, b)[0] < 0.95
