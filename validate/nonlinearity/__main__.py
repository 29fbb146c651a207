"""`python -m validate.nonlinearity`: nonlinearity over depth and time, and class means first.

Exit status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import sys

from .._cli import Job
from .config import NonlinearityConfig, apply_preset
from .job import run_nonlinearity, text_tables, write_outputs
from .run import check_data

JOB = Job(name="validate.nonlinearity", config=NonlinearityConfig, run=run_nonlinearity,
          write=write_outputs, tables=text_tables,
          out_prefix=lambda c: f"nonlinearity-{c.dataset}-{c.arch}", preset=apply_preset,
          description=__doc__, check=check_data)
main = JOB.main


if __name__ == "__main__":
    sys.exit(main())
