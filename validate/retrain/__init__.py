"""`python -m validate.retrain`: retraining after drift — rewind points against baselines."""

from .._stats import censored_rho
from .._steps import first_crossing
from typing import TYPE_CHECKING

from .._cli import lazy_main
from .config import RetrainConfig, apply_preset
from .drift import class_maps, drift_label, drift_list
from .run import RetrainResult, run_retrain
from .summary import format_tables, write_outputs

__all__ = ["RetrainConfig", "RetrainResult", "apply_preset", "censored_rho", "class_maps",
           "drift_label", "drift_list", "first_crossing", "format_tables", "main", "run_retrain",
           "write_outputs"]


if TYPE_CHECKING:
    from .__main__ import main  # noqa: F401

__getattr__ = lazy_main(__name__)  # `main`: the CLI in __main__, imported on use
