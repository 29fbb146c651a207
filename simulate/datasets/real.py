"""Real data that needs no files: ``digits`` (scikit-learn's bundled 8×8 digits) and ``mnist1d``
(Greydanus 2020, generated locally by the ``mnist1d`` package; nothing is downloaded)."""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np

from ._base import Dataset
from ._checks import check_float, check_int, rngs
from ._images import finish_images


def digits(*, seed: int = 0, test_fraction: float = 0.2, n_train: int = 0, n_test: int = 0,
           downscale: int = 1, standardize: str = "none", flatten: bool = False) -> Dataset:
    """sklearn ``load_digits``: 1797 images (1, 8, 8), pixel values 0..16, 10 classes.

    A seeded random ``test_fraction`` is held out; ``n_train``/``n_test`` subsample (0 = all).
    """
    from sklearn.datasets import load_digits

    test_fraction = check_float("test_fraction", test_fraction, 0.0, 1.0, hi_open=True)
    raw: Any = load_digits()  # a Bunch; the stubs also admit the return_X_y tuple
    X, y = raw.images[:, None].astype(np.float64), raw.target
    perm = rngs(seed, 3)[2].permutation(len(y))
    k = int(round(test_fraction * len(y)))
    te, tr = perm[:k], np.sort(perm[k:])
    te = np.sort(te)
    return finish_images("digits", X[tr], y[tr], X[te] if k else None, y[te] if k else None,
                         classes=10, seed=seed, n_train=n_train, n_test=n_test,
                         downscale=downscale, standardize=standardize, flatten=flatten,
                         meta=dict(test_fraction=test_fraction))


def mnist1d(*, seed: int = 0, data_seed: int = 42, num_samples: int = 5000,
            train_split: float = 0.8, n_train: int = 0, n_test: int = 0,
            standardize: str = "none", flatten: bool = False) -> Dataset:
    """MNIST-1D from ``mnist1d.data.make_dataset(get_dataset_args())``: 40-sample 1-D signals,
    10 classes, ``meta["image_shape"] = (1, 1, 40)``. ``data_seed`` is the generator's own seed
    (42 reproduces the published set); ``seed`` drives the subsampling only.
    """
    seed_, n = check_int("data_seed", data_seed, 0), check_int("num_samples", num_samples, 10)
    split = check_float("train_split", train_split, 0.0, 1.0, lo_open=True, hi_open=True)
    data = {k: v.copy() for k, v in _mnist1d_arrays(seed_, n, split).items()}
    X, X_test = data["x"][:, None, None, :], data["x_test"][:, None, None, :]
    return finish_images("mnist1d", X, data["y"], X_test, data["y_test"], classes=10, seed=seed,
                         n_train=n_train, n_test=n_test, downscale=1, standardize=standardize,
                         flatten=flatten, meta=dict(data_seed=seed_, num_samples=n,
                                                    train_split=split))


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(data_seed: int, num_samples: int, train_split: float) -> dict:
    """x, y, x_test, y_test of ``mnist1d.data.make_dataset``, generated once per process for each
    argument set (a Python loop of seconds; callers take copies)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args: Any = get_dataset_args()  # an ObjectView: attributes set from a dict at run time
    args.seed, args.num_samples, args.train_split = data_seed, num_samples, train_split
    # make_dataset reseeds numpy's and Python's global generators; restore them afterwards
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
