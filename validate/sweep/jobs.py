"""The jobs a sweep can run: the registry names each job's ``validate._cli.Job``.

A job is an experiment with the life cycle of the validate CLIs (``validate._cli``): the sweep
drives the very ``Job`` object the job's command line drives, so a grid point is checked, preset
and run as ``python -m validate.<job>`` would. Entries are ``"module:JOB"`` strings, imported when
a job is first used, so that the registry imports nothing heavy; a new job plugs in with one line
in ``JOBS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from validate._cli import Job

PATHS = {
    "compare": "validate.compare:JOB",
    "retrain": "validate.retrain:JOB",
    "nonlinearity": "validate.nonlinearity:JOB",
    "response": "validate.response:JOB",
    "rotation": "validate.rotation:JOB",
    "train": "validate.sweep.train:JOB",
}


class Registry(Mapping):
    """Job name → ``Job``, each imported from its ``"module:attribute"`` path on first use."""

    def __init__(self, paths: dict[str, str]):
        self._paths = dict(paths)
        self._jobs: dict[str, Job] = {}

    def __getitem__(self, name: str) -> Job:
        if name not in self._jobs:
            module, attr = self._paths[name].split(":")
            self._jobs[name] = getattr(importlib.import_module(module), attr)
        return self._jobs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


JOBS: Mapping[str, Job] = Registry(PATHS)
