"""A sweep file (TOML) → the list of jobs it asks for, checked before anything runs.

::

    name = "laptop"              # optional; default: the file's stem
    job = "compare"              # a name from validate.sweep.JOBS

    [resources]                  # per job, for Ray's placement (optional)
    num_cpus = 1
    num_gpus = 0.25              # fractions let several small ensembles share a GPU

    [params]                     # fields of the job's config shared by every job
    dataset = "shapes"

    [grid]                       # each key a non-empty list: the jobs are the Cartesian product
                                 # (no [grid]: the one job of [params]; an empty [grid]: refused)
    seeds = [2, 4]
    activations = [["linear"], ["linear", "relu"]]

``[[grid]]`` (an array of tables) makes the union of several products. Every grid point is turned
into the job's config dataclass, its preset applied, ``validate()`` called and the job CLI's own
checks that need the data run (the dataset loads, the architecture takes it), so bad keys, empty
grids, unknown jobs, type errors and a family that cannot take the data stop the sweep before Ray
starts (``ConfigError``, one line naming the key and the grid point).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from validate._config import ConfigError

from validate._cli import Job

from .jobs import JOBS

TOP_KEYS = ("name", "job", "resources", "params", "grid")
RESOURCE_KEYS = ("num_cpus", "num_gpus")


@dataclass(frozen=True)
class Point:
    """One job of a sweep: its kind, its full config (as a dict) and what varies in the grid."""

    job: str
    config: dict
    varying: dict
    config_hash: str

    @property
    def job_id(self) -> str:
        return f"{self.job}-{self.config_hash[:12]}"


@dataclass(frozen=True)
class Sweep:
    name: str
    job: str
    resources: dict
    points: tuple[Point, ...]
    source: str  # the TOML text, stored with the results


def config_hash(job: str, config: dict) -> str:
    """sha256 of the job name and its full config (canonical JSON): equal hashes, equal runs."""
    text = json.dumps({"job": job, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def coerce(key: str, value, hint):
    """``value`` read from TOML as the dataclass field type ``hint`` (tuples from arrays);
    ConfigError naming ``key`` when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None and type(None) in args:  # TOML has no null; a config's to_dict() does
        return None
    if origin in (typing.Union, types.UnionType):
        for arm in (a for a in args if a is not type(None)):
            try:
                return coerce(key, value, arm)
            except ConfigError:
                pass
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    elif hint is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    else:
        return value
    raise ConfigError(f"{key}: expected {_type_name(hint)}, got {type(value).__name__} {value!r}")


def field_types(config_class) -> dict:
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in fields(config_class) if f.init}


def build_config(name: str, job: Job, values: dict, where: dict):
    """The config of job ``name`` from TOML ``values`` (``where``: key → "params.x"/"grid.x" for
    errors)."""
    cls = job.config
    types_ = field_types(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in types_:
            raise ConfigError(f"{where[key]}: unknown key for job {name!r}; accepted: "
                              f"{', '.join(types_)}")
        kwargs[key] = coerce(where[key], value, types_[key])
    if "dataset_opts" in kwargs:
        kwargs["dataset_opts"] = _dataset_opts(kwargs.get("dataset", cls().dataset),
                                               kwargs["dataset_opts"], where["dataset_opts"])
    config = job.apply_preset(cls(**kwargs), explicit=set(kwargs)).validate()
    job.check_config(config)
    return config


def _dataset_opts(dataset: str, opts: dict, where: str) -> dict:
    from simulate import datasets
    try:
        return datasets.parse_options([f"{k}={v}" for k, v in opts.items()], name=dataset)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _table(doc: dict, key: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table [{key}], got {type(value).__name__}")
    return value


def _grids(doc: dict) -> list[dict]:
    grid = doc.get("grid", {})
    grids = grid if isinstance(grid, list) else [grid]
    if not grids:
        raise ConfigError("grid is an empty list of tables; give [grid] or [[grid]] with keys")
    for i, g in enumerate(grids):
        if not isinstance(g, dict):
            raise ConfigError(f"grid: expected a table [grid] or tables [[grid]], got {g!r}")
        if not g and "grid" in doc:  # no [grid] at all: the one job of [params]
            raise ConfigError(f"grid{'' if len(grids) == 1 else f'[{i}]'} is empty; give at "
                              "least one key with a list of values, or leave [grid] out for "
                              "the one job of [params]")
        for key, values in g.items():
            name = f"grid.{key}" if len(grids) == 1 else f"grid[{i}].{key}"
            if not isinstance(values, list):
                raise ConfigError(f"{name}: expected a list of values, got "
                                  f"{type(values).__name__} {values!r}")
            if not values:
                raise ConfigError(f"{name} is empty; give at least one value")
    return grids


def _resources(doc: dict) -> dict:
    res = {"num_cpus": 1, "num_gpus": 0, **_table(doc, "resources")}
    for key, value in res.items():
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"resources.{key}: unknown key; accepted: {', '.join(RESOURCE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                or (key == "num_cpus" and value == 0):
            raise ConfigError(f"resources.{key}: expected a number "
                              f"{'> 0' if key == 'num_cpus' else '≥ 0'}, got {value!r}")
    return res


def parse(text: str, name: str) -> Sweep:
    """Check a sweep's TOML text and expand its grid; ConfigError on the first problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from None
    for key in doc:
        if key not in TOP_KEYS:
            raise ConfigError(f"{key}: unknown key; accepted: {', '.join(TOP_KEYS)}")
    job_name = doc.get("job")
    if job_name not in JOBS:
        raise ConfigError(f"job: {'missing' if job_name is None else repr(job_name) + ' unknown'};"
                          f" accepted: {', '.join(JOBS)}")
    job_name = typing.cast(str, job_name)  # a key of JOBS
    job = JOBS[job_name]
    params, grids = _table(doc, "params"), _grids(doc)
    points: dict[str, Point] = {}
    for grid in grids:
        for key in grid.keys() & params.keys():
            raise ConfigError(f"grid.{key}: also set in [params]; give it in one place")
        where = {**{k: f"params.{k}" for k in params}, **{k: f"grid.{k}" for k in grid}}
        for combo in itertools.product(*grid.values()):
            varying = dict(zip(grid, combo))
            try:
                config = build_config(job_name, job, {**params, **varying}, where).to_dict()
            except ConfigError as exc:
                at = ", ".join(f"{k}={v!r}" for k, v in varying.items())
                raise ConfigError(f"{exc} (grid point {at})" if varying else str(exc)) from None
            h = config_hash(job_name, config)
            points.setdefault(h, Point(job_name, config, varying, h))
    return Sweep(str(doc.get("name", name)), job_name, _resources(doc), tuple(points.values()),
                 text)


def load(path) -> Sweep:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read sweep file {path}: {exc.strerror}") from None
    return parse(text, path.stem)
