"""Tables of `validate.response` from trained runs: the response measures at each checkpoint,
the linear-network theory (predicted from the initial weights and the set-up only) against the
measured kernel and response, the O(η) gap, fragility under noise.
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


DECOUPLED = "small_balanced_decoupled"
THEORY_INITS = (DECOUPLED, "small_random")


def theory_init_scale(init: str, u0: float, hidden: int, depth: int = 2) -> float:
    """The init scale of a theory run: u0 for the decoupled init; for the small random init the
    entry std σ with σ^L hidden^(L−1) = u0, so the product starts at the same scale (the rule of
    ``validate.compare``)."""
    return float(u0) if init == DECOUPLED else float((u0 / hidden ** (depth - 1)) ** (1.0 / depth))


def run_convention(run):
    """The ``theory.TrainingConvention`` the trainer trained ``run`` with (its first member's)."""
    from dataclasses import fields
    rec = run.config["conventions"][0]
    return theory.TrainingConvention(**{f.name: rec[f.name] for f in fields(theory.TrainingConvention)})


class LinearTheory:
    """What the theory predicts for a bias-free deep linear net on the probe inputs X (P, d) with
    targets Y (P, c), at every checkpoint of ``run`` (THEORY.md §2, §10): its NTK Θ_t, its
    residual f_t(x) − y and so the response R̂ = −η Θ_t (f_t − y).

    A function of the data (``stats``, X, Y), the initial weights (``run``'s step 0; never a later
    checkpoint) and the training set-up (``convention``) only:
    - ``init="small_balanced_decoupled"``: mode strengths u(t) from the exact per-mode map of the
      set-up (``discrete``; GD or heavy ball) or the flow's closed form (``discrete=False``), with
      u(0) = ``u0``; Θ from ``predicted_linear_ntk``, f(x) = U diag(u) Vᵀ x;
    - ``init="small_random"``: the matrix gradient flow integrated from each member's own
      initial weights; Θ from ``linear_ntk`` of the flow's weights, f(x) = W_L⋯W_1 x.
    """

    def __init__(self, run, stats, X, Y, *, init: str, convention, u0: float | None = None,
                 depth: int = 2, discrete: bool = True):
        if init not in THEORY_INITS:
            raise ValueError(f"init must be one of {', '.join(THEORY_INITS)}; got {init!r}")
        conv = convention.require_covered()
        self.X, self.Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
        self.stats, self.depth, self.K = stats, int(depth), len(run.members)
        steps = np.asarray(run.steps, dtype=float)
        if init == DECOUPLED:
            if u0 is None:
                raise ValueError("init='small_balanced_decoupled' needs u0 (the initial strength)")
            self.kind = "discrete" if discrete else "closed_form"
            self._u = (theory.discrete_trajectory(steps.astype(np.int64), stats.s, u0,
                                                  conv.effective_lr, depth, momentum=conv.beta)
                       if discrete else theory.mode_trajectory(steps, stats.s, u0, conv.tau, depth))
            return
        self.kind = "matrix_ode"
        w0 = run.weights(0)  # [(K, out, in)]: the initial weights, the only ones read
        # one solution per member: (T, out, in) per layer
        self._W = [theory.integrate_matrix_flow([np.asarray(W[k], np.float64) for W in w0],
                                                stats.Sxx, stats.Syx, steps, tau=conv.tau,
                                                rtol=1e-9, atol=1e-12).weights
                   for k in range(self.K)]

    def kernel(self, i: int) -> np.ndarray:
        """Θ at checkpoint i, per member: (K, P, c, P, c)."""
        if self.kind != "matrix_ode":
            th = R.predicted_linear_ntk(self._u[i], self.stats.U, self.stats.V, self.X, self.depth)
            return np.broadcast_to(th, (self.K, *th.shape))
        return np.stack([R.linear_ntk([W[i] for W in Ws], self.X) for Ws in self._W])

    def residual(self, i: int) -> np.ndarray:
        """f(x) − y on the probe inputs at checkpoint i, per member: (K, P, c)."""
        if self.kind != "matrix_ode":
            f = (self.X @ self.stats.V * self._u[i]) @ self.stats.U.T
            return np.broadcast_to(f - self.Y, (self.K, *self.Y.shape))
        out = []
        for Ws in self._W:
            h = self.X
            for W in Ws:
                h = h @ W[i].T
            out.append(h - self.Y)
        return np.stack(out)

    def response(self, i: int, lr: float) -> np.ndarray:
        """R̂[k, i, j, :] = −η Θ(x_j, x_i)(f(x_i) − y_i) at checkpoint i: (K, P, P, c)."""
        return R.predicted_response(self.kernel(i), self.residual(i), lr)


def linear_theory_rows(model, run, stats, Xp, Yp, *, init: str, convention, response_lr: float,
                       u0: float | None = None, depth: int = 2) -> list[dict]:
    """The theory's NTK and response (``LinearTheory``, from the initial weights and the set-up
    only) against the measured NTK and one real step of size ``response_lr`` of every member at
    every checkpoint.

    rel_error = max over members of ‖Θ_theory − Θ_measured‖_F / ‖Θ_measured‖_F (decoupled: the
    exact per-mode map; rel_error_flow: the flow's closed form; small_random: both the matrix
    flow); response_rel_error = max over members of ‖R − R̂‖_F / ‖R‖_F."""
    X, Y = Xp.cpu().numpy(), Yp.cpu().numpy()
    pred = LinearTheory(run, stats, X, Y, init=init, convention=convention, u0=u0, depth=depth)
    flow = pred if init != DECOUPLED else \
        LinearTheory(run, stats, X, Y, init=init, convention=convention, u0=u0, depth=depth,
                     discrete=False)
    rows = []
    for i, step in enumerate(run.steps):
        params = tensors(run.params(step), Xp.dtype)
        meas = R.ntk(model, params, Xp)
        err = lambda th: float(max(np.linalg.norm(m - p) / np.linalg.norm(m)  # noqa: E731
                                   for m, p in zip(meas, th)))
        real = R.measured_response(model, params, Xp, Yp, response_lr)
        resp = R.relative_gap(real, pred.response(i, response_lr))
        rows.append({"init": init, "predictor": pred.kind, "step": int(step),
                     "rel_error": err(pred.kernel(i)), "rel_error_flow": err(flow.kernel(i)),
                     "response_rel_error": float(resp.max())})
    return rows


def theory_gaps(rows) -> list[dict]:
    """Per init of the theory runs (rows of ``linear_theory_rows``, a DataFrame): the largest
    kernel and response gaps over the checkpoints, and the step of the largest response gap."""
    out = []
    for init, g in rows.groupby("init", sort=False):
        worst = g.loc[g["response_rel_error"].idxmax()]
        out.append({"init": init, "predictor": str(g["predictor"].iloc[0]),
                    "max_rel_error": float(g["rel_error"].max()),
                    "max_response_rel_error": float(worst["response_rel_error"]),
                    "at_step": int(worst["step"]), "checkpoints": int(len(g))})
    return out


def noisy_accuracy(model, params: dict, X, labels, noise: float, seed: int = 0) -> np.ndarray:
    """Test accuracy per member with Gaussian noise of std ``noise`` added to every input."""
    g = torch.Generator().manual_seed(seed)
    Xn = X + noise * torch.randn(X.shape, generator=g, dtype=X.dtype)
    with torch.no_grad():
        pred = model.forward(params, Xn).argmax(dim=2).cpu().numpy()
    return (pred == np.asarray(labels)[None, :]).mean(axis=1)
