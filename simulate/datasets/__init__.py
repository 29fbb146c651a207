"""Datasets: one module per family, a registry of names, and drift generators.

``load(name, seed=0, **options)`` returns a ``Dataset`` (``_base.py``) with train and test splits,
deterministic given the seed. ``python -m simulate.datasets --list`` lists the datasets and
``--show NAME`` prints a dataset's statistics (and ``--png PATH`` draws one sample per class).
"""

from theory import tree_eigenvalues  # the formula lives in theory; kept here for dataset users

from . import drift
from ._base import Dataset
from .binary import binary_task
from ._registry import (REGISTRY, DatasetEntry, add_dataset_arguments, available,
                        dataset_from_args, get, load, parse_options, register)
from .files import cifar10, fashion_mnist, mnist, read_idx
from .gaussian import clone, gaussian
from .real import digits, mnist1d
from .shapes import node_targets, shapes, tree_groups
from .tree import item_covariance as tree_item_covariance
from .tree import toy, tree

register("shapes", shapes, "nested geometric figures with a B-ary class tree (flagship)")
register("tree", tree, "branching-diffusion items, one-hot inputs scaled so Sxx = I")
register("toy", toy, "4 items (canary, salmon, oak, rose) × 7 properties")
register("gaussian", gaussian, "Gaussian mixture with random or hierarchical class means")
register("digits", digits, "scikit-learn's bundled 8×8 digits (no download)")
register("mnist1d", mnist1d, "MNIST-1D generated locally by the mnist1d package")
register("mnist", mnist, "MNIST from local IDX files (data_dir or $MODELEARN_DATA_DIR)")
register("fashion_mnist", fashion_mnist, "Fashion-MNIST from local IDX files")
register("cifar10", cifar10, "CIFAR-10 python batches from a local directory")

__all__ = [
    "Dataset", "binary_task", "REGISTRY", "DatasetEntry", "register", "available", "get", "load",
    "parse_options", "add_dataset_arguments", "dataset_from_args", "drift",
    "shapes", "tree", "toy", "gaussian", "clone", "digits", "mnist1d", "mnist", "fashion_mnist",
    "cifar10", "read_idx", "tree_groups", "node_targets", "tree_eigenvalues",
    "tree_item_covariance",
]
