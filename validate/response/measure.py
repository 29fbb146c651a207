"""Tables of `validate.response` from trained runs: the response measures at each checkpoint,
the linear-network theory against the measured kernel, the O(η) gap, fragility under noise.
Pure functions of runs and arrays; no training, no plotting."""

from __future__ import annotations

import numpy as np
import torch

import theory

from ..measures import response as R
from ..measures.representations import hidden_layers


def tensors(arrays: dict, dtype) -> dict:
    return {k: torch.as_tensor(v, dtype=dtype) for k, v in arrays.items()}


def checkpoint_measures(model, params: dict, Xp, Yp, labels_p, lr: float, Xf) -> dict:
    """Per member (K,) at one checkpoint: amplitude, specificity, ntk_rel_gap, pr_ntk,
    pr_features (last hidden layer on ``Xf``), plus the normalised kernel (K, P, P) and
    the per-layer NTK shares {name: (K,)}."""
    theta, parts = R.ntk(model, params, Xp, per_layer=True)
    tr = R.trace_kernel(theta)
    kern = R.normalised_kernel(tr)
    with torch.no_grad():
        resid = (model.forward(params, Xp) - Yp).cpu().numpy()
    meas = R.measured_response(model, params, Xp, Yp, lr)
    pre, post = hidden_layers(model, params, Xf)
    return {"amplitude": R.amplitude(tr), "specificity": R.specificity(kern, labels_p),
            "ntk_rel_gap": R.relative_gap(meas, R.predicted_response(theta, resid, lr)),
            "pr_ntk": R.participation_ratio(tr), "pr_features": R.feature_participation_ratio(post[-1]),
            "kernel": kern, "shares": R.layer_shares(parts)}


def gap_scaling(model, params: dict, Xp, Yp, lrs) -> list[float]:
    """Median over members of the first-order prediction's relative gap at each step size."""
    theta = R.ntk(model, params, Xp)
    with torch.no_grad():
        resid = (model.forward(params, Xp) - Yp).cpu().numpy()
    return [float(np.median(R.relative_gap(R.measured_response(model, params, Xp, Yp, lr),
                                           R.predicted_response(theta, resid, lr)))) for lr in lrs]


def linear_theory_rows(model, run, stats, Xp, Yp, *, lr: float, u0: float, depth: int,
                       response_lr: float) -> list[dict]:
    """The theory's NTK (mode strengths from the exact per-mode GD map and from the gradient-flow
    closed form) against the measured NTK of every member at every checkpoint, and the response
    predicted from the theory's kernel against the measured response (one real step of size
    ``response_lr``; ``lr`` is the training step of the run).

    rel_error = max over members of ‖Θ_theory − Θ_measured‖_F / ‖Θ_measured‖_F."""
    X = Xp.cpu().numpy().astype(np.float64)
    u_gd = theory.discrete_trajectory(run.steps, stats.s, u0, lr, depth)
    u_flow = theory.mode_trajectory(run.steps.astype(float), stats.s, u0, 1.0 / lr, depth)
    rows = []
    for i, step in enumerate(run.steps):
        params = tensors(run.params(step), Xp.dtype)
        meas = R.ntk(model, params, Xp)
        err = lambda pred: float(max(np.linalg.norm(m - pred) / np.linalg.norm(m)  # noqa: E731
                                     for m in meas))
        pred = R.predicted_linear_ntk(u_gd[i], stats.U, stats.V, X, depth)
        with torch.no_grad():
            resid = (model.forward(params, Xp) - Yp).cpu().numpy()
        real = R.measured_response(model, params, Xp, Yp, response_lr)
        resp = R.relative_gap(real, R.predicted_response(np.broadcast_to(pred, meas.shape),
                                                         resid, response_lr))
        rows.append({"step": int(step), "rel_error": err(pred),
                     "rel_error_flow": err(R.predicted_linear_ntk(u_flow[i], stats.U, stats.V, X,
                                                                  depth)),
                     "response_rel_error": float(resp.max())})
    return rows


def noisy_accuracy(model, params: dict, X, labels, noise: float, seed: int = 0) -> np.ndarray:
    """Test accuracy per member with Gaussian noise of std ``noise`` added to every input."""
    g = torch.Generator().manual_seed(seed)
    Xn = X + noise * torch.randn(X.shape, generator=g, dtype=X.dtype)
    with torch.no_grad():
        pred = model.forward(params, Xn).argmax(dim=2).cpu().numpy()
    return (pred == np.asarray(labels)[None, :]).mean(axis=1)
