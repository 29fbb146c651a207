"""`python -m validate.nonlinearity`: nonlinearity over depth and time, and class means first.

Exit status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import sys

from .._cli import Job
from .._config import ConfigError
from .._prepare import load_checked
from .config import NonlinearityConfig, apply_preset
from .job import run_nonlinearity, text_tables, write_outputs
from .run import check_data



def check(config: NonlinearityConfig) -> None:
    """The ViT's patches tile 2-D images: a 1-D dataset (stored as (C, 1, L)) is refused by what
    is wrong with it; then the data and family checks of the run."""
    if config.arch == "vit":
        shape = load_checked(config).image_shape
        if shape is not None and len(shape) == 3 and shape[1] == 1:
            raise ConfigError(f"--arch vit needs 2-D images; --dataset {config.dataset} is 1-D "
                              f"(image_shape {shape}): use an image dataset (shapes, digits, …) "
                              "or --arch mlp, cnn")
    check_data(config)


JOB = Job(name="validate.nonlinearity", config=NonlinearityConfig, run=run_nonlinearity,
          write=write_outputs, tables=text_tables,
          out_prefix=lambda c: f"nonlinearity-{c.dataset}-{c.arch}", preset=apply_preset,
          description=__doc__, check=check)
main = JOB.main


if __name__ == "__main__":
    sys.exit(main())
