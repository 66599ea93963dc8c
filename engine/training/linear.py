"""Standardized logistic regression with its strength chosen by inner cross-validation on log-loss.

The linear-probe baseline, the combined model's probe and history members and its stack are all this
model (engine/model/ensemble.py serves the fitted coefficients as a `LinearModel`).
"""
from __future__ import annotations

import warnings

import numpy as np

from engine.model.ensemble import LinearModel

#: inverse regularisation strengths the inner CV chooses from
C_GRID = np.logspace(-4, 1, 11)
INNER_FOLDS = 5


def fit_linear(X: np.ndarray, y: np.ndarray, seed: int = 0) -> LinearModel:
    """Standardize, then logistic regression with C picked by inner stratified CV (log-loss)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    y = np.asarray(y).astype(int)
    folds = max(2, min(INNER_FOLDS, int(np.bincount(y).min())))
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=C_GRID, cv=StratifiedKFold(folds, shuffle=True, random_state=seed), scoring="neg_log_loss",
        max_iter=5000))
    # sklearn 1.8+ warns about defaults that change in 1.10 (l1_ratios, fitted attributes); the
    # L2 penalty and the coefficients used here are the same before and after
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(np.asarray(X, dtype=np.float64), y)
    return LinearModel.from_pipeline(model)


def sigmoid(z) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))
