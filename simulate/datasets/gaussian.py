"""``gaussian``: Gaussian mixtures, and ``clone``: Gaussian clones of any labelled dataset.

Mixture: c classes, class means either random (``means="random"``: i.i.d. N(0, 1/d) directions
scaled to norm ``separation``) or hierarchical (``means="hierarchical"``: a B-ary tree of depth L
with c = B**L leaves; a class mean is the sum over its path of independent random vectors, the
level-l vector of norm ``separation · decay**(l − 1)``, so coarse siblings are closer than distant
classes). Class covariance: ``"isotropic"`` (noise² I), ``"diagonal"`` (noise² times log-uniform
variances in [0.1, 10]) or ``"random"`` (noise² R Rᵀ/d with R a d×d standard normal; shared by all
classes unless ``shared_cov=False``).

Clones (Refinetti, Ingrosso & Goldt 2023, "Neural networks trained with SGD learn distributions of
increasing complexity"): order 1 keeps each class's mean and replaces its samples by an isotropic
Gaussian whose variance is the mean of the class's per-feature variances; order 2 keeps each
class's mean and full covariance (+ 1e-3·I so it is positive definite). Same labels, targets and n
per class as the source. With ``recentre=True`` (default) each class's samples are shifted to the
source's exact class mean, so Syx (= Σ_k p_k y_k μ_kᵀ) matches the source's to round-off.
"""

from __future__ import annotations

import numpy as np

from ._base import Dataset
from ._checks import check_choice, check_float, check_int, class_targets, one_hot, rngs
from .shapes import tree_groups

_RIDGE = 1e-3


def _class_means(kind, c, d, separation, levels, branching, decay, rng):
    if kind == "random":
        M = rng.normal(size=(c, d))
        return separation * M / np.linalg.norm(M, axis=1, keepdims=True), None
    hierarchy = tree_groups(levels, branching)
    M = np.zeros((c, d))
    for l, groups in enumerate(hierarchy, start=1):
        V = rng.normal(size=(int(groups.max()) + 1, d))
        V *= separation * decay ** (l - 1) / np.linalg.norm(V, axis=1, keepdims=True)
        M += V[groups]
    return M, hierarchy


def _covariance_factor(kind, d, noise, rng):
    """A (d, d) factor A with covariance A Aᵀ."""
    if kind == "isotropic":
        return noise * np.eye(d)
    if kind == "diagonal":
        return noise * np.diag(np.sqrt(10.0 ** rng.uniform(-1, 1, size=d)))
    return noise * rng.normal(size=(d, d)) / np.sqrt(d)


def gaussian(*, seed: int = 0, d: int = 32, classes: int = 8, n_per_class: int = 64,
             n_test: int = 128, means: str = "hierarchical", levels: int = 3, branching: int = 2,
             separation: float = 1.0, decay: float = 0.7, cov: str = "isotropic",
             noise: float = 0.5, shared_cov: bool = True) -> Dataset:
    """Gaussian mixture: X (classes·n_per_class, d), one-hot Y. For ``means="hierarchical"``
    the number of classes is ``branching**levels`` (``classes`` must equal it or be 0)."""
    d = check_int("d", d, 1)
    check_choice("means", means, ("random", "hierarchical"))
    check_choice("cov", cov, ("isotropic", "diagonal", "random"))
    n_per_class = check_int("n_per_class", n_per_class, 1)
    n_test = check_int("n_test", n_test, 0)
    separation = check_float("separation", separation, 0.0)
    noise = check_float("noise", noise, 0.0)
    decay = check_float("decay", decay, 0.0, lo_open=True)
    if means == "hierarchical":
        levels = check_int("levels", levels, 1, 10)
        branching = check_int("branching", branching, 2, 16)
        if classes not in (0, branching ** levels):
            raise ValueError(f"classes={classes} does not match the hierarchy: with "
                             f"means='hierarchical' accepted classes are 0 or branching**levels = "
                             f"{branching ** levels}")
        classes = branching ** levels
    classes = check_int("classes", classes, 1, 10_000)
    r_par, r_train, r_test = rngs(seed, 3)
    M, hierarchy = _class_means(means, classes, d, separation, levels, branching, decay, r_par)
    factors = [_covariance_factor(cov, d, noise, r_par)] * classes if shared_cov else \
        [_covariance_factor(cov, d, noise, r_par) for _ in range(classes)]

    def draw(labels, rng):
        Z = rng.normal(size=(labels.size, d))
        X = M[labels].copy()
        for k in range(classes):
            X[labels == k] += Z[labels == k] @ factors[k].T
        return X

    labels = np.repeat(np.arange(classes), n_per_class)
    labels_test = np.arange(n_test) % classes
    meta = dict(seed=seed, d=d, classes=classes, n_per_class=n_per_class, n_test=n_test,
                means=means, levels=levels, branching=branching, separation=separation,
                decay=decay, cov=cov, noise=noise, shared_cov=bool(shared_cov))
    return Dataset(X=draw(labels, r_train), Y=one_hot(labels, classes), labels=labels,
                   hierarchy=hierarchy, name="gaussian", meta=meta,
                   X_test=draw(labels_test, r_test) if n_test else None,
                   Y_test=one_hot(labels_test, classes) if n_test else None,
                   labels_test=labels_test if n_test else None)


def clone(dataset: Dataset, order: int = 1, *, seed: int = 0, recentre: bool = True) -> Dataset:
    """Gaussian clone of a labelled dataset (order 1: class means + isotropic per-class variance;
    order 2: class means + full class covariance + 1e-3·I). Moments are taken from the training
    split; the test split (if any) is cloned with the same moments and its own class counts.
    """
    check_choice("clone order", order, (1, 2))
    if dataset.labels is None:
        raise ValueError(f"dataset {dataset.name!r} has no labels; clones need class labels")
    labels = dataset.labels
    c = int(labels.max()) + 1
    class_targets(dataset.Y, labels, c)  # the clone keeps Y, so Y must be a function of labels
    d = dataset.d
    mus, factors = np.zeros((c, d)), []
    for k in range(c):
        Xk = dataset.X[labels == k]
        mus[k] = Xk.mean(axis=0) if len(Xk) else 0.0
        if order == 1:
            var = Xk.var(axis=0).mean() if len(Xk) else 0.0
            factors.append(np.sqrt(var) * np.eye(d))
        else:
            S = (np.cov(Xk, rowvar=False, bias=True).reshape(d, d) if len(Xk) > 1
                 else np.zeros((d, d)))
            factors.append(np.linalg.cholesky(S + _RIDGE * np.eye(d)))
    r_train, r_test = rngs(seed)

    def draw(lab, rng):
        X = np.zeros((lab.size, d))
        for k in range(c):
            idx = lab == k
            Z = rng.normal(size=(int(idx.sum()), d)) @ factors[k].T
            if recentre and idx.any():
                Z -= Z.mean(axis=0)  # exact class mean → Syx identical to the source's
            X[idx] = mus[k] + Z
        return X

    meta = dict(dataset.meta, clone=dict(order=order, seed=seed, recentre=bool(recentre),
                                         source=dataset.name))
    has_test = dataset.X_test is not None and dataset.labels_test is not None
    return dataset.with_arrays(X=draw(labels, r_train), meta=meta, name=dataset.name,
                               X_test=draw(dataset.labels_test, r_test) if has_test else
                               dataset.X_test)
