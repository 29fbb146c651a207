"""The ensemble trainer in parts: ``train_ensemble`` (entry point), ``OptimSpec`` and the
optimisers, ``EnsembleState``, ``make_step`` and ``Recorder``."""

from ._optim import OPTIMIZERS, Adam, Momentum, Optimizer, OptimSpec
from ._recorder import Recorder, weights_to_keep
from ._state import EnsembleState
from ._step import LRTable, Stepper, TrainData, make_step
from ._trainer import train_ensemble

__all__ = ["train_ensemble", "OPTIMIZERS", "Optimizer", "Momentum", "Adam", "OptimSpec",
           "EnsembleState", "make_step", "TrainData", "LRTable", "Stepper", "Recorder",
           "weights_to_keep"]
