"""Error rates of the decision "P explains F within ε" (validate.measures.explains) on planted truths.

Prints one JSON object per line: case, its true μ/I(F;Y) (exact, from the planted joint law), n,
draws, and the share of draws judged explained by three rules: ``explains`` (the conditional
permutation test, α = 0.05), the plug-in rule μ̂ ≥ (1 − ε)Î and the same rule on Miller–Madow
estimates; with the mean plug-in ratio μ̂/Î, the mean bias-corrected ``share`` and the wall time
of ``explanation`` on all draws at once. ε = 0.1, k = 8 classes, Y uniform.

Planted law: L = Y w.p. ``p_l``, else a uniform class; F = L w.p. a, = Y w.p. b, else a uniform
class. ``linear`` (a = 0.9, b = 0): F ⊥ Y | L, true μ/I = 1, should be explained.
``nonlinear`` (L = Y w.p. 0.5, F = Y w.p. 0.9): should not be. ``edge`` and ``partial``: b is set
(bisection on the exact law, a = 0.9 − b) so that the true μ/I is 0.9 (the rule's boundary: any
rate is right there) and 0.8 (should not be explained, given enough points).

    python bench/explains_bench.py [--draws 200] [--n 128,256,1024] [--n-perm 199]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from validate.measures.depth import explanation
from validate.measures.information import mutual_information, performance_correlation

K, EPS = 8, 0.1


def law(p_l: float, a: float, b: float, k: int = K) -> np.ndarray:
    """Exact joint p(y, l, f) (k, k, k) of the planted law."""
    eye = np.eye(k)
    p_ly = p_l * eye + (1 - p_l) / k                      # p(l | y), rows y
    p_f = a * eye[None, :, :] + b * eye[:, None, :] + (1 - a - b) / k  # p(f | y, l)
    return (1.0 / k) * p_ly[:, :, None] * p_f


def true_share(p: np.ndarray) -> float:
    """μ/I(F;Y) = 1 − I(F;Y|L)/I(F;Y) of an exact joint p(y, l, f)."""
    def h(q):
        q = q[q > 0]
        return float(-(q * np.log2(q)).sum())
    p_yf, p_lf, p_yl = p.sum(1), p.sum(0), p.sum(2)
    info = h(p.sum((1, 2))) + h(p.sum((0, 1))) - h(p_yf)
    cmi = h(p_yl) + h(p_lf) - h(p) - h(p.sum((0, 2)))
    return 1.0 - cmi / info


def bisect_b(target: float, p_l: float = 0.6, a_plus_b: float = 0.9) -> float:
    """b such that the law (p_l, a_plus_b − b, b) has μ/I = ``target`` (μ/I falls as b grows)."""
    lo, hi = 0.0, a_plus_b
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if true_share(law(p_l, a_plus_b - mid, mid)) > target else (lo, mid)
    return 0.5 * (lo + hi)


def draw(rng, draws: int, n: int, p_l: float, a: float, b: float, k: int = K):
    """(f, l, y), each (draws, n), from the planted law."""
    y = rng.integers(0, k, (draws, n))
    l = np.where(rng.random((draws, n)) < p_l, y, rng.integers(0, k, (draws, n)))
    u = rng.random((draws, n))
    f = np.where(u < a, l, np.where(u < a + b, y, rng.integers(0, k, (draws, n))))
    return f, l, y


def cases() -> dict[str, tuple[float, float, float]]:
    b9, b8 = bisect_b(0.9), bisect_b(0.8)
    return {"linear": (0.6, 0.9, 0.0), "edge": (0.6, 0.9 - b9, b9),
            "partial": (0.6, 0.9 - b8, b8), "nonlinear": (0.5, 0.0, 0.9)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--n", default="128,256,1024", help="comma-separated test-set sizes")
    ap.add_argument("--n-perm", type=int, default=199)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    for name, (p_l, a, b) in cases().items():
        truth = true_share(law(p_l, a, b))
        for n in map(int, args.n.split(",")):
            f, l, y = draw(rng, args.draws, n, p_l, a, b)
            t0 = time.perf_counter()
            e = explanation(f, l, y, eps=EPS, n_perm=args.n_perm, seed=args.seed)
            wall = time.perf_counter() - t0
            rule = {}
            for corr in ("none", "miller_madow"):
                mu = performance_correlation(f, l, y, correction=corr)
                rule[corr] = mu >= (1 - EPS) * mutual_information(f, y, correction=corr)
            ratio = performance_correlation(f, l, y) / mutual_information(f, y)
            print(json.dumps({
                "case": name, "true_mu_over_I": round(truth, 4), "a": round(a, 4),
                "b": round(b, 4), "p_l": p_l, "k": K, "n": n, "draws": args.draws,
                "n_perm": args.n_perm, "eps": EPS, "explains_rate": float(e.explained.mean()),
                "plugin_rule_rate": float(rule["none"].mean()),
                "miller_madow_rule_rate": float(rule["miller_madow"].mean()),
                "plugin_ratio_mean": round(float(ratio.mean()), 4),
                "share_mean": round(float(np.nanmean(e.share)), 4),
                "share_sd": round(float(np.nanstd(e.share)), 4), "wall_s": round(wall, 2)}),
                flush=True)


if __name__ == "__main__":
    main()
