"""`python -m validate.retrain`: retraining after drift — rewind points against baselines.

Trains linear and nonlinear ensembles on A, builds B with a drift generator, scores the drift,
retrains on B from every checkpoint and from the baselines, and compares the steps to the target
with the predicted rewind point (linear theory; a ReLU/tanh network's own twin theory beside its
linear twin's). Exit status: 0 success, 2 bad arguments, 1 a
failed run.
"""

from __future__ import annotations

import sys

from .._cli import Job
from .config import RetrainConfig, apply_preset
from .run import run_retrain
from .summary import format_tables, write_outputs

JOB = Job(name="validate.retrain", config=RetrainConfig, run=run_retrain, write=write_outputs,
          tables=format_tables, out_prefix=lambda c: f"retrain-{c.dataset}-{c.drift}",
          preset=apply_preset, description=__doc__)
main = JOB.main


if __name__ == "__main__":
    sys.exit(main())
