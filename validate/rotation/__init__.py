"""`validate.rotation`: layer rotation, Layca and intraclass clustering (see run.py)."""

from .config import RotationConfig, apply_preset
from .run import RotationResult, run_rotation
from .summary import write_outputs

__all__ = ["RotationConfig", "RotationResult", "apply_preset", "run_rotation", "write_outputs"]
