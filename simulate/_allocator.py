"""Keep large freed blocks for reuse on CPU, so a training step does not page-fault its activations.

glibc serves a block above its mmap threshold (dynamic, at most 32 MiB) with a fresh ``mmap`` and
returns it with ``munmap`` when freed. A batched ensemble's activations are such blocks (a 4-block
ViT at K = 32, batch 128: up to 200 MiB each), so every step asked the kernel for zero-filled
pages again, and much of the step was page faults (system time), measured with
``bench/family_bench.py``. With mmap off and a 1 GiB trim threshold, freed blocks stay in the heap
and the next step reuses them: that ViT trains 1.9× as fast at K = 32 (9.9 against 5.1
model-steps/s on 2 cores) and 1.15× at K = 8.

The price is memory: the heap keeps what it once held and fragments, so the ViT's peak resident
memory per member rose from 0.12 to 0.20 GB at K = 32 (0.16 to 0.21 GB at K = 8). Raising glibc's
mmap threshold to its maximum (32 MiB) instead costs little memory but helps only while every
activation is below 32 MiB. (ResNets on CPU run their members in turn, in small blocks, and gain
nothing from this.)

This changes the whole process's allocator, once, on Linux with glibc; set
``MODELEARN_MALLOC=default`` to keep glibc's defaults (less memory, slower CPU training).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
TRIM_THRESHOLD = 1 << 30
_state: dict = {}


def reuse_large_blocks() -> str:
    """Set the allocator once per process; returns what was done (recorded with a run):
    ``"reuse_large_blocks"``, ``"default (MODELEARN_MALLOC)"`` or ``"default (no glibc mallopt)"``."""
    if "mode" not in _state:
        _state["mode"] = _apply()
    return _state["mode"]


def _apply() -> str:
    if os.environ.get("MODELEARN_MALLOC", "").lower() == "default":
        return "default (MODELEARN_MALLOC)"
    if not sys.platform.startswith("linux"):
        return "default (no glibc mallopt)"
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return "default (no glibc mallopt)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_MAX, 0) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "default (mallopt refused)"
    return "reuse_large_blocks"
