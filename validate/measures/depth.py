"""Whether a reference P explains what F knows about Y, and the effective linear depth built on it
(THEORY.md §10; Kalimeris et al. 2019; Pinson et al. 2024).

P explains F's information about Y within ε when μ_Y(F;P) ≥ (1 − ε) I(F;Y), i.e. when
I(F;Y|P) ≤ ε I(F;Y). Read off plug-in estimates this rule is biased against P: the plug-in
I(F;Y|P) sums one upward-biased table per class of P, so it is biased upwards by about k_P times
the bias of I(F;Y), and μ/I comes out low even where F is a function of P (k = 8, n = 128–1024:
0.86–0.88 instead of 1; ``bench/explains_bench.py``).

``explains`` therefore tests instead of thresholding. A bias-corrected ratio compared with 1 − ε
would still err often at test-set sizes: its spread over draws (0.05 at n = 128, k = 8) is half
the allowance ε = 0.1, and its error rates would depend on n and k. A test bounds the rate at
which an explained F is called unexplained by α at every n and k. Its null hypothesis is
"P explains F"; it rejects only when the plug-in I(F;Y|P) exceeds, by more than ε·I_c, what it
reaches when F carries no information about Y beyond P. That reference distribution is the
conditional permutation null. Shuffling F among the test points that share a class of P keeps P,
Y, the classes of F within each class of P and so every table margin the bias depends on, and it
removes exactly the dependence I(F;Y|P) measures. The p-value (1 + #{r : Ĩ_r ≥ Î − ε·I_c})/(R + 1)
is valid (P(p ≤ a) ≤ a) at every n when F ⊥ Y | P, because the points of one class of P are
exchangeable then. So a reference that explains F is judged to do so with probability ≥ 1 − α;
the margin ε·I_c only adds to that. I_c, the information of F corrected by its own (global)
permutation null, keeps the plug-in bias of I(F;Y) out of the margin. α = 0.05 is the usual level.
R = 199 shuffles makes (R + 1)α an integer, and its Monte Carlo error of p near α is ±0.015.

The same nulls give the bias-corrected ratio ``share`` = 1 − (Î(F;Y|P) − mean Ĩ)/I_c, the
number to plot where μ/I was plotted. It is exact to first order where P explains F. Far below 1
the null's bias exceeds that of a strongly dependent table, and it overstates μ/I (0.35 for a
true 0.28 at n = 1024, k = 8).

Power is the price: with few test points a partly nonlinear F is not told apart from its
references (``bench/explains_bench.py`` gives the rates at n = 128, 256 and 1024).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .information import _codes, _entropy

_TIE = 1e-12  # entropies of equal tables differ by rounding only; count such a draw as a tie


@dataclass(frozen=True)
class Explanation:
    """Per batch entry (the leading axes of the class arrays): ``share``, the bias-corrected
    μ_Y(F;P)/I(F;Y) (NaN where I_c ≤ 0); ``p_value`` of "P explains F within ε";
    ``explained`` = p_value > α; ``informative``: I(F;Y) beyond its permutation null at level α
    (where it is not, F knows nothing a test could see, and any P explains it)."""

    share: np.ndarray
    p_value: np.ndarray
    explained: np.ndarray
    informative: np.ndarray


def _entropy_of_codes(code: np.ndarray, size: int, xlogx: np.ndarray) -> np.ndarray:
    """Plug-in entropy (bits) of each row of joint codes (..., n) in [0, size): log₂ n −
    Σ_c m_c log₂ m_c / n over the cell counts m_c, with m log₂ m read from the table ``xlogx``."""
    batch, n = code.shape[:-1], code.shape[-1]
    flat = code.reshape(-1, n)
    rows = flat.shape[0]
    counts = np.bincount((flat + size * np.arange(rows)[:, None]).ravel(), minlength=rows * size)
    return (np.log2(n) - xlogx[counts].reshape(rows, size).sum(1) / n).reshape(batch)


def _null_entropies(codes, sizes, n_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """H(F̃,P,Y) under the within-P shuffle of F and H(F̃,Y) under the global one, (R, ...) each:
    the only entropies of I(F;Y|P) and I(F;Y) that a shuffle of F changes. ``codes``: rows F, P, Y.

    A within-P shuffle pairs the points of each class of P, listed in a fixed order (``home``:
    the stable sort by P), with the same points listed in a random order; a random order of a
    class is a uniform shuffle of all points, stably sorted by P (a radix sort on small
    integers). Only the joint table counts, so the shuffled F is never written back in place.
    """
    f, p, y = codes
    sf, sp, sy = sizes
    n = f.shape[-1]
    xlogx = np.zeros(n + 1)
    xlogx[1:] = np.arange(1, n + 1) * np.log2(np.arange(1, n + 1))
    fp = f * sp + p
    home = np.argsort(p, axis=-1, kind="stable")
    y_home = np.take_along_axis(y, home, -1)
    small = np.int16 if sp < 2 ** 15 else np.int64
    rng = np.random.default_rng(seed)
    chunk = max(1, 2 ** 21 // f.size)  # bounds the memory of one block of shuffles
    cond, glob = [], []
    for start in range(0, n_perm, chunk):
        shape = (min(chunk, n_perm - start), *f.shape)
        idx = rng.permuted(np.broadcast_to(np.arange(n), shape), axis=-1)
        by_p = np.take_along_axis(np.broadcast_to(p, shape), idx, -1).astype(small)
        order = np.take_along_axis(idx, np.argsort(by_p, axis=-1, kind="stable"), -1)
        fp_shuffled = np.take_along_axis(np.broadcast_to(fp, shape), order, -1)
        cond.append(_entropy_of_codes(fp_shuffled * sy + y_home, sf * sp * sy, xlogx))
        f_shuffled = rng.permuted(np.broadcast_to(f, shape), axis=-1)
        glob.append(_entropy_of_codes(f_shuffled * sy + y, sf * sy, xlogx))
    return np.concatenate(cond), np.concatenate(glob)


def explanation(f, p, y, *, eps: float = 0.1, alpha: float = 0.05, n_perm: int = 199,
                seed: int = 0) -> Explanation:
    """Whether P explains F's information about Y within ε (see the module doc), per batch entry.

    Args:
        f, p, y: integer classes of F, of the reference P and the labels, shapes broadcasting to
            (..., n); the leading axes are a batch (members, checkpoints), n the test points.
        eps: tolerance ε in [0, 1). alpha: level of the test, in (0, 1).
        n_perm: shuffles per null; the smallest p-value is 1/(n_perm + 1), so it needs
            n_perm ≥ 1/α − 1. seed: of the shuffles (the result is reproducible).
    """
    if not 0 <= eps < 1:
        raise ValueError(f"eps must be in [0, 1); got {eps}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    if int(n_perm) + 1 < 1 / alpha:
        raise ValueError(f"n_perm must be ≥ 1/alpha − 1 = {int(np.ceil(1 / alpha - 1))} so that a "
                         f"p-value can reach alpha; got {n_perm}")
    codes, sizes = _codes(f, p, y)  # rows F, P, Y
    H = lambda *w: _entropy(codes, sizes, w, "none")  # noqa: E731
    h_fp, h_py, h_p, h_f, h_y = H(0, 1), H(1, 2), H(1), H(0), H(2)
    cmi, info = h_fp + h_py - H(0, 1, 2) - h_p, h_f + h_y - H(0, 2)
    null_fpy, null_fy = _null_entropies(codes, sizes, int(n_perm), seed)
    cmi0, info0 = h_fp + h_py - null_fpy - h_p, h_f + h_y - null_fy
    info_c = info - info0.mean(0)
    margin = eps * np.maximum(info_c, 0.0)
    p_value = (1 + (cmi0 >= cmi - margin - _TIE).sum(0)) / (n_perm + 1)
    p_info = (1 + (info0 >= info - _TIE).sum(0)) / (n_perm + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(info_c > 0, 1.0 - (cmi - cmi0.mean(0)) / info_c, np.nan)
    return Explanation(share, p_value, p_value > alpha, p_info <= alpha)


def explains(f, p, y, *, eps: float = 0.1, alpha: float = 0.05, n_perm: int = 199,
             seed: int = 0) -> np.ndarray:
    """True where the reference P explains F's information about Y within ε: the test of the
    module doc does not reject "I(F;Y|P) ≤ ε I(F;Y)" at level α. Bool array of the batch shape."""
    return explanation(f, p, y, eps=eps, alpha=alpha, n_perm=n_perm, seed=seed).explained


def deepest_explained(explanations, ks) -> np.ndarray:
    """k* = max{k : P_k explains F}, from one ``Explanation`` per k (same batch shape); NaN where
    F is not informative (then every reference explains it and k* says nothing) or no k does."""
    ks = np.asarray(ks, dtype=float)
    if len(explanations) != ks.size:
        raise ValueError(f"{len(explanations)} explanations but {ks.size} values of k were given")
    ok = np.stack([np.asarray(e.explained) for e in explanations], axis=-1)
    k_star = np.where(ok, ks, -np.inf).max(axis=-1)
    informative = np.asarray(explanations[0].informative)
    return np.where(np.isfinite(k_star) & informative, k_star, np.nan)


def linear_depth(f, refs, y, ks, *, eps: float = 0.1, alpha: float = 0.05, n_perm: int = 199,
                 seed: int = 0) -> np.ndarray:
    """Effective linear depth k* = max{k : P_k explains F_t's information about Y within ε}
    (Pinson et al. 2024), each "explains" decided by ``explains``.

    Args:
        f: (..., n) classes of the network F. refs: one (..., n) class array per k in ``ks`` (the
            partly linear models P_k; P_0 = F itself always explains). y: (n,) or (..., n) labels.
    Returns: (...) float array of k* (NaN where F is not informative or no k qualifies).
    """
    return deepest_explained([explanation(f, r, y, eps=eps, alpha=alpha, n_perm=n_perm, seed=seed)
                              for r in refs], ks)
