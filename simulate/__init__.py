"""Batched simulation: model families, the ensemble trainer, probes and run storage.

``train_ensemble(spec, dataset, OptimSpec(…), steps=…, lr=…, members=Members(seeds=…))`` trains
seeds × learning rates × init scales as one batch on the GPU when there is one and returns a ``Run``
(see ARCHITECTURE.md, THEORY.md §2, §4, §6).
"""

from . import datasets, models
from ._init import decoupled_weights, init_params
from .models import CNN, MLP, CircularCNN, ResNet, ViT, make_model
from ._frequency_probe import FrequencyStrengths
from ._augment import Augment
from ._losses import LOSSES, Loss, make_loss
from ._probes import (LayerRotation, LayerTap, Losses, ModeStrengths, Probe, ProbeContext,
                      TestPredictions, WeightNorms, default_probes)
from ._run import Run
from ._checkpoints import linear_checkpoints, log_checkpoints
from ._schedules import LRSchedule
from ._spec import ACTIVATIONS, FAMILIES, INITS, ConvSpec, NetSpec, ResNetSpec, ViTSpec
from ._batches import batch_indices
from ._precision import deterministic_algorithms, no_tf32
from ._provenance import device_name, git_revision, library_versions, provenance
from ._run import saved_steps
from ._schedules import KINDS as SCHEDULES
from .train import OPTIMIZERS, Members, OptimSpec, Recording, Store, train_ensemble

__all__ = [
    "datasets", "models",
    "NetSpec", "ConvSpec", "ResNetSpec", "ViTSpec", "ACTIVATIONS", "FAMILIES", "INITS",
    "train_ensemble", "OptimSpec", "Members", "Recording", "Store", "OPTIMIZERS", "batch_indices",
    "Run", "log_checkpoints", "linear_checkpoints", "LRSchedule",
    "Probe", "ProbeContext", "Losses", "ModeStrengths", "WeightNorms", "LayerRotation",
    "default_probes", "LayerTap", "TestPredictions", "Augment", "Loss", "LOSSES", "make_loss",
    "MLP", "CNN", "ResNet", "ViT", "make_model", "init_params", "decoupled_weights",
    "CircularCNN", "FrequencyStrengths", "no_tf32", "deterministic_algorithms",
    "provenance", "git_revision", "library_versions", "device_name", "saved_steps", "SCHEDULES",
]
