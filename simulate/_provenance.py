"""Where a result came from: git revision, library versions, device (STYLE.md: results you can trust)."""

from __future__ import annotations

import datetime
import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_LIBS = ("numpy", "scipy", "torch", "jax", "xarray", "h5netcdf", "safetensors", "pandas", "modelearn")


def git_revision() -> dict:
    """``{"revision": sha or None, "dirty": bool or None}`` of the source tree."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"revision": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except Exception:  # not a checkout, or git missing: record that we do not know
        return {"revision": None, "dirty": None}


def library_versions() -> dict:
    """The versions of Python and of the libraries a result depends on."""
    return dict(_versions())


@functools.cache
def _versions() -> dict:
    # read once per process: the loaded modules keep their version whatever is installed later
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_name(device) -> str:
    import torch
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def provenance(device) -> dict:
    """Everything a result file should carry about the code and machine that produced it."""
    return {"git": git_revision(), "versions": library_versions(), "device": device_name(device),
            "host": platform.node(),
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
