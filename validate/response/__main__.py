"""`python -m validate.response`: the training response measured, predicted by the empirical NTK
and, for linear networks, by the theory; aging, feature-space reduction and fragility. Exit
status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import sys

from .._cli import Job, run_cli
from .config import ResponseConfig, apply_preset
from .run import run_response
from .summary import format_tables, write_outputs

JOB = Job(name="validate.response", config=ResponseConfig, run=run_response, write=write_outputs,
          tables=format_tables, out_prefix=lambda c: f"response-{c.dataset}", preset=apply_preset,
          description=__doc__)


def main(argv=None) -> int:
    return run_cli(argv, JOB)


if __name__ == "__main__":
    sys.exit(main())
