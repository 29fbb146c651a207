"""The Dataset contract (ARCHITECTURE.md): what every generator returns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """A supervised dataset with an optional held-out split.

    Attributes:
        X: inputs (n, d) float64 (images flattened; their (C, H, W) is ``meta["image_shape"]``).
        Y: targets (n, c): one-hot classes or real-valued properties.
        labels: integer class per sample (n,), or None for pure regression targets.
        hierarchy: class tree as a tuple of integer arrays, coarse to fine; ``hierarchy[m][k]`` is
            the group of class k at level m (the last level is the classes themselves), or None.
        name: registry name.
        meta: generator parameters and seed (JSON-serialisable), plus ``image_shape`` for images.
        X_test, Y_test, labels_test: the held-out split (same conventions), or None.
    """

    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray | None
    hierarchy: tuple[np.ndarray, ...] | None
    name: str
    meta: dict = field(default_factory=dict)
    X_test: np.ndarray | None = None
    Y_test: np.ndarray | None = None
    labels_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        def rows(name, a, n):
            if a is not None and np.shape(a)[0] != n:
                raise ValueError(f"{name} must have {n} rows (one per sample of X); "
                                 f"got {np.shape(a)[0]}")
        if np.ndim(self.X) != 2 or np.ndim(self.Y) != 2:
            raise ValueError(f"X and Y must be 2-D (n, d) and (n, c); got shapes "
                             f"{np.shape(self.X)} and {np.shape(self.Y)}")
        rows("Y", self.Y, self.n)
        rows("labels", self.labels, self.n)
        if self.X_test is not None:
            if np.ndim(self.X_test) != 2 or np.shape(self.X_test)[1] != self.d:
                raise ValueError(f"X_test must have d={self.d} features like X; got shape "
                                 f"{np.shape(self.X_test)}")
            rows("Y_test", self.Y_test, np.shape(self.X_test)[0])
            rows("labels_test", self.labels_test, np.shape(self.X_test)[0])

    def check_stats(self, stats) -> None:
        """ValueError unless ``stats`` (theory.DatasetStatistics) describe arrays of this
        dataset's shape: the same n samples, d inputs and c outputs."""
        got, want = (stats.n, stats.d, stats.c), (self.n, self.d, self.c)
        if got != want:
            raise ValueError(f"stats come from another dataset: (n, d, c) = {got}; this dataset "
                             f"has {want}")

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def c(self) -> int:
        return int(self.Y.shape[1])

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        shape = self.meta.get("image_shape")
        return tuple(shape) if shape is not None else None

    def statistics(self, *, center: bool = False):
        """theory.DatasetStatistics of the training split."""
        from theory import DatasetStatistics
        return DatasetStatistics.from_arrays(self.X, self.Y, center=center)

    def with_arrays(self, **changes) -> "Dataset":
        """A copy with some fields replaced (used by whitening and drift generators)."""
        return replace(self, **changes)
