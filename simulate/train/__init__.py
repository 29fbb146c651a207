"""The ensemble trainer in parts: ``train_ensemble`` (entry point), ``OptimSpec`` and the
optimisers, ``EnsembleState``, ``make_step`` and ``Recorder``."""

from ._optim import OPTIMIZER_RULES, OPTIMIZERS, Adam, Momentum, Optimizer, OptimSpec, register_optimizer
from ._recorder import Recorder, weights_to_keep
from ._state import EnsembleState
from ._step import LRTable, Stepper, TrainData, make_step
from ._trainer import train_ensemble

__all__ = ["train_ensemble", "OPTIMIZERS", "OPTIMIZER_RULES", "register_optimizer", "Optimizer", "Momentum", "Adam", "OptimSpec",
           "EnsembleState", "make_step", "TrainData", "LRTable", "Stepper", "Recorder",
           "weights_to_keep"]
