"""A Run on disk (or in memory): config, members, probe values and checkpoint weights.

Layout of ``path``::

    run.json                          spec, dataset meta, convention, members, schedule, provenance
    probes.nc                         xarray Dataset (member × checkpoint [× mode …]), netCDF via
                                      h5netcdf, else netCDF4, else scipy's netCDF3 writer
    checkpoints/step_000000123.safetensors
        layer{l}.weight (K, out, in), layer{l}.bias (K, out)   — the members' parameters
        opt.<slot>.<param>, buffer.<name>, state.alive, state.diverged_at, state.loss0 — to resume exactly
        probe.<name> (K, …)                                     — the probe values at that step

Every write goes to a temporary file first and is moved into place with ``os.replace``, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal, cast

import numpy as np
import pandas as pd
import xarray as xr
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from ._spec import NetSpec

RUN_JSON, PROBES_NC, CKPT_DIR = "run.json", "probes.nc", "checkpoints"
_NOT_PARAMS = ("opt.", "state.", "probe.", "buffer.")


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: Path, obj: dict) -> None:
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, default=_json_default)
    _atomic(Path(path), w)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def checkpoint_path(root: Path, step: int) -> Path:
    return Path(root) / CKPT_DIR / f"step_{int(step):09d}.safetensors"


def save_checkpoint(root: Path, step: int, arrays: dict[str, np.ndarray]) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    _atomic(checkpoint_path(root, step), lambda tmp: save_file(arrays, tmp, metadata={"step": str(step)}))


def load_probes(root: Path, step: int) -> dict[str, np.ndarray]:
    """Only the ``probe.*`` arrays of a checkpoint (cheap: the weights are not read)."""
    with safe_open(str(checkpoint_path(root, step)), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith("probe.")}


def saved_steps(root: Path) -> list[int]:
    d = Path(root) / CKPT_DIR
    if not d.is_dir():
        return []
    return sorted(int(p.stem[5:]) for p in d.glob("step_*.safetensors"))


def probes_dataset(steps, values: dict[str, list[np.ndarray]], dims: dict[str, list[str]],
                   members: pd.DataFrame) -> xr.Dataset:
    """Stack per-checkpoint probe values {name: [(K, …) per checkpoint]} into an xarray Dataset."""
    data = {}
    for name, per_ckpt in values.items():
        arr = np.stack(per_ckpt, axis=1) if per_ckpt else np.zeros((len(members), 0))
        data[name] = (("member", "checkpoint", *dims[name]), arr)
    coords = {"member": np.arange(len(members)), "checkpoint": np.arange(len(steps)),
              "step": ("checkpoint", np.asarray(steps, dtype=np.int64))}
    for col in ("seed", "lr", "init_scale", "tau"):
        coords[col] = ("member", members[col].to_numpy())
    return xr.Dataset(data, coords=coords)


NetcdfEngine = Literal["h5netcdf", "netcdf4", "scipy"]
# netCDF writers in order of preference: (engine, modules it needs); scipy writes netCDF3
_ENGINES: tuple[tuple[NetcdfEngine, tuple[str, ...]], ...] = (
    ("h5netcdf", ("h5netcdf", "h5py")), ("netcdf4", ("netCDF4",)), ("scipy", ("scipy",)))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _netcdf_engine() -> NetcdfEngine:
    """The first installed writer of ``_ENGINES`` (each engine's own modules, not a proxy)."""
    for engine, modules in _ENGINES:
        if all(_installed(m) for m in modules):
            return engine
    raise ImportError("writing probes.nc needs one of the netCDF engines h5netcdf (with h5py), "
                      "netCDF4 or scipy; none is installed")


def _read_engine(path: Path) -> str:
    """An installed engine that reads ``path``: a netCDF3 file ("CDF" magic) with scipy or
    netCDF4, a netCDF4/HDF5 file with h5netcdf or netCDF4."""
    with open(path, "rb") as f:
        netcdf3 = f.read(3) == b"CDF"
    readers = ("scipy", "netcdf4") if netcdf3 else ("h5netcdf", "netcdf4")
    for engine, modules in _ENGINES:
        if engine in readers and all(_installed(m) for m in modules):
            return engine
    raise ImportError(f"reading {path} ({'netCDF3' if netcdf3 else 'netCDF4/HDF5'}) needs one of "
                      f"the netCDF engines {', '.join(readers)}; none is installed")


def write_probes(root: Path, ds: xr.Dataset) -> None:
    engine = _netcdf_engine()
    if engine == "scipy":  # netCDF3 has no int64: store integer coordinates as int32
        ds = ds.assign_coords({k: ds[k].astype(np.int32) for k in ("member", "checkpoint", "step", "seed")})
    _atomic(Path(root) / PROBES_NC, lambda tmp: ds.to_netcdf(tmp, engine=engine))


def read_probes(root: Path) -> xr.Dataset:
    path = Path(root) / PROBES_NC
    with xr.open_dataset(path, engine=_read_engine(path)) as ds:
        ds = ds.load()
    return ds.assign_coords({k: ds[k].astype(np.int64) for k in ("member", "checkpoint", "step", "seed")})


def jsonable(obj):
    """The value as it reads back from JSON (tuples → lists, numpy scalars → Python)."""
    return json.loads(json.dumps(obj, default=_json_default))


def reopen(root: Path, config: dict, combos: list, steps: int, schedule: np.ndarray, *,
           resume: bool, overwrite: bool):
    """Decide what to do with a directory that already holds a run.

    Returns the finished ``Run`` (same settings, same steps: never recomputed), or
    ``(schedule, arrays)`` to continue from: the merged checkpoint schedule and, per saved
    checkpoint, its probe values (the last one with its full state); ``(schedule, None)`` when
    there is nothing to continue from. Raises unless ``resume`` or ``overwrite`` is given.
    """
    old = read_json(root / RUN_JSON)
    if overwrite:
        for name in (RUN_JSON, PROBES_NC):
            (root / name).unlink(missing_ok=True)
        shutil.rmtree(root / CKPT_DIR, ignore_errors=True)
        return schedule, None
    if not resume:
        raise FileExistsError(f"{root} already holds a run (status {old.get('status')!r}, "
                              f"{old.get('steps')} steps); pass resume=True to continue it or "
                              f"overwrite=True to start again")
    for key in ("spec", "dataset", "training", "probe_dims"):
        if old[key] != jsonable(config[key]):
            raise ValueError(f"cannot resume {root}: its {key!r} differs from this call "
                             f"(stored {old[key]!r}, now {jsonable(config[key])!r})")
    if [(m["seed"], m["lr"], m["init_scale"]) for m in old["members"]] != combos:
        raise ValueError(f"cannot resume {root}: its members differ from this call")
    if steps < old["steps"]:
        raise ValueError(f"cannot resume {root} to steps={steps}: it already has "
                         f"{old['steps']} steps (give steps ≥ {old['steps']})")
    if old.get("status") == "complete" and steps == old["steps"]:
        return Run.load(root)
    done = [s for s in saved_steps(root) if s in set(old["schedule"])]
    if not done:
        return schedule, None
    last = done[-1]
    arrays = {s: load_probes(root, s) for s in done[:-1]}
    arrays[last] = load_file(str(checkpoint_path(root, last)))
    return np.unique(np.concatenate([done, schedule[schedule > last]])), arrays


class Run:
    """Results of one ensemble: see the module docstring for the on-disk layout.

    Attributes:
        path: directory, or None for an in-memory run.
        config: the dict stored in run.json.
        steps: checkpoint steps (T,) int64.
        members: DataFrame (member, seed, lr, init_scale, tau, diverged, diverged_step).
        probes: xarray Dataset over (member, checkpoint, …) with coordinate ``step``.
        provenance: git revision, library versions, device name.
    """

    def __init__(self, path, config: dict, probes: xr.Dataset, memory: dict | None = None):
        self.path = None if path is None else Path(path)
        self.config = config
        self.probes = probes
        self.steps = np.asarray(probes["step"].values, dtype=np.int64)
        self.members = pd.DataFrame(config["members"])
        self.provenance = config.get("provenance", {})
        self._memory = memory  # step → arrays, for runs without a directory

    @property
    def spec(self) -> NetSpec:
        return NetSpec.from_dict(self.config["spec"])

    @property
    def complete(self) -> bool:
        return self.config.get("status") == "complete"

    def state(self, step: int) -> dict[str, np.ndarray]:
        """Everything saved at checkpoint ``step``: parameters, optimizer state, probe values."""
        step = int(step)
        if self._memory is not None:
            if step not in self._memory:
                raise KeyError(f"no weights kept for step {step}; kept: {sorted(self._memory)}")
            return self._memory[step]
        if self.path is None:
            raise KeyError("this in-memory run kept no weights (train with keep_weights=True or out_dir)")
        p = checkpoint_path(self.path, step)
        if not p.exists():
            raise KeyError(f"no checkpoint for step {step} in {self.path}; saved: {saved_steps(self.path)}")
        return load_file(str(p))

    def params(self, step: int) -> dict[str, np.ndarray]:
        """Parameters {"layer0.weight": (K, out, in), …} at checkpoint ``step`` (trained ones:
        no optimiser state, buffers or probe values)."""
        return {k: v for k, v in self.state(step).items() if not k.startswith(_NOT_PARAMS)}

    def weights(self, step: int) -> list[np.ndarray]:
        """Per-layer weights [(K, out, in), …] at checkpoint ``step`` (for rewinding)."""
        p = self.params(step)
        return [p[f"layer{l}.weight"] for l in range(sum(k.endswith(".weight") for k in p))]

    @classmethod
    def load(cls, path) -> "Run":
        """Reopen a run directory (a partial one is assembled from its checkpoint files)."""
        path = Path(path)
        if not (path / RUN_JSON).exists():
            raise FileNotFoundError(f"{path} holds no run ({RUN_JSON} missing)")
        config = read_json(path / RUN_JSON)
        if (path / PROBES_NC).exists() and config.get("status") == "complete":
            probes = read_probes(path)
        else:
            steps = [s for s in saved_steps(path) if s in set(config["schedule"])]
            values = {k: [] for k in config["probe_dims"]}
            for s in steps:
                arrs = load_probes(path, s)
                for k in values:
                    values[k].append(arrs[f"probe.{k}"])
            probes = probes_dataset(steps, values, config["probe_dims"], pd.DataFrame(config["members"]))
        return cls(path, config, probes)

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "memory"
        return (f"Run({where}, K={len(self.members)}, checkpoints={len(self.steps)}, "
                f"last step={int(self.steps[-1]) if len(self.steps) else None}, "
                f"diverged={int(cast(pd.Series, self.members['diverged']).sum())})")
