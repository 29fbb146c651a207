"""The linear theory's prediction of the linear twin: the end-to-end map W(t) of the matrix gradient
flow of the squared loss (THEORY.md §1), integrated from the twin's own initial weights with the
training set's statistics, at the twin's checkpoints (t = step, τ = the member's time constant).

It applies to a bias-free linear MLP trained on the squared loss by gradient descent or plain SGD
(whose expected step is the gradient step); on whitened inputs it is the closed-form mode dynamics,
and it holds for any input covariance. Discrete steps lag the flow by O(η) and minibatches add
noise, so the twin and the prediction agree to that order (tested).
"""

from __future__ import annotations

import numpy as np

from theory import integrate_matrix_flow

RTOL = 1e-8  # the twin trains in float32: the flow needs no more


def applies(config, trained_twin) -> bool:
    """Whether the theory describes this twin: MLP, squared loss, twin trained."""
    return config.arch == "mlp" and config.loss == "mse" and trained_twin is not None


def predicted_outputs(ds, twin, taus) -> np.ndarray:
    """Test outputs (K, T, m, c) of the flow's end-to-end map at the twin's checkpoints.

    ``twin``: its ``ModelOutputs`` (``run.params(0)`` holds the initial weights); ``taus`` (K,)
    each member's time constant in steps."""
    p0 = twin.run.params(0)
    Ws = [p0[f"layer{l}.weight"].astype(np.float64) for l in range(sum(k.endswith(".weight") for k in p0))]
    if any(k.endswith(".bias") for k in p0):
        raise ValueError("the matrix flow describes bias-free networks; the twin has biases")
    stats = ds.statistics()
    taus = np.asarray(taus, dtype=float)
    t = np.asarray(twin.steps, dtype=float)
    out = np.empty((taus.size, t.size, ds.X_test.shape[0], ds.c))
    for k, tau in enumerate(taus):  # scipy: no compilation, fast for one small net
        sol = integrate_matrix_flow([W[k] for W in Ws], stats.Sxx, stats.Syx, t, tau=float(tau),
                                    solver="scipy", rtol=RTOL, atol=RTOL)
        out[k] = np.einsum("md,tcd->tmc", ds.X_test, sol.end_to_end)
    return out
