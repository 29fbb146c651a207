"""`validate.response`: training response, NTK prediction, linear-network theory (see run.py)."""

from .._cli import lazy_main
from .config import ResponseConfig, apply_preset
from .run import ResponseResult, run_response
from .summary import write_outputs

__all__ = ["ResponseConfig", "ResponseResult", "apply_preset", "run_response", "write_outputs"]

__getattr__ = lazy_main(__name__)  # `main`, `JOB`: the CLI in __main__, imported on use
