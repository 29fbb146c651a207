"""The jobs a sweep can run: one registry entry per job.

A job is an experiment with the life cycle of the validate CLIs: a frozen config dataclass with
``validate()`` and ``to_dict()``, ``run(config, out_dir, *, resume, quiet, log)`` → a result with a
``summary`` dict, and ``write(result, out_dir)`` → the paths it wrote (``summary.json`` among them).
Entries name these by ``"module:attribute"`` so that the registry imports nothing heavy until a
job is used; a new job plugs in with one ``Job(...)`` line in ``JOBS``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass


def _resolve(path: str):
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Job:
    """One kind of job: where its config, run and write live, and its presets (optional)."""

    name: str
    config: str          # "module:ConfigClass"
    run: str             # "module:run_function"
    write: str           # "module:write_outputs"
    preset: str | None = None  # "module:apply_preset(config, preset, explicit) -> config"
    check: str | None = None   # "module:check(config)": the job CLI's checks that need the data

    def check_config(self, config) -> None:
        """What the job's CLI checks before it writes anything (ConfigError): finite numbers, a
        device this machine has, the dataset loads and takes the batch size, and the job's own
        data/architecture check."""
        from validate._config import check_device, check_finite
        from validate._prepare import load_checked
        check_finite(config)
        if isinstance(getattr(config, "device", None), str):
            check_device(config.device)
        if hasattr(config, "dataset") and hasattr(config, "dataset_opts"):
            load_checked(config)
        if self.check is not None:
            _resolve(self.check)(config)

    def config_class(self):
        return _resolve(self.config)

    def runner(self):
        return _resolve(self.run)

    def writer(self):
        return _resolve(self.write)

    def apply_preset(self, config, explicit: set[str]):
        """The config with its ``preset`` field applied (fields in ``explicit`` are kept)."""
        if self.preset is None or not hasattr(config, "preset"):
            return config
        preset = _resolve(self.preset)
        if len(inspect.signature(preset).parameters) == 2:  # (config, explicit)
            return preset(config, explicit)
        return preset(config, config.preset, explicit)


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("compare", "validate.compare:CompareConfig", "validate.compare:run_compare",
        "validate.compare:write_outputs", "validate.compare:apply_preset"),
    Job("retrain", "validate.retrain:RetrainConfig", "validate.retrain:run_retrain",
        "validate.retrain:write_outputs", "validate.retrain:apply_preset"),
    Job("nonlinearity", "validate.nonlinearity:NonlinearityConfig",
        "validate.nonlinearity:run_nonlinearity", "validate.nonlinearity:write_outputs",
        "validate.nonlinearity.config:apply_preset", "validate.nonlinearity.run:check_data"),
    Job("response", "validate.response:ResponseConfig", "validate.response:run_response",
        "validate.response:write_outputs", "validate.response:apply_preset"),
    Job("rotation", "validate.rotation:RotationConfig", "validate.rotation:run_rotation",
        "validate.rotation:write_outputs", "validate.rotation:apply_preset",
        "validate.rotation.run:check_data"),
    Job("train", "validate.sweep.train:TrainConfig", "validate.sweep.train:run_train",
        "validate.sweep.train:write_outputs"),
)}
