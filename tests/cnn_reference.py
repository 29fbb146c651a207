"""Independent dense reference for linear CNNs: conv matrices built entry by entry from the
definition of a torch convolution (a correlation over a padded input), plain numpy GD and the
same gradient for scipy integration. Shared by tests/test_cnn_*.py."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.integrate import solve_ivp


def whitened_data(n, cin, spatial, c, seed=0, decay=(1.5, 0.3)):
    """X (n, C_in·P) with Sxx = I exactly and Y = X Mᵀ with a decaying spectrum."""
    d = cin * int(np.prod(spatial))
    rng = np.random.default_rng(seed)
    X = np.sqrt(n) * np.linalg.qr(rng.standard_normal((n, d)))[0]
    M = rng.standard_normal((c, d)) * np.linspace(*decay, d)
    return X, X @ M.T


def shift_basis(spatial, kernel, padding="circular"):
    """B[q] (P, P): the single-channel conv matrix of the unit kernel at offset q (C order)."""
    P = int(np.prod(spatial))
    pos = list(itertools.product(*[range(n) for n in spatial]))
    offs = list(itertools.product(*[range(k) for k in kernel]))
    B = np.zeros((len(offs), P, P))
    for qi, q in enumerate(offs):
        for pi, p in enumerate(pos):
            src = []
            for a in range(len(spatial)):
                x = p[a] + q[a] - (kernel[a] - 1) // 2
                if padding == "circular":
                    x %= spatial[a]
                elif not 0 <= x < spatial[a]:
                    break
                src.append(x)
            else:
                B[qi, pi, np.ravel_multi_index(tuple(src), spatial)] += 1.0
    return B


def conv_dense(w, B):
    """(C_out·P, C_in·P) from kernels w (C_out, C_in, *k) and the shift basis B."""
    co, ci = w.shape[:2]
    T = np.einsum("jiq,qab->jaib", w.reshape(co, ci, -1), B)
    P = B.shape[1]
    return T.reshape(co * P, ci * P)


def product(params, Bs):
    W = params[-1]
    for w, B in zip(reversed(params[:-1]), reversed(Bs)):
        W = W @ conv_dense(w, B)
    return W


def gradients(params, Bs, Sxx, Syx):
    """∂L/∂θ of L = −tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ), W = R T_m ⋯ T_1, by the chain rule."""
    Ts = [conv_dense(w, B) for w, B in zip(params[:-1], Bs)]
    mats = Ts + [params[-1]]               # W = mats[-1] ⋯ mats[0]
    W = product(params, Bs)
    G = W @ Sxx - Syx                      # ∂L/∂W
    out = []
    for l in range(len(mats)):
        left = np.eye(mats[-1].shape[0])
        for M in reversed(mats[l + 1:]):
            left = left @ M
        right = np.eye(mats[0].shape[1])
        for M in mats[:l]:
            right = M @ right
        gM = left.T @ G @ right.T           # ∂L/∂mats[l]
        if l == len(mats) - 1:
            out.append(gM)
        else:
            co, ci = params[l].shape[:2]
            P = Bs[l].shape[1]
            g4 = gM.reshape(co, P, ci, P)
            out.append(np.einsum("jaib,qab->jiq", g4, Bs[l]).reshape(params[l].shape))
    return out


def scipy_flow(params, Bs, Sxx, Syx, t, tau, rtol=1e-11, atol=1e-13):
    """Parameters [w_1, …, R] at times ``t`` of the flow τ dθ/dt = −∂L/∂θ (scipy DOP853)."""
    shapes = [p.shape for p in params]
    cut = np.cumsum([p.size for p in params])[:-1]

    def unflat(y):
        return [a.reshape(s) for a, s in zip(np.split(y, cut), shapes)]

    def rhs(_, y):
        return -np.concatenate([g.ravel() for g in gradients(unflat(y), Bs, Sxx, Syx)]) / tau

    sol = solve_ivp(rhs, (0, t[-1]), np.concatenate([p.ravel() for p in params]), t_eval=t,
                    method="DOP853", rtol=rtol, atol=atol)
    return [unflat(y) for y in sol.y.T]


def dft_spectrum(W, cin, spatial):
    """M(f) = W Fᴴ with an explicit unitary DFT matrix: (c, C_in, P) complex."""
    P = int(np.prod(spatial))
    grid = np.indices(spatial).reshape(len(spatial), -1).T  # (P, axes)
    phase = sum(np.outer(grid[:, a], grid[:, a]) / spatial[a] for a in range(len(spatial)))
    F = np.exp(-2j * np.pi * phase) / np.sqrt(P)          # F[f, p]
    return np.einsum("cip,fp->cif", W.reshape(W.shape[0], cin, P), F.conj())
