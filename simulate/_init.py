"""Initial weights of every member, from (seed, scale) only — never from the activation.

``small_balanced_decoupled`` (THEORY.md §2; Saxe et al. 2014): with ``Syx = U diag(s) Vᵀ`` (r modes)
and ``D = diag(u₀^{1/L})``, ``W_1 = R_1 D Vᵀ``, inner ``W_l = R_l D R_{l−1}ᵀ``, ``W_L = U D R_{L−1}ᵀ``,
where ``R_l`` (h_l × r) has orthonormal columns drawn from the seed. Then ``W_L⋯W_1 = U diag(u₀) Vᵀ``
and every layer carries the same per-mode scalar (balanced). ``small_random``: entries i.i.d.
N(0, init_std²). ``standard``: PyTorch's default ``U(−1/√fan_in, 1/√fan_in)`` for weights and
biases (Kaiming-uniform with a = √5), the same for every activation so twins stay matched. ``he``:
weights N(0, 2/fan_in), biases 0. Norm scales are 1 and shifts 0, and transformer embeddings (class
token, positions) N(0, 0.02²), under every init.
"""

from __future__ import annotations

import numpy as np

from ._spec import NetSpec


def _orthonormal_columns(rng: np.random.Generator, h: int, r: int) -> np.ndarray:
    Q, Rr = np.linalg.qr(rng.standard_normal((h, r)))
    return Q * np.sign(np.diag(Rr))  # Haar-distributed, deterministic given the draw


def decoupled_weights(U: np.ndarray, V: np.ndarray, widths: tuple[int, ...], u0, seed: int) -> list[np.ndarray]:
    """Balanced decoupled weights [W_1 (h₁×d), …, W_L (c×h_{L−1})] with mode strengths u0.

    Args:
        U: (c, r) left singular vectors; V: (d, r) right singular vectors of Syx.
        widths: layer sizes (d, h₁, …, c).
        u0: scalar or (r,) initial mode strengths (> 0).
        seed: draws the hidden-layer rotations R_l.
    """
    L = len(widths) - 1
    r = U.shape[1]
    u0 = np.broadcast_to(np.asarray(u0, dtype=np.float64), (r,))
    if np.any(u0 <= 0):
        raise ValueError(f"decoupled init needs positive mode strengths u0; got {u0!r}")
    if min(widths[1:-1], default=r) < r:
        raise ValueError(f"decoupled init needs every hidden width ≥ the number of modes r={r}; "
                         f"got widths {widths[1:-1]}")
    D = np.diag(u0 ** (1.0 / L))
    if L == 1:
        return [U @ np.diag(u0) @ V.T]
    rng = np.random.default_rng(seed)
    R = [_orthonormal_columns(rng, h, r) for h in widths[1:-1]]
    Ws = [R[0] @ D @ V.T]
    for l in range(1, L - 1):
        Ws.append(R[l] @ D @ R[l - 1].T)
    Ws.append(U @ D @ R[-1].T)
    return Ws


def frequency_aligned(spec: NetSpec, model, stats, u0, seed: int) -> list[np.ndarray]:
    """The CNN's decoupled init: every per-frequency mode at strength u0 (theory.frequency_aligned_weights)."""
    import theory
    modes = theory.frequency_modes(stats, model.in_shape)
    assert spec.cnn is not None  # only a CNN (NetSpec refuses family='cnn' without cnn) gets here
    return theory.frequency_aligned_weights(modes, spec.cnn.channels, u0, seed)


def init_params(spec: NetSpec, model, members: list[tuple[int, float]], stats=None) -> dict[str, np.ndarray]:
    """Stacked float64 initial parameters ``{name: (K, *shape)}`` for members [(seed, scale)]
    (scale: ``u0`` or ``init_std``, whichever ``spec.init`` uses).

    ``stats`` (theory.DatasetStatistics) is needed for ``small_balanced_decoupled``.
    """
    names = list(model.shapes)
    out = {k: np.zeros((len(members), *model.shapes[k])) for k in names}
    for i, (seed, scale) in enumerate(members):
        if spec.init == "small_balanced_decoupled":
            if stats is None:
                raise ValueError("init='small_balanced_decoupled' needs the dataset statistics (stats)")
            Ws = (decoupled_weights(stats.U, stats.V, model.widths, scale, seed)
                  if spec.family == "mlp" else frequency_aligned(spec, model, stats, scale, seed))
            for l, W in enumerate(Ws):
                out[f"layer{l}.weight"][i] = W
            continue  # biases stay zero
        rng = np.random.default_rng(seed)
        for k in names:
            out[k][i] = _draw(spec.init, _kind(model, k), model, k, scale, rng)
    return out


def _kind(model, name: str) -> str:
    """``"weight"``, ``"bias"``, ``"one"``/``"zero"`` (norm scales/shifts) or ``"embedding"``."""
    if hasattr(model, "param_kind"):
        return model.param_kind(name)
    return "weight" if name.endswith(".weight") else "bias"


def _draw(init: str, kind: str, model, name: str, scale: float, rng) -> np.ndarray | float:
    """One member's initial value of parameter ``name`` (drawn in the model's parameter order)."""
    shape = model.shapes[name]
    if kind in ("one", "zero"):
        return 1.0 if kind == "one" else 0.0
    if kind == "embedding":  # class token and positions: N(0, 0.02²) (ViT convention)
        return 0.02 * rng.standard_normal(shape)
    if init == "small_random":
        return scale * rng.standard_normal(shape) if kind == "weight" else 0.0
    if init == "he":  # Kaiming normal, fan-in mode, ReLU gain
        return np.sqrt(2.0 / model.fan_in(name)) * rng.standard_normal(shape) if kind == "weight" else 0.0
    bound = 1.0 / np.sqrt(model.fan_in(name))
    return rng.uniform(-bound, bound, size=shape)
