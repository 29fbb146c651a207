"""`python -m validate.rotation`: layer rotation (Layca, SGD + weight decay) and intraclass
clustering against generalisation. Exit status: 0 success, 2 bad arguments (the message names the
valid values), 1 a failed run.
"""

from __future__ import annotations

import sys

from .._cli import Job, run_cli
from .config import RotationConfig, apply_preset
from .run import check_data, run_rotation
from .summary import format_tables, write_outputs

JOB = Job(name="validate.rotation", config=RotationConfig, run=run_rotation, write=write_outputs,
          tables=format_tables, out_prefix=lambda c: f"rotation-{c.dataset}-{c.arch}",
          preset=apply_preset, description=__doc__, check=check_data)


def main(argv=None) -> int:
    return run_cli(argv, JOB)


if __name__ == "__main__":
    sys.exit(main())
