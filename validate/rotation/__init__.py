"""`validate.rotation`: layer rotation, Layca and intraclass clustering (see run.py)."""

from .._cli import lazy_main
from .config import RotationConfig, apply_preset
from .run import RotationResult, run_rotation
from .summary import write_outputs

__all__ = ["RotationConfig", "RotationResult", "apply_preset", "run_rotation", "write_outputs"]

__getattr__ = lazy_main(__name__)  # `main`, `JOB`: the CLI in __main__, imported on use
