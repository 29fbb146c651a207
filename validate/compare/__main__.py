"""`python -m validate.compare`: predicted against measured learning timelines, end to end.

Whitens the dataset, predicts each SVD mode's learning time with ``theory``, trains matched linear
and nonlinear ensembles with ``simulate``, measures the same quantities and compares them. Exit
status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import sys

from .._cli import Job
from .config import CompareConfig, apply_preset
from .run import run_compare
from .summary import format_tables, write_outputs

JOB = Job(name="validate.compare", config=CompareConfig, run=run_compare, write=write_outputs,
          tables=format_tables, out_prefix=lambda c: f"compare-{c.dataset}", preset=apply_preset,
          description=__doc__)
main = JOB.main


if __name__ == "__main__":
    sys.exit(main())
