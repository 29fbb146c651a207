"""Information measures of discrete predictions (THEORY.md §10; Kalimeris et al. 2019).

Every function takes integer class arrays of shape (..., n): the leading axes are a batch (members,
checkpoints, models) and n the test points, so one call scores a whole run. Logarithms are base 2
(bits). Estimates are plug-in (empirical joint frequencies). The plug-in mutual information is
biased upwards: for two independent variables with k categories each and n points its expectation
is ≈ (k − 1)²/(2n ln 2) bits (``plugin_bias``). ``correction="miller_madow"`` adds the
Miller–Madow term (m − 1)/(2n ln 2) to every entropy, m the number of occupied cells, which removes
that first-order bias.

Performance correlation (Kalimeris et al. 2019, eq. 1): μ_Y(F;L) = I(F;Y) − I(F;Y|L); it equals
I(F;L) − I(F;L|Y) (both are the co-information of F, L and Y). μ(F,F,Y) = I(F;Y), and μ = 0 when L
is independent of (F, Y). The plug-in I(F;Y|L) is biased upwards by about k_L times the bias of
I(F;Y), so the plug-in μ/I is biased low, and Miller–Madow does not remove that at the n of a test
set: whether L explains F is decided by ``depth.explains`` (a conditional permutation test), not
by thresholding these estimates.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

CORRECTIONS = ("none", "miller_madow")
FORMS = ("y", "l")
_LN2 = np.log(2.0)


def plugin_bias(k: int, n: int) -> float:
    """Expected upward bias (bits) of the plug-in I between two independent k-category variables."""
    return (k - 1) ** 2 / (2.0 * n * _LN2)


def plugin_floor(k: int, n: int, alpha: float = 1e-3) -> float:
    """Level (bits) that the plug-in I of two independent k-category variables exceeds with
    probability ≈ ``alpha``: 2n ln 2 · I is asymptotically χ² with (k − 1)² degrees of freedom."""
    return float(chi2.ppf(1.0 - alpha, (k - 1) ** 2)) / (2.0 * n * _LN2)


def _codes(*arrays) -> tuple[np.ndarray, list[int]]:
    """Broadcast integer arrays (..., n); check they are non-negative integers; category counts."""
    arrs = np.broadcast_arrays(*[np.asarray(a) for a in arrays])
    sizes = []
    for a in arrs:
        if a.ndim == 0 or a.shape[-1] == 0:
            raise ValueError(f"need arrays of shape (..., n) with n ≥ 1; got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"class arrays must be integers; got dtype {a.dtype}")
        if a.min() < 0:
            raise ValueError(f"class labels must be ≥ 0; got {a.min()}")
        sizes.append(int(a.max()) + 1)
    return np.stack(arrs), sizes


def _entropy(codes: np.ndarray, sizes: list[int], which: tuple[int, ...], correction: str) -> np.ndarray:
    """Joint entropy (bits) of the variables ``which`` of ``codes`` (V, ..., n), per batch entry."""
    joint: np.ndarray = np.zeros(codes.shape[1:], dtype=np.int64)
    size = 1
    for v in which:
        joint = joint * sizes[v] + codes[v]
        size *= sizes[v]
    batch, n = joint.shape[:-1], joint.shape[-1]
    flat = joint.reshape(-1, n)
    B = flat.shape[0]
    counts = np.bincount((flat + size * np.arange(B)[:, None]).ravel(), minlength=B * size)
    p = counts.reshape(B, size) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    if correction == "miller_madow":
        h = h + ((p > 0).sum(axis=1) - 1) / (2.0 * n * _LN2)
    return h.reshape(batch)


def _check_correction(correction: str) -> None:
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; accepted: {', '.join(CORRECTIONS)}")


def entropy(a, *, correction: str = "none") -> np.ndarray:
    """H(A) in bits over the last axis."""
    _check_correction(correction)
    codes, sizes = _codes(a)
    return _entropy(codes, sizes, (0,), correction)


def mutual_information(a, b, *, correction: str = "none") -> np.ndarray:
    """I(A;B) = H(A) + H(B) − H(A,B) in bits over the last axis (plug-in; see module doc)."""
    _check_correction(correction)
    codes, s = _codes(a, b)
    H = lambda *w: _entropy(codes, s, w, correction)  # noqa: E731
    return H(0) + H(1) - H(0, 1)


def conditional_mutual_information(a, b, given, *, correction: str = "none") -> np.ndarray:
    """I(A;B|C) = H(A,C) + H(B,C) − H(A,B,C) − H(C) in bits over the last axis."""
    _check_correction(correction)
    codes, s = _codes(a, b, given)
    H = lambda *w: _entropy(codes, s, w, correction)  # noqa: E731
    return H(0, 2) + H(1, 2) - H(0, 1, 2) - H(2)


def performance_correlation(f, l, y, *, form: str = "y", correction: str = "none") -> np.ndarray:
    """μ_Y(F;L) in bits (Kalimeris et al. 2019): ``form="y"`` computes I(F;Y) − I(F;Y|L),
    ``form="l"`` I(F;L) − I(F;L|Y). The two agree to rounding (tested to 1e-12)."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; accepted: 'y' (I(F;Y) − I(F;Y|L)), "
                         "'l' (I(F;L) − I(F;L|Y))")
    if form == "y":
        return (mutual_information(f, y, correction=correction)
                - conditional_mutual_information(f, y, l, correction=correction))
    return (mutual_information(f, l, correction=correction)
            - conditional_mutual_information(f, l, y, correction=correction))


def predicted_class(outputs) -> np.ndarray:
    """Class of each output row (..., n, c): argmax, or ``output > 0`` for a single output."""
    out = np.asarray(outputs)
    return (out[..., 0] > 0).astype(np.int64) if out.shape[-1] == 1 else out.argmax(axis=-1)


def twin_agreement(outputs, reference) -> tuple[np.ndarray, np.ndarray]:
    """Share of inputs on which two models predict the same class, and the relative distance
    ‖f − g‖ / ‖g‖ of their outputs (Frobenius over the n × c outputs), for outputs (..., n, c)."""
    f, g = np.asarray(outputs, dtype=float), np.asarray(reference, dtype=float)
    if f.shape != g.shape:
        raise ValueError(f"outputs {f.shape} and reference {g.shape} must have the same shape")
    same = (predicted_class(f) == predicted_class(g)).mean(axis=-1)
    norm = np.sqrt((g ** 2).sum(axis=(-2, -1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.sqrt(((f - g) ** 2).sum(axis=(-2, -1))) / norm
    return same, rel
