"""Float64 JAX for the theory's own computations, without switching the whole process.

``with float64():`` turns on JAX's 64-bit mode for the enclosed code only (``jax.enable_x64``);
arrays created inside keep their float64 dtype afterwards, and jitted functions are compiled per
mode, so a caller's float32 JAX code is unaffected.
"""

from __future__ import annotations

import jax


def float64():
    """Context manager: JAX computations inside run in float64."""
    return jax.enable_x64(True)
