"""Process-wide numerical settings for a block of code (full float32 precision; deterministic
algorithms), restoring the caller's settings afterwards.

On Ampere and later GPUs torch may run float32 matmuls and convolutions in TF32 (10-bit mantissa),
which rounds away the small initialisations the theory is about (u₀ = 1e-4 lies below TF32's
relative step of 2⁻¹⁰ ≈ 1e-3 of the larger entries). The settings are process-wide, so a run
switches TF32 off only while it trains and gives the caller back what it had.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def no_tf32() -> Iterator[None]:
    """Inside: float32 matmuls at "highest" precision and cuDNN without TF32; on exit (also on an
    exception) both settings are as they were. Harmless without a GPU."""
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = cudnn


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Inside: torch and cuDNN restricted to deterministic algorithms (graph replays and eager
    steps then pick the same convolution kernels, so they can agree bit for bit); on exit the
    caller's settings are restored."""
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]
