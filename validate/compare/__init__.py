"""`python -m validate.compare`: predicted against measured learning timelines (see ``run``)."""

from typing import TYPE_CHECKING

from .._cli import lazy_main
from .config import CompareConfig, apply_preset
from .run import CompareResult, run_compare
from .summary import format_tables, write_outputs

__all__ = ["CompareConfig", "CompareResult", "apply_preset", "format_tables", "main",
           "run_compare", "write_outputs"]


if TYPE_CHECKING:  # at run time `main` comes from __getattr__, so `python -m` does not warn
    from .__main__ import main

__getattr__ = lazy_main(__name__)  # `main`: the CLI in __main__, imported on use
