"""Calibration of a model's logits into the probabilities it serves: sigmoid(logit / T + b).

Owned by the model (Predictor and the ensemble apply it; fine-tuning and the ensemble fit fit it), so
that serving a prediction never imports training code.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


#: prior sd of log T and of b: the calibration stays near the identity unless enough validation
#: trials say otherwise (their weight grows with their number; the prior's does not)
CALIBRATION_PRIOR_SD = (1.0, 1.5)


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Temperature T and bias b of sigmoid(logit / T + b), fitted on validation trials.

    Temperature scaling (Guo et al., 2017) with Platt's bias: class-weighted training shifts the logits,
    and a temperature alone cannot move them back to the phase's base rate. A handful of validation
    trials must not decide either: the fit is the maximum a posteriori one under a Gaussian prior
    centred on the identity (CALIBRATION_PRIOR_SD), with Platt's (1999) smoothed targets
    (N+ + 1)/(N+ + 2) and 1/(N- + 2). Without them, six trials that the logits happen to separate
    drive T to zero and the model serves probabilities of exactly 0 and 1."""
    z = torch.tensor(np.asarray(logits, dtype=np.float64))
    y = np.asarray(labels, dtype=np.float64)
    if len(y) == 0 or not torch.isfinite(z).all():
        return 1.0, 0.0
    n_pos = float(y.sum())
    target = torch.tensor(np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (len(y) - n_pos + 2)))
    log_inv_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    sd_t, sd_b = CALIBRATION_PRIOR_SD
    opt = torch.optim.LBFGS([log_inv_t, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        nll = F.binary_cross_entropy_with_logits(z * log_inv_t.exp() + bias, target, reduction="sum")
        loss = nll + 0.5 * (log_inv_t / sd_t) ** 2 + 0.5 * (bias / sd_b) ** 2
        loss.backward()
        return loss

    opt.step(closure)
    u, b = log_inv_t.item(), bias.item()
    if not (np.isfinite(u) and np.isfinite(b)):
        return 1.0, 0.0
    return float(np.clip(np.exp(-u), 0.05, 20.0)), float(np.clip(b, -20.0, 20.0))


def apply_calibration(logits, temperature: float, bias: float) -> np.ndarray:
    """Calibrated probabilities: sigmoid(logit / temperature + bias) (what Predictor serves)."""
    return 1 / (1 + np.exp(-(np.asarray(logits, dtype=np.float64) / temperature + bias)))
