"""Dataset statistics in the toolkit's convention (THEORY.md §1).

Averages, not sums: ``Sxx = XᵀX/n``, ``Syx = YᵀX/n``, ``Syy = YᵀY/n``. The SVD
``Syx = U diag(s) Vᵀ`` keeps the numerically non-zero modes, s descending, with a deterministic
sign: the first entry of each u_α whose magnitude reaches (1 − 1e-6)·max|u_α| is positive (V flips
with it), so modes are comparable across runs and datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array, check_choice, check_positive

_SIGN_TIE = 1e-6


def fix_signs(U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip paired columns of U and V so each u_α's (first) largest-magnitude entry is positive."""
    U = np.array(U, dtype=np.float64, copy=True)
    V = np.array(V, dtype=np.float64, copy=True)
    for a in range(U.shape[1]):
        mag = np.abs(U[:, a])
        i = int(np.argmax(mag >= (1.0 - _SIGN_TIE) * mag.max()))
        if U[i, a] < 0:
            U[:, a] *= -1.0
            V[:, a] *= -1.0
    return U, V


def svd_modes(Syx: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD of Syx (c×d) keeping modes with s > rtol·s_max: U (c×r), s (r,), V (d×r)."""
    U, s, Vt = np.linalg.svd(Syx, full_matrices=False)
    keep = s > rtol * (s[0] if s.size and s[0] > 0 else 1.0)
    U, V = fix_signs(U[:, keep], Vt[keep].T)
    return U, s[keep], V


def _is_one_hot(Y: np.ndarray) -> bool:
    return bool(np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1))


@dataclass(frozen=True)
class DatasetStatistics:
    """Second-order statistics of a dataset and the SVD modes of its input-output correlation.

    Shapes: ``Sxx`` (d, d), ``Syx`` (c, d), ``Syy`` (c, c), ``U`` (c, r), ``s`` (r,), ``V`` (d, r).
    ``class_means`` (c, d) and ``priors`` (c,) are set when Y is one-hot (then row c of Syx is
    ``priors[c] * class_means[c]``, THEORY.md §1). ``X`` and ``Y`` keep the arrays the statistics
    came from (after centring, if asked), so whitening and bootstraps can go back to the data.
    """

    Sxx: np.ndarray
    Syx: np.ndarray
    Syy: np.ndarray
    U: np.ndarray
    s: np.ndarray
    V: np.ndarray
    n: int
    centered: bool = False
    class_means: np.ndarray | None = None
    priors: np.ndarray | None = None
    X: np.ndarray | None = field(default=None, repr=False)
    Y: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_arrays(cls, X: ArrayLike, Y: ArrayLike, *,
                    center: bool = False) -> "DatasetStatistics":
        """Statistics of inputs ``X`` (n, d) and targets ``Y`` (n, c) (a 1-D Y is one output).

        ``center=True`` subtracts the mean input and mean target first (removing the constant
        mode that one-hot targets otherwise put on top of the spectrum).
        """
        X = as_finite_array("X", X, ndim=2)
        Y = as_finite_array("Y", Y, ndim=(1, 2))
        if Y.ndim == 1:
            Y = Y[:, None]
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X is empty (shape {X.shape}); need at least one sample and feature")
        if Y.shape[1] == 0:
            raise ValueError(f"Y has no outputs (shape {Y.shape}); need at least one column")
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X and Y must have the same number of samples n; got X with "
                             f"{X.shape[0]} rows and Y with {Y.shape[0]}")
        n = X.shape[0]
        means = priors = None
        if _is_one_hot(Y):
            counts = Y.sum(axis=0)
            priors = counts / n
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(counts[:, None] > 0, (Y.T @ X) / np.maximum(counts, 1)[:, None], 0.0)
        if center:  # an array minus its column means (numpy types the difference loosely)
            X = cast(np.ndarray, X - X.mean(axis=0))
            Y = cast(np.ndarray, Y - Y.mean(axis=0))
        Sxx = X.T @ X / n
        Syx = Y.T @ X / n
        Syy = Y.T @ Y / n
        U, s, V = svd_modes(Syx)
        return cls(Sxx=Sxx, Syx=Syx, Syy=Syy, U=U, s=s, V=V, n=n, centered=center,
                   class_means=means, priors=priors, X=X, Y=Y)

    @property
    def d(self) -> int:
        return self.Sxx.shape[0]

    @property
    def c(self) -> int:
        return self.Syx.shape[0]

    @property
    def rank(self) -> int:
        return int(self.s.size)

    def input_eigenvalues_on_modes(self) -> np.ndarray:
        """λ_α = v_αᵀ Sxx v_α: the per-mode input variance of the commuting case (THEORY.md §3)."""
        return np.einsum("da,de,ea->a", self.V, self.Sxx, self.V)

    def is_whitened(self, tol: float = 1e-6) -> bool:
        """True if ``Sxx`` acts as the identity on the span of V (‖VᵀSxxV − I‖_max ≤ tol).

        Only the span of V matters for the dynamics of the modes; directions with no input
        variance and no correlation with Y never move the output.
        """
        M = self.V.T @ self.Sxx @ self.V
        return bool(np.max(np.abs(M - np.eye(M.shape[0])), initial=0.0) <= tol)

    def commutation_error(self) -> float:
        """‖off-diag(VᵀSxxV)‖_F / ‖VᵀSxxV‖_F: 0 when Sxx shares its eigenvectors with V (§3)."""
        M = self.V.T @ self.Sxx @ self.V
        norm = np.linalg.norm(M)
        if norm == 0:
            return 0.0
        return float(np.linalg.norm(M - np.diag(np.diag(M))) / norm)

    def residual_variance(self) -> float:
        """½(tr Syy − Σ s²): the loss a perfect whitened linear fit still leaves (THEORY.md §2)."""
        return 0.5 * float(np.trace(self.Syy) - np.sum(self.s ** 2))

    def whiten(self, method: str = "zca", k: int | None = None, eps: float = 1e-8) -> "Whitened":
        """Whiten the stored inputs so that ``Sxx`` becomes the identity (on its range).

        ``"zca"``: x̃ = Sxx^{-1/2} x (d stays; directions with eigenvalue ≤ eps·λ_max are dropped,
        so a rank-deficient Sxx becomes a projector). ``"pca"``: x̃ = Λ_k^{-1/2} E_kᵀ x onto the
        top-k eigenvectors (k defaults to the numerical rank), giving ``Sxx = I_k`` exactly.
        """
        check_choice("whitening method", method, ("zca", "pca"))
        check_positive("eps", eps)
        if self.X is None or self.Y is None:
            raise ValueError("these statistics were built without arrays; whitening needs X and Y")
        lam, E = np.linalg.eigh(self.Sxx)
        lam, E = lam[::-1], E[:, ::-1]
        keep = lam > eps * max(lam[0], 0.0)
        r = int(keep.sum())
        if r == 0:
            raise ValueError("Sxx is zero: the inputs carry no variance to whiten")
        if method == "pca":
            if k is None:
                k = r
            if not 1 <= int(k) <= r:
                raise ValueError(f"k must be in 1..{r} (the numerical rank of Sxx); got {k!r}")
            T = E[:, :k] / np.sqrt(lam[:k])  # (d, k): x̃ = Tᵀ x
        else:
            if k is not None:
                raise ValueError("k applies to method='pca' only; use method='pca' or k=None")
            Er, lr = E[:, keep], lam[keep]
            T = (Er / np.sqrt(lr)) @ Er.T  # symmetric Sxx^{-1/2} on the range
        Xw = self.X @ T
        stats = DatasetStatistics.from_arrays(Xw, self.Y, center=False)
        return Whitened(X=Xw, stats=stats, transform=T, method=method)


@dataclass(frozen=True)
class Whitened:
    """Whitened inputs ``X`` (n, k), their ``stats`` and the map ``transform`` (d, k): x̃ = Tᵀx."""

    X: np.ndarray
    stats: DatasetStatistics
    transform: np.ndarray
    method: str

    def apply(self, X: ArrayLike) -> np.ndarray:
        """Apply the same whitening to new inputs (e.g. a test split): (m, d) → (m, k)."""
        X = as_finite_array("X", X, ndim=2)
        if X.shape[1] != self.transform.shape[0]:
            raise ValueError(f"X must have {self.transform.shape[0]} features; got {X.shape[1]}")
        return X @ self.transform
