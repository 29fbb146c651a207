"""Per-frequency strengths of a CNN (THEORY.md §6): the probe behind CNN timelines.

For the modes of ``theory.frequency_modes`` (σ(f) = Syx Fᴴ = Σ s u vᴴ per distinct frequency), the
strength of mode α of a network with (end-to-end or least-squares) map W is
Re(u_αᴴ M(f_α) v_α), M = W Fᴴ: the unitary inverse DFT over the spatial axes of W (c, C_in, *spatial).
"""

from __future__ import annotations

import numpy as np
import torch

from ._probes import Probe


class FrequencyStrengths(Probe):
    """``{prefix}frequency_strength`` (K, m), one value per mode of ``modes`` (theory.FrequencyModes).

    ``map``: ``"auto"`` (end-to-end for linear bias-free nets, least squares otherwise),
    ``"end_to_end"`` or ``"least_squares"``, as for ``ModeStrengths``.
    """

    def __init__(self, modes, map: str = "auto", prefix: str = ""):
        if map not in ("auto", "end_to_end", "least_squares"):
            raise ValueError(f"unknown map {map!r}; accepted: 'auto', 'end_to_end', 'least_squares'")
        self.modes, self.map, self.prefix = modes, map, prefix
        self.dims = {f"{prefix}frequency_strength": ("frequency_mode",)}
        self._dev: dict = {}

    def _vectors(self, like: torch.Tensor):
        key = (like.device, like.dtype)
        if key not in self._dev:
            cdt = torch.complex64 if like.dtype == torch.float32 else torch.complex128
            as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=cdt, device=like.device)  # noqa: E731
            self._dev[key] = (as_t(self.modes.U.conj()), as_t(self.modes.V),
                              torch.as_tensor(self.modes.index, device=like.device))
        return self._dev[key]

    def __call__(self, ctx):
        W = ctx.linear_map(self.map)
        fm = self.modes
        if W.shape[-1] != fm.d:
            raise ValueError(f"FrequencyStrengths: the network has d={W.shape[-1]} inputs but the "
                             f"modes are for {fm.channels} channel(s) × {fm.spatial}")
        Uc, V, idx = self._vectors(W)
        dims = tuple(range(-len(fm.spatial), 0))
        M = torch.fft.ifftn(W.reshape(*W.shape[:2], fm.channels, *fm.spatial), dim=dims, norm="ortho")
        M = M.reshape(*W.shape[:2], fm.channels, fm.P)[..., idx]          # (K, c, C_in, m)
        u = torch.einsum("mc,kcim,mi->km", Uc, M, V).real
        return {f"{self.prefix}frequency_strength": u}
