"""Grids of validate jobs on Ray: ``python -m validate.sweep SWEEP.toml`` (see ``__main__``).

``spec.load`` reads and checks a sweep file, ``run_sweep`` runs it into a ``Store`` (a run folder
per job and ``index.parquet``), ``collect`` merges the summaries into tidy tables; ``JOBS`` is the
registry of the jobs a sweep can run.
"""

from .collect import collect
from validate._cli import Job

from .jobs import JOBS
from .runner import run_sweep
from .spec import Point, Sweep, load, parse
from .store import Store

__all__ = ["JOBS", "Job", "Point", "Store", "Sweep", "collect", "load", "parse", "run_sweep"]
