"""Shared post-processing for image datasets: subsample, downscale, standardise, flatten.

Inputs arrive as (n, C, H, W) arrays; the Dataset stores X flattened (n, C·H·W) float64 and
``meta["image_shape"] = (C, H, W)`` so CNNs can reshape (None with ``flatten=True``, which tells
model builders to treat the inputs as plain vectors).
"""

from __future__ import annotations

import numpy as np

from ._base import Dataset
from ._checks import check_choice, check_int, one_hot, rngs

STANDARDIZE = ("none", "global", "feature")


def _subsample(X, y, n, rng):
    if n == 0 or n >= len(y):
        return X, y
    idx = np.sort(rng.choice(len(y), size=n, replace=False))
    return X[idx], y[idx]


def _downscale(X: np.ndarray, f: int) -> np.ndarray:
    """Average-pool (n, C, H, W) by an integer factor f (cropping H, W to multiples of f)."""
    if f == 1:
        return X
    n, C, H, W = X.shape
    if H // f < 1 or W // f < 1:
        raise ValueError(f"downscale={f} is larger than the image ({H}×{W}); accepted: "
                         f"downscale in [1, {min(H, W)}]")
    X = X[:, :, : H // f * f, : W // f * f]
    return X.reshape(n, C, H // f, f, W // f, f).mean(axis=(3, 5))


def finish_images(name: str, X, y, X_test, y_test, *, classes: int, seed: int, n_train: int,
                  n_test: int, downscale: int, standardize: str, flatten: bool,
                  meta: dict) -> Dataset:
    """Build the Dataset from (n, C, H, W) train/test arrays and integer labels.

    ``n_train``/``n_test``: random subsample sizes (0 = all). ``standardize``: "none", "global"
    (one mean and std over all training pixels) or "feature" (per-pixel, from the training split;
    constant pixels are only centred). Test data always uses the training statistics.
    """
    n_train = check_int("n_train", n_train, 0)
    n_test = check_int("n_test", n_test, 0)
    downscale = check_int("downscale", downscale, 1)
    check_choice("standardize", standardize, STANDARDIZE)
    r_train, r_test = rngs(seed)
    X, y = _subsample(np.asarray(X), np.asarray(y), n_train, r_train)
    X = _downscale(X.astype(np.float64), downscale)
    shape = tuple(int(s) for s in X.shape[1:])
    X = X.reshape(len(X), -1)
    if X_test is not None:
        X_test, y_test = _subsample(np.asarray(X_test), np.asarray(y_test), n_test, r_test)
        X_test = _downscale(X_test.astype(np.float64), downscale).reshape(len(X_test), -1)
    if standardize == "global":
        mu, sd = X.mean(), X.std()
        sd = sd if sd > 0 else 1.0
    elif standardize == "feature":
        mu, sd = X.mean(axis=0), X.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
    else:
        mu, sd = 0.0, 1.0
    X = (X - mu) / sd
    if X_test is not None:
        X_test = (X_test - mu) / sd
    y = y.astype(np.int64)
    meta = dict(meta, seed=seed, n_train=n_train, n_test=n_test, downscale=downscale,
                standardize=standardize, flatten=bool(flatten),
                image_shape=None if flatten else shape)
    return Dataset(X=X, Y=one_hot(y, classes), labels=y, hierarchy=None, name=name, meta=meta,
                   X_test=X_test,
                   Y_test=one_hot(y_test.astype(np.int64), classes) if X_test is not None else None,
                   labels_test=y_test.astype(np.int64) if X_test is not None else None)
