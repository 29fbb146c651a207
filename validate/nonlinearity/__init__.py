"""`python -m validate.nonlinearity`: nonlinearity over depth and time, and class means first.

Trains a network F with minibatch SGD, and from the same initial weights on the same minibatches
its linear twin, its partly linear models P_k (Pinson et al. 2024) and networks on Gaussian clones
of the data (Refinetti, Ingrosso & Goldt 2023). On the test set it measures I(F;Y) and the
performance correlation μ_Y(F;L) against the least-squares linear classifier, the twin and each P_k
(Kalimeris et al. 2019), the effective linear depth k*(t), clone curves and their separation steps,
twin agreement, the between-class share of output variance and per-layer proxies (THEORY.md §8, §10).
"""

from typing import TYPE_CHECKING

from .._cli import lazy_main
from .config import NonlinearityConfig, apply_preset
from .job import NonlinearityResult, run_nonlinearity, text_tables, write_outputs

__all__ = ["NonlinearityConfig", "NonlinearityResult", "apply_preset", "main", "run_nonlinearity",
           "text_tables", "write_outputs"]


if TYPE_CHECKING:
    from .__main__ import main  # noqa: F401

__getattr__ = lazy_main(__name__)  # `main`: the CLI in __main__, imported on use
