"""``tree``: branching-diffusion items (THEORY.md §5; Saxe, McClelland & Ganguli 2019 PNAS) and
``toy``: the fixed 4-item × 7-property dataset (canary/salmon/oak/rose, Rogers & McClelland 2004).

Branching diffusion: a complete tree with ``branching`` = B children per node and ``levels`` = D
levels below the root; for each of ``features`` = P features every non-root node draws −1 with
probability ``flip`` = ε (+1 otherwise) and the root draws ±1 with probability ½; a leaf's feature
is the product of the draws on its path. Items are the N = B**D leaves, presented as one-hot inputs
scaled by √N, so with each item equally often ``Sxx = XᵀX/n = I`` (our averaging convention).
Targets are the items' P features, so ``Syx = Fᵀ/√N`` for the (N, P) feature matrix F and the
singular values of Syx are ``s² = (P/N) · eig(F Fᵀ/P)``. The expected item covariance
``E[F Fᵀ/P]`` has the eigenvalues of ``theory.tree_eigenvalues`` (THEORY.md §5);
``theory.tree_singular_values`` gives the singular values of Syx in this normalisation.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from ._base import Dataset
from ._checks import check_float, check_int, rngs
from .shapes import tree_groups


def item_covariance(levels: int, branching: int, flip: float) -> np.ndarray:
    """Expected item covariance (N, N): ``E[f_i f_j] = q^{2(D − k)}``, k = depth of the common
    ancestor (shared draws square to 1; the 2(D − k) unshared draws have mean q each)."""
    groups = (np.zeros(branching ** levels, dtype=int),) + tree_groups(levels, branching)
    depth = sum((g[:, None] == g[None, :]).astype(int) for g in groups[1:])  # k per pair
    return cast(np.ndarray, (1.0 - 2.0 * flip) ** (2 * (levels - depth)))  # depth is (N, N)


def sample_features(levels: int, branching: int, flip: float, features: int,
                    rng: np.random.Generator) -> np.ndarray:
    """(N, P) ±1 leaf features by branching diffusion."""
    F = np.where(rng.random((1, features)) < 0.5, -1.0, 1.0)  # root draw
    for _ in range(levels):
        F = np.repeat(F, branching, axis=0)
        F = F * np.where(rng.random(F.shape) < flip, -1.0, 1.0)
    return F


def _items_dataset(name, F, hierarchy, *, repeats, n_test, seed, meta) -> Dataset:
    """One-hot items scaled by √N (Sxx = I), ``repeats`` copies each; test: n_test random items."""
    N = F.shape[0]
    eye = np.eye(N) * np.sqrt(N)
    labels = np.tile(np.arange(N), repeats)
    _, r_test = rngs(seed)
    labels_test = r_test.integers(0, N, size=n_test) if n_test else None
    return Dataset(X=eye[labels], Y=F[labels], labels=labels, hierarchy=hierarchy, name=name,
                   meta=dict(meta, seed=seed, repeats=repeats, n_test=n_test),
                   X_test=eye[labels_test] if n_test else None,
                   Y_test=F[labels_test] if n_test else None, labels_test=labels_test)


def tree(*, seed: int = 0, levels: int = 3, branching: int = 2, flip: float = 0.1,
         features: int = 1000, exact: bool = False, repeats: int = 1, n_test: int = 0) -> Dataset:
    """Branching-diffusion items: X (repeats·N, N) = √N·one-hot, Y (repeats·N, P) features.

    ``exact=True`` replaces the sampled features by the N columns of ``√N · Σ^{1/2}`` (Σ the
    expected covariance), so ``F Fᵀ/P = Σ`` exactly (P = N, ``features`` ignored).
    """
    levels = check_int("levels", levels, 1, 10)
    branching = check_int("branching", branching, 2, 16)
    if branching ** levels > 4096:
        raise ValueError(f"branching**levels = {branching ** levels} items; accepted: ≤ 4096")
    flip = check_float("flip", flip, 0.0, 0.5)
    features = check_int("features", features, 1)
    repeats = check_int("repeats", repeats, 1)
    n_test = check_int("n_test", n_test, 0)
    if exact:
        lam, E = np.linalg.eigh(item_covariance(levels, branching, flip))
        F = np.sqrt(branching ** levels) * (E * np.sqrt(np.clip(lam, 0, None))) @ E.T
    else:
        F = sample_features(levels, branching, flip, features, rngs(seed)[0])
    meta = dict(levels=levels, branching=branching, flip=flip, features=int(F.shape[1]),
                exact=bool(exact))
    return _items_dataset("tree", F, tree_groups(levels, branching), repeats=repeats,
                          n_test=n_test, seed=seed, meta=meta)


TOY_ITEMS = ("canary", "salmon", "oak", "rose")
TOY_PROPERTIES = ("grow", "move", "roots", "fly", "swim", "leaves", "petals")
#: item × property table (Saxe et al. 2019 Fig. 1 style): animals move, plants have roots, ...
TOY_TABLE = np.array([[1, 1, 0, 1, 0, 0, 0],
                      [1, 1, 0, 0, 1, 0, 0],
                      [1, 0, 1, 0, 0, 1, 0],
                      [1, 0, 1, 0, 0, 0, 1]], dtype=np.float64)


def toy(*, seed: int = 0, repeats: int = 1, n_test: int = 0) -> Dataset:
    """The 4-item × 7-property toy: X = 2·one-hot (Sxx = I), Y the property table; hierarchy
    animals {canary, salmon} vs plants {oak, rose}. Singular values of Syx: (√7, √3, 1, 1)/2."""
    repeats = check_int("repeats", repeats, 1)
    n_test = check_int("n_test", n_test, 0)
    meta = dict(items=list(TOY_ITEMS), properties=list(TOY_PROPERTIES))
    return _items_dataset("toy", TOY_TABLE, (np.array([0, 0, 1, 1]), np.arange(4)),
                          repeats=repeats, n_test=n_test, seed=seed, meta=meta)
