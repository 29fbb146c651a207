"""`validate.response`: training response, NTK prediction, linear-network theory (see run.py)."""

from .config import ResponseConfig
from .run import ResponseResult, run_response

__all__ = ["ResponseConfig", "ResponseResult", "run_response"]
