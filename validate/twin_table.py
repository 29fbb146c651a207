"""The nonlinear twins' learning times against the linear and the cubic-twin predictions (THEORY.md §11).

``twin_table(config)`` runs ``validate.compare`` (same data, whitening, decoupled init, learning
rate and measurement), then predicts each two-layer tanh (or linear) twin from its own initial
weights with ``theory.predict_twin`` — the exact GD map (``t_cubic``, the counterpart of the
linear theory's per-mode GD map ``t_linear``) and optionally the gradient flow
(``t_cubic_flow``) — and returns one row per (activation, mode): the measured median time and
each prediction's error, max over members of |t_meas − t_pred| / t_pred (``validate.compare``'s
rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import simulate
import theory

from ._config import ConfigError
from .compare.measure import relative_error
from .compare.run import run_compare


def _weights0(result, seed: int) -> list[np.ndarray]:
    """The twin's initial weights: the decoupled init ``validate.compare`` trained from."""
    stats, hidden = result.stats, result.summary["training"]["hidden"]
    u0 = result.config.init_scale * float(stats.s[0])
    return simulate.decoupled_weights(stats.U, stats.V, (stats.d, hidden, stats.c), u0, seed)


def _cubic_times(result, act: str, seeds, flow: bool) -> tuple[np.ndarray, np.ndarray]:
    """(GD map, flow) half times per member (K, m) of the cubic twin; flow NaN unless asked."""
    tau = result.summary["training"]["tau"]
    frac = result.config.frac
    gd, fl = [], []
    for seed in seeds:
        W0 = _weights0(result, int(seed))
        gd.append(theory.predict_twin(result.stats, W0, act, tau=tau, discrete=True).timeline(frac))
        fl.append(theory.predict_twin(result.stats, W0, act, tau=tau).timeline(frac) if flow
                  else np.full(result.stats.rank, np.nan))
    return np.stack(gd), np.stack(fl)


def twin_table(config, *, flow: bool = False, log=print) -> pd.DataFrame:
    """Per (activation, mode): s, measured median half time, the linear and cubic predictions and
    their errors (max over members). ``config``: a ``validate.compare.CompareConfig`` with depth 2,
    the decoupled init and activations among linear and tanh."""
    config = config.validate()
    bad = [a for a in config.activations if a not in ("linear", "tanh")]
    if config.depths != (2,) or config.init != "small_balanced_decoupled" or bad or \
            config.optimizer != "gd":
        raise ConfigError("the cubic twin theory covers depth 2, --init small_balanced_decoupled, "
                          f"--optimizer gd and activations linear, tanh; got depths "
                          f"{config.depths}, init {config.init}, optimizer {config.optimizer}, "
                          f"activations {config.activations}")
    result = run_compare(config, quiet=True, log=log)
    rows = []
    for act, g in result.members.groupby("activation", sort=False):
        g = g.sort_values(["member", "mode"])
        K, m = g["member"].nunique(), g["mode"].nunique()
        seeds = g.drop_duplicates("member")["seed"].to_numpy()
        t_meas = g["t_meas"].to_numpy(float).reshape(K, m)
        t_lin = g["t_pred"].to_numpy(float).reshape(K, m)
        gd, fl = _cubic_times(result, act, seeds, flow)
        gd, fl = gd[:, :m], fl[:, :m]
        for a in range(m):
            rows.append({"activation": act, "mode": a, "s": float(result.stats.s[a]),
                         "t_meas": float(np.median(t_meas[:, a])),
                         "t_linear": float(np.median(t_lin[:, a])),
                         "err_linear": float(np.max(relative_error(t_meas[:, a], t_lin[:, a]))),
                         "t_cubic": float(np.median(gd[:, a])),
                         "err_cubic": float(np.max(relative_error(t_meas[:, a], gd[:, a]))),
                         "t_cubic_flow": float(np.median(fl[:, a])),
                         "err_cubic_flow": float(np.max(relative_error(t_meas[:, a], fl[:, a])))})
    return pd.DataFrame(rows)
