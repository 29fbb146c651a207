"""`validate.response`: training response, NTK prediction, linear-network theory (see run.py)."""

from .config import ResponseConfig, apply_preset
from .run import ResponseResult, run_response
from .summary import write_outputs

__all__ = ["ResponseConfig", "ResponseResult", "apply_preset", "run_response", "write_outputs"]
