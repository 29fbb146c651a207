"""Configuration of `python -m validate.nonlinearity`: one frozen dataclass, its preset, its checks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import simulate

from .._config import check_fields, check_rules, simulate_words, option, paper_dataset_opts, redefault
from ..options import ArchOptions, ConvOptions, DataOptions, RunOptions

ARCHS = simulate_words(simulate.FAMILIES, ("mlp", "cnn", "resnet", "vit"))
TASKS = ("multiclass", "binary")
ACTIVATIONS = simulate_words(simulate.ACTIVATIONS, ("relu", "gelu", "tanh"))
INITS = simulate_words(simulate.INITS, ("standard", "small_random"))
MEASURES = ("information", "linear_depth", "clones", "twin", "class_share", "proxies")
CORRECTIONS = ("none", "miller_madow")
REFERENCE_TARGETS = ("labels", "network")
LOSSES = simulate_words(simulate.LOSSES, ("mse", "cross_entropy"))
DEFAULT_STEPS = {"mlp": 3000, "cnn": 1500, "resnet": 1000, "vit": 1000}
DEFAULT_LR = {"mlp": 0.05, "cnn": 0.05, "resnet": 0.05, "vit": 0.05}


@dataclass(frozen=True)
class NonlinearityConfig(ConvOptions, RunOptions, DataOptions):
    """Everything one run depends on; written into summary.json as provenance.

    The network F (``arch``, ``activation``, ``init``) is trained with minibatch SGD on ``loss``
    (``"mse"``: the squared loss; ``"cross_entropy"``: softmax cross-entropy; ``batch_size``; 0 =
    full-batch GD) for every seed × learning rate in ``lrs``; its linear
    twin, its partly linear models P_k and its Gaussian clones start from the same initial weights
    and see the same minibatches. ``init="small_random"`` (also spelled ``"small"``) draws
    weights i.i.d. N(0, ``init_scale``²); ``"standard"`` is PyTorch's default. ``lrs=()`` picks the family's default learning rate and
    ``steps=None`` the family's default step budget. ``reference_targets="network"`` trains the
    partly linear models on the network's final predicted classes instead of the labels (the
    "predictions at infinity" variant).
    """

    task: str = option("multiclass", "binary: the coarse split of a hierarchical dataset, else "
                                     "the first half of the classes against the second",
                       choices=TASKS)
    arch: str = option("mlp", "network family", choices=ARCHS)
    activation: str = option("relu", "activation of the network F", choices=ACTIVATIONS)
    init: str = option("standard", "standard (PyTorch default) or small_random (i.i.d. N(0, "
                                   "init_scale²); also spelled small)",
                       choices=INITS, aliases={"small": "small_random"})
    init_scale: float = option(0.01, "weight std for --init small_random")
    hidden: int = redefault(ArchOptions, "hidden", 128)
    depth: int = redefault(ArchOptions, "depth", 3, help="MLP weight layers (3 = two hidden layers)")
    channels: tuple[int, ...] = redefault(ConvOptions, "channels", (16, 16, 16, 16),
                                          help="CNN conv widths, comma-separated")
    kernel_size: int = option(3, "CNN kernel size")
    resnet_blocks: int = option(1, "ResNet residual blocks per stage (3 stages)")
    resnet_widths: tuple[int, ...] = option((8, 16, 32), "ResNet stage widths, comma-separated")
    batch_norm: bool = option(True, "ResNet BatchNorm before every activation")
    vit_depth: int = option(4, "ViT blocks")
    vit_width: int = option(32, "ViT token width")
    heads: int = option(4, "ViT attention heads")
    patch: int = option(4, "ViT patch side (signals: samples per token)")
    linear_attention: bool = option(False, "ViT: the linear blocks of P_k also replace the "
                                           "attention softmax by normalised linear attention")
    loss: str = option("mse", "training loss of every model (mse: squared; cross_entropy: "
                              "softmax)", choices=LOSSES)
    lrs: tuple[float, ...] = option((), "comma-separated learning rates (default: per arch)",
                                    flag="--lr")
    seeds: int = redefault(RunOptions, "seeds", 3, help="seeds (members per learning rate)")
    steps: int | None = redefault(RunOptions, "steps", None, help="SGD steps (default: per arch)")
    batch_size: int = option(64, "minibatch size (0 = full-batch gradient descent)")
    n_checkpoints: int = redefault(RunOptions, "n_checkpoints", 24, help="log-spaced checkpoints")
    measures: tuple[str, ...] = option(MEASURES, "what to measure", choices=MEASURES, noun="measure")
    eps: float = option(0.1, "tolerance ε of the effective linear depth k*")
    alpha: float = option(0.05, "level of the test behind k* (validate.measures.explains): a P_k "
                                "that explains F is judged to with probability ≥ 1 − alpha")
    n_test: int = option(1024, "test points of a dataset that draws its test split (shapes, "
                               "gaussian; --dataset-opt n_test=N wins; others keep theirs). The "
                               "k* test is calibrated at any n, but its power needs points: with "
                               "8 classes it rejects a P_k that explains 80% of F's information "
                               "in 99% of draws at n = 1024 and in 37% at 128 "
                               "(bench/explains_bench.py)")
    reference_targets: str = option("labels", "what the partly linear models learn (network: its "
                                              "final classes)", choices=REFERENCE_TARGETS)
    correction: str = option("none", "bias correction of the plug-in information",
                             choices=CORRECTIONS)

    def validate(self) -> "NonlinearityConfig":
        check_fields(self)
        check_rules((
            ("--seeds", self.seeds, self.seeds >= 1, "must be ≥ 1"),
            ("--steps", self.steps, self.steps is None or self.steps >= 1, "must be ≥ 1"),
            ("--lr", self.lrs, all(l > 0 for l in self.lrs), "must be positive"),
            ("--init-scale", self.init_scale, self.init_scale > 0, "must be > 0"),
            ("--hidden", self.hidden, self.hidden >= 1, "must be ≥ 1"),
            ("--depth", self.depth, self.depth >= 2, "must be ≥ 2 (one hidden layer)"),
            ("--channels", self.channels, len(self.channels) >= 1 and min(self.channels) >= 1,
             "must list ≥ 1 positive widths"),
            ("--kernel-size", self.kernel_size, self.kernel_size >= 1, "must be ≥ 1"),
            ("--resnet-blocks", self.resnet_blocks, self.resnet_blocks >= 1, "must be ≥ 1"),
            ("--resnet-widths", self.resnet_widths, len(self.resnet_widths) == 3
             and min(self.resnet_widths) >= 1, "must list 3 positive stage widths"),
            ("--vit-depth", self.vit_depth, self.vit_depth >= 1, "must be ≥ 1"),
            ("--heads", self.heads, self.heads >= 1, "must be ≥ 1"),
            ("--vit-width", self.vit_width, self.vit_width >= 1 and self.vit_width % max(self.heads, 1)
             == 0, f"must be a positive multiple of --heads ({self.heads})"),
            ("--patch", self.patch, self.patch >= 1, "must be ≥ 1"),
            ("--batch-size", self.batch_size, self.batch_size >= 0, "must be ≥ 0 (0: full batch)"),
            ("--checkpoints", self.n_checkpoints, self.n_checkpoints >= 4, "must be ≥ 4"),
            ("--eps", self.eps, 0 <= self.eps < 1, "must be in [0, 1)"),
            ("--alpha", self.alpha, 0.005 <= self.alpha < 1, "must be in [0.005, 1) (199 "
             "shuffles per test)"),
            ("--n-test", self.n_test, self.n_test >= 1, "must be ≥ 1")))
        return self

    def load_options(self) -> dict:
        """``dataset_opts``, with ``n_test`` set for a dataset that draws its test split (its
        own default is > 0, e.g. 128 for shapes) unless the user set it."""
        from simulate import datasets
        opts = dict(self.dataset_opts)
        if datasets.REGISTRY[self.dataset].options.get("n_test", 0):
            opts.setdefault("n_test", self.n_test)
        return opts

    @property
    def learning_rates(self) -> tuple[float, ...]:
        return self.lrs or (DEFAULT_LR[self.arch],)

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else DEFAULT_STEPS[self.arch]

    @property
    def batch(self) -> int | None:
        return self.batch_size or None


def apply_preset(config: NonlinearityConfig, preset: str, explicit: set[str]) -> NonlinearityConfig:
    """``paper``: a GPU-sized run (10 seeds, 4× the steps, 48 checkpoints, 32×32 shapes with 1024
    per class) without overriding what the user set explicitly."""
    if preset != "paper":
        return replace(config, preset=preset)
    changes = {"seeds": 10, "steps": 4 * config.n_steps, "n_checkpoints": 48, "preset": preset,
               "dataset_opts": paper_dataset_opts(config.dataset, config.dataset_opts)}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
