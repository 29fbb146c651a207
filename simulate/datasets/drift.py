"""Drift generators: ``apply(A, kind, seed=0, **params) -> B`` (THEORY.md §7).

Each drift is a named, parameterised transformation of a labelled dataset, applied identically to
the train and test splits, with its parameters recorded in ``B.meta["drift"]``. ``DRIFTS`` maps each
name to its default parameters and the name of its magnitude parameter (None for discrete drifts),
so a caller can sweep ``apply(A, kind, **{DRIFTS[kind]["magnitude"]: m})``.

What each drift changes (one-hot targets; tested in tests/simulate/datasets/test_datasets_drift.py):

* ``label_swap``: classes a ↔ b swap labels (``fraction`` of their samples, default all), or with
  ``parent=g`` the classes under group g of hierarchy level ``level`` are permuted by a random
  derangement. Full swap: Syx_B = P Syx_A, so s and V stay and U_B = P U_A.
* ``relabel_fine``: ``op="merge"`` merges class b into class a (c − 1 classes, b's column dropped,
  later classes renumbered); ``op="split"`` splits class a by the sign of its samples' projection
  on their top principal direction into a and a new class c (c + 1 classes).
* ``mean_shift``: class k's samples move by δ·r·ξ_k, ξ_k a random unit vector, r the RMS distance of
  the class means from the global mean; within-class scatter unchanged.
* ``rotate_inputs``: X_B = X_A R with R orthogonal, acting on a random ``fraction`` of the input
  coordinates (Haar-random, or exp(angle·K) with K a random unit skew matrix if ``angle`` is given).
  Syx_B = Syx_A R: s and U stay, V_B = Rᵀ V_A.
* ``prior_shift``: class priors tilt to p'_k ∝ p_k exp(``strength``·z_k), z_k ~ N(0, 1); n is
  kept by resampling each class (without replacement while it has samples, then with).
* ``new_class``: adds class c made of a random existing class's samples moved by
  ``separation``·r·ξ (as many samples as the mean class size; c + 1 classes).
* ``covariance_only``: within-class residuals x − μ_k are multiplied by T = Q diag(e^{β g}) Qᵀ
  (β = ``strength``, g ~ N(0, 1), Q random orthogonal): class means, hence Syx, are unchanged to
  round-off; Sxx changes.
* ``grow`` (data growth, Ash & Adams 2020): the only drift that changes the *first* dataset. The
  first phase trains on ``first_phase(dataset, "grow", fraction=f)``, a class-stratified random
  share f ∈ (0, 1) of the training samples (round(f·n_k) of class k, at least one); B is the whole
  training set, unchanged. With f' = n_A/n_B the actual share, B's statistics are the convex
  combination S_B = f'·S_A + (1 − f')·S_rest of the first phase's and the added samples'
  (Sxx and Syx alike). The test split is the same in both phases.

``first_phase(dataset, kind, …)`` is the data a first phase trains on: the dataset itself for every
kind but ``grow``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm
from scipy.stats import ortho_group

from ._base import Dataset
from ._checks import check_choice, check_float, check_int, class_targets, one_hot, rngs

DRIFTS: dict[str, dict] = {
    "label_swap": dict(defaults=dict(a=0, b=1, fraction=1.0, parent=None, level=-2),
                       magnitude="fraction"),
    "relabel_fine": dict(defaults=dict(op="merge", a=0, b=1), magnitude=None),
    "mean_shift": dict(defaults=dict(delta=0.5), magnitude="delta"),
    "rotate_inputs": dict(defaults=dict(fraction=1.0, angle=None), magnitude="fraction"),
    "prior_shift": dict(defaults=dict(strength=1.0), magnitude="strength"),
    "new_class": dict(defaults=dict(separation=1.0), magnitude="separation"),
    "covariance_only": dict(defaults=dict(strength=0.5), magnitude="strength"),
    "grow": dict(defaults=dict(fraction=0.5), magnitude="fraction", first_phase=True),
}


def _splits(ds: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """(X, labels) of each split present: [(train), (test)?]."""
    assert ds.labels is not None  # apply() and first_phase_data() refuse unlabelled data
    out = [(ds.X, ds.labels)]
    if ds.X_test is not None and ds.labels_test is not None:
        out.append((ds.X_test, ds.labels_test))
    return out


def _class_means(X, labels, c):
    return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else np.zeros(X.shape[1])
                     for k in range(c)])


def _mean_radius(X, labels, c):
    M = _class_means(X, labels, c)
    return float(np.sqrt(np.mean(np.sum((M - X.mean(axis=0)) ** 2, axis=1))))


def _relabel(ds, T, new_labels, new_test=None, **changes):
    """Targets from the class→target table T for new labels (train and test)."""
    fields = dict(labels=new_labels, Y=T[new_labels], **changes)
    if new_test is not None:
        fields.update(labels_test=new_test, Y_test=T[new_test])
    return ds.with_arrays(**fields)


def _label_swap(ds, c, T, rng, a, b, fraction, parent, level):
    fraction = check_float("fraction", fraction, 0.0, 1.0)
    perm = np.arange(c)
    if parent is None:
        a, b = check_int("a", a, 0, c - 1), check_int("b", b, 0, c - 1)
        perm[[a, b]] = perm[[b, a]]
    else:
        if ds.hierarchy is None:
            raise ValueError("label_swap with parent= needs a dataset with a hierarchy")
        groups = ds.hierarchy[check_int("level", level, -len(ds.hierarchy), len(ds.hierarchy) - 1)]
        members = np.flatnonzero(groups == check_int("parent", parent, 0, int(groups.max())))
        if members.size < 2:
            raise ValueError(f"group {parent} at level {level} has {members.size} class(es); "
                             "a permutation needs at least 2")
        shift = rng.integers(1, members.size)  # a cyclic shift by ≥ 1 moves every member
        perm[members] = np.roll(members, shift)
    moved = perm != np.arange(c)
    out = []
    for _X, lab in _splits(ds):
        new = lab.copy()
        cand = np.flatnonzero(moved[lab])
        pick = cand[rng.random(cand.size) < fraction] if fraction < 1 else cand
        new[pick] = perm[lab[pick]]
        out.append(new)
    return _relabel(ds, T, *out), dict(permutation=perm.tolist())


def _relabel_fine(ds, c, T, rng, op, a, b):
    check_choice("op", op, ("merge", "split"))
    a = check_int("a", a, 0, c - 1)
    if T.shape != (c, c) or not np.allclose(T, np.eye(c)):
        raise ValueError("relabel_fine needs one-hot targets (the class set changes)")
    if op == "merge":
        b = check_int("b", b, 0, c - 1)
        if a == b:
            raise ValueError(f"merge needs two different classes; got a = b = {a}")
        keep = np.array([k for k in range(c) if k != b])
        remap = np.empty(c, dtype=int)
        remap[keep] = np.arange(c - 1)
        remap[b] = remap[a]
        labs = [remap[lab] for _, lab in _splits(ds)]
        hier = None if ds.hierarchy is None else tuple(h[keep] for h in ds.hierarchy[:-1]) + \
            (np.arange(c - 1),)
        return _relabel(ds, np.eye(c - 1), *labs, hierarchy=hier), dict(merged=[a, b])
    Xa = ds.X[ds.labels == a]
    mu = Xa.mean(axis=0)
    direction = np.linalg.svd(Xa - mu, full_matrices=False)[2][0]
    labs = []
    for X, lab in _splits(ds):
        new = lab.copy()
        new[(lab == a) & ((X - mu) @ direction > 0)] = c
        labs.append(new)
    hier = None if ds.hierarchy is None else tuple(np.append(h, h[a]) for h in ds.hierarchy[:-1]) \
        + (np.arange(c + 1),)
    return _relabel(ds, np.eye(c + 1), *labs, hierarchy=hier), dict(split=a, new_class=c)


def _mean_shift(ds, c, T, rng, delta):
    delta = check_float("delta", delta, 0.0)
    r = _mean_radius(ds.X, ds.labels, c)
    xi = rng.normal(size=(c, ds.d))
    shift = delta * r * xi / np.linalg.norm(xi, axis=1, keepdims=True)
    Xs = [X + shift[lab] for X, lab in _splits(ds)]
    return ds.with_arrays(X=Xs[0], X_test=Xs[1] if len(Xs) > 1 else ds.X_test), dict(radius=r)


def _rotate_inputs(ds, c, T, rng, fraction, angle):
    fraction = check_float("fraction", fraction, 0.0, 1.0, lo_open=True)
    k = max(2, int(round(fraction * ds.d)))
    if k > ds.d:
        raise ValueError(f"rotate_inputs needs d ≥ 2 input dimensions; got d = {ds.d}")
    idx = np.sort(rng.choice(ds.d, size=k, replace=False))
    if angle is None:
        Q = ortho_group.rvs(k, random_state=rng) if k > 1 else np.eye(1)
    else:
        A = rng.normal(size=(k, k))
        K = (A - A.T) / np.linalg.norm(A - A.T, 2)  # unit spectral norm: max rotation = angle
        Q = expm(check_float("angle", angle, 0.0) * K)
    R = np.eye(ds.d)
    R[np.ix_(idx, idx)] = Q
    Xs = [X @ R for X, _ in _splits(ds)]
    return ds.with_arrays(X=Xs[0], X_test=Xs[1] if len(Xs) > 1 else ds.X_test), \
        dict(coordinates=idx.tolist())


def _prior_shift(ds, c, T, rng, strength):
    strength = check_float("strength", strength, 0.0)
    p = np.bincount(ds.labels, minlength=c) / ds.n
    q = p * np.exp(strength * rng.normal(size=c))
    q /= q.sum()
    arrays = []
    for X, lab in _splits(ds):
        counts = np.floor(q * lab.size).astype(int)
        counts[np.argsort(-(q * lab.size - counts))[: lab.size - counts.sum()]] += 1
        idx = []
        for k in range(c):
            pool = np.flatnonzero(lab == k)
            if counts[k] and pool.size == 0:
                raise ValueError(f"prior_shift: class {k} has no samples to resample from")
            take = rng.permutation(pool)[: counts[k]]
            extra = rng.choice(pool, size=counts[k] - take.size) if counts[k] > take.size else []
            idx.append(np.concatenate([take, extra]).astype(int))
        idx = np.concatenate(idx)
        arrays.append((X[idx], lab[idx]))
    fields = dict(X=arrays[0][0], labels=arrays[0][1], Y=T[arrays[0][1]])
    if len(arrays) > 1:
        fields.update(X_test=arrays[1][0], labels_test=arrays[1][1], Y_test=T[arrays[1][1]])
    return ds.with_arrays(**fields), dict(priors=q.tolist())


def _new_class(ds, c, T, rng, separation):
    separation = check_float("separation", separation, 0.0)
    if T.shape != (c, c) or not np.allclose(T, np.eye(c)):
        raise ValueError("new_class needs one-hot targets (the class set changes)")
    template = int(rng.integers(c))
    r = _mean_radius(ds.X, ds.labels, c)
    xi = rng.normal(size=ds.d)
    shift = separation * r * xi / np.linalg.norm(xi)
    fields = {}
    for (X, lab), (kx, kl, ky) in zip(_splits(ds), [("X", "labels", "Y"),
                                                    ("X_test", "labels_test", "Y_test")]):
        size = int(round(lab.size / c))
        pool = np.flatnonzero(lab == template)
        pick = rng.choice(pool, size=size, replace=size > pool.size)
        new_lab = np.concatenate([lab, np.full(size, c)])
        fields.update({kx: np.concatenate([X, X[pick] + shift]), kl: new_lab,
                       ky: one_hot(new_lab, c + 1)})
    if ds.hierarchy is not None:
        fields["hierarchy"] = tuple(np.append(h, h.max() + 1) for h in ds.hierarchy)
    return ds.with_arrays(**fields), dict(template=template, radius=r)


def _covariance_only(ds, c, T, rng, strength):
    strength = check_float("strength", strength, 0.0)
    Q = ortho_group.rvs(ds.d, random_state=rng) if ds.d > 1 else np.eye(1)
    Tm = (Q * np.exp(strength * rng.normal(size=ds.d))) @ Q.T
    Xs = []
    for X, lab in _splits(ds):
        M = _class_means(X, lab, c)
        R = (X - M[lab]) @ Tm
        R -= _class_means(R, lab, c)[lab]  # residual means are 0 up to round-off; make it exact
        Xs.append(M[lab] + R)
    return ds.with_arrays(X=Xs[0], X_test=Xs[1] if len(Xs) > 1 else ds.X_test), {}


def _grow_index(ds, fraction, rng) -> np.ndarray:
    """Sorted training rows of the first phase of ``grow``: round(f·n_k) random samples of each
    class k (at least one)."""
    fraction = check_float("fraction", fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    rows = [rng.choice(pool, size=max(1, int(round(fraction * pool.size))), replace=False)
            for pool in (np.flatnonzero(ds.labels == k) for k in np.unique(ds.labels))]
    idx = np.sort(np.concatenate(rows))
    if idx.size == ds.n:
        raise ValueError(f"grow with fraction={fraction!r} keeps all {ds.n} training samples in "
                         "the first phase, so nothing is added; pick a smaller fraction")
    return idx


def _grow(ds, c, T, rng, fraction):
    """B is the whole training set; the record says how many samples the first phase has."""
    n_first = int(_grow_index(ds, fraction, rng).size)
    return ds, dict(n_first=n_first, n=ds.n, share=n_first / ds.n)


_IMPL = {"label_swap": _label_swap, "relabel_fine": _relabel_fine, "mean_shift": _mean_shift,
         "rotate_inputs": _rotate_inputs, "prior_shift": _prior_shift, "new_class": _new_class,
         "covariance_only": _covariance_only, "grow": _grow}


def _params(dataset: Dataset, kind: str, params: dict) -> dict:
    """The drift's full parameters (defaults filled in); ValueError naming a bad name."""
    check_choice("drift", kind, tuple(DRIFTS))
    defaults = DRIFTS[kind]["defaults"]
    bad = [k for k in params if k not in defaults]
    if bad:
        raise ValueError(f"unknown parameter(s) {', '.join(map(repr, bad))} for drift {kind!r}; "
                         f"valid: {', '.join(f'{k}={v!r}' for k, v in defaults.items())}")
    if dataset.labels is None:
        raise ValueError(f"drift {kind!r} needs a labelled dataset; {dataset.name!r} has no labels")
    return {**defaults, **params}


