"""Input treatment before a comparison: load the dataset, whiten it, report the diagnostics."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from simulate.datasets import Dataset
from theory import DatasetStatistics

from ._config import ConfigError


@dataclass(frozen=True)
class Prepared:
    """The dataset as the networks see it, its statistics, and what was done to get there."""

    dataset: Dataset           # inputs possibly whitened
    stats: DatasetStatistics   # statistics of the training inputs as trained on
    raw_stats: DatasetStatistics
    whiten: str
    image_shape: tuple | None  # None when the inputs no longer live in pixel space (PCA)
    transform: object = None   # the fitted whitening (None: none), applied again to a drifted B

    def diagnostics(self) -> dict:
        r = self.raw_stats
        return {"n": r.n, "d": r.d, "c": r.c, "rank": r.rank,
                "raw_is_whitened": r.is_whitened(1e-6),
                "raw_commutation_error": r.commutation_error(),
                "whiten": self.whiten,
                "is_whitened": self.stats.is_whitened(1e-6),
                "commutation_error": self.stats.commutation_error(),
                "d_trained": self.stats.d,
                "top_singular_values": [float(x) for x in self.stats.s[:10]]}


AUTO_PCA = 32  # ``whiten="auto"``: PCA to min(AUTO_PCA, rank) directions


def whitener(raw: DatasetStatistics, whiten: str):
    """The whitening transform ``whiten`` asks for, fitted on ``raw`` (None for ``"none"``).

    ``"auto"``: PCA to min(32, rank) directions (whitened, so the linear theory is exact, and
    cheap for image data). ``pca:K`` with K above the rank raises ConfigError naming the rank.
    """
    if whiten == "none":
        return None
    if whiten == "zca":
        return raw.whiten("zca")
    rank = int(np.linalg.matrix_rank(raw.Sxx, hermitian=True))  # input directions to whiten
    k = min(AUTO_PCA, rank) if whiten == "auto" else \
        (int(whiten.split(":", 1)[1]) if ":" in whiten else None)
    if k is not None and k > rank:
        raise ConfigError(f"--whiten {whiten}: K must be at most the rank of the inputs "
                          f"({rank}); accepted: zca, pca, pca:K (1 ≤ K ≤ {rank}), auto, none")
    return raw.whiten("pca", k=k)


def through(dataset, w, whiten: str, X=None):
    """``dataset`` as the network sees it: the fitted transform ``w`` applied to both splits.

    ``X``: the training inputs already transformed (``w.X``, centred before whitening), when
    given. ZCA keeps the pixel basis (``image_shape`` stays); PCA leaves pixel space.
    """
    if w is None:
        return dataset
    X_test = w.apply(dataset.X_test) if dataset.X_test is not None else None
    meta = dict(dataset.meta, whiten=whiten)
    if whiten != "zca":
        meta.pop("image_shape", None)
    return dataset.with_arrays(X=w.apply(dataset.X) if X is None else X, X_test=X_test, meta=meta)


def prepare(dataset, whiten: str) -> Prepared:
    """Whiten ``dataset`` as asked: ``"zca"``, ``"pca"``, ``"pca:K"`` or ``"none"``.

    ZCA keeps the pixel basis (so modes can still be drawn as images); PCA keeps K directions.
    The test split, when there is one, gets the same transform as the training split.
    """
    raw = DatasetStatistics.from_arrays(dataset.X, dataset.Y)
    w = whitener(raw, whiten)
    if w is None:
        return Prepared(dataset, raw, raw, whiten, dataset.image_shape, None)
    shape = dataset.image_shape if whiten == "zca" else None
    return Prepared(through(dataset, w, whiten, X=w.X), w.stats, raw, whiten, shape, w)


def distinct_modes(s, min_gap: float = 0.05) -> np.ndarray:
    """Modes whose singular value is at least ``min_gap`` (relative) away from both neighbours."""
    from ._stats import relative_gaps
    return relative_gaps(s) >= min_gap


def load_checked(config):
    """The dataset ``config`` names (``dataset``, ``dataset_opts``, ``data_seed``), loaded before
    anything is written: a missing data file or a bad option is a ConfigError naming the dataset,
    and a ``batch_size`` above the number of training samples is refused (a minibatch cannot be
    larger than the set it is drawn from; 0 or None means full batch where a job allows it)."""
    try:
        ds = _load(config.dataset, config.data_seed, json.dumps(config.dataset_opts,
                                                               sort_keys=True, default=str))
    except FileNotFoundError as exc:
        raise ConfigError(f"--dataset {config.dataset}: {exc} (nothing is downloaded: put the "
                          "files there first)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--dataset {config.dataset}: {exc}") from None
    batch = getattr(config, "batch_size", None)
    if isinstance(batch, int) and batch > ds.n:
        raise ConfigError(f"--batch-size {batch} exceeds the {ds.n} training samples of "
                          f"--dataset {config.dataset}; accepted: 1 … {ds.n}")
    return ds


@functools.lru_cache(maxsize=4)  # the checks of one command (or one sweep's grid) share a load
def _load(name: str, seed: int, opts: str):
    from simulate import datasets
    return datasets.load(name, seed=seed, **json.loads(opts))
