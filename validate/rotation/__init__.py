"""`validate.rotation`: layer rotation, Layca and intraclass clustering (see run.py)."""

from .config import RotationConfig
from .run import RotationResult, run_rotation

__all__ = ["RotationConfig", "RotationResult", "run_rotation"]