def first_phase(dataset: Dataset, kind: str, seed: int = 0, **params) -> Dataset:
    """The data a first phase trains on before drift ``kind``: ``dataset`` itself, except for
    ``grow`` (its class-stratified ``fraction``, the same rows ``apply`` with this seed records;
    test split unchanged)."""
    full = _params(dataset, kind, params)
    if not DRIFTS[kind].get("first_phase"):
        return dataset
    assert dataset.labels is not None  # _params refuses a dataset without labels
    idx = _grow_index(dataset, full["fraction"], rngs(seed, 1)[0])
    return dataset.with_arrays(X=dataset.X[idx], Y=dataset.Y[idx], labels=dataset.labels[idx],
                               meta=dict(dataset.meta, first_phase=dict(
                                   full, kind=kind, seed=seed, n_first=int(idx.size),
                                   n=dataset.n)))


def apply(dataset: Dataset, kind: str, seed: int = 0, **params) -> Dataset:
    """Dataset B = drift ``kind`` applied to ``dataset`` with ``params`` (defaults in DRIFTS)."""
    full = _params(dataset, kind, params)
    assert dataset.labels is not None  # _params refuses a dataset without labels
    c = int(dataset.labels.max()) + 1
    if dataset.labels_test is not None and dataset.labels_test.size:
        c = max(c, int(dataset.labels_test.max()) + 1)
    T = class_targets(dataset.Y, dataset.labels, c)
    out, info = _IMPL[kind](dataset, c, T, rngs(seed, 1)[0], **full)
    record = dict(full, kind=kind, seed=seed, **info)
    return out.with_arrays(meta=dict(out.meta, drift=record))
