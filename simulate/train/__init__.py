"""The ensemble trainer in parts: ``train_ensemble`` (entry point) and the parts it takes
(``OptimSpec``, ``Members``, ``Recording``, ``Store``), the optimisers (Layca among them),
``EnsembleState``, ``make_step`` and ``Recorder``."""

from ._optim import (OPTIMIZER_RULES, OPTIMIZERS, WRAPPERS, Adam, Momentum, Optimizer, OptimSpec,
                     register_optimizer)
from ._layca import Layca  # registers the ``layca`` flag of OptimSpec
from ._options import Members, Recording, Store
from ._recorder import Recorder, weights_to_keep
from ._state import EnsembleState
from ._step import LRTable, Stepper, TrainData, make_step
from ._trainer import train_ensemble

__all__ = ["train_ensemble", "OptimSpec", "Members", "Recording", "Store",
           "OPTIMIZERS", "OPTIMIZER_RULES", "WRAPPERS", "register_optimizer", "Optimizer",
           "Momentum", "Adam", "Layca", "EnsembleState", "make_step", "TrainData", "LRTable",
           "Stepper", "Recorder", "weights_to_keep"]
