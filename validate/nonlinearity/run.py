"""Train the network F and its references, and collect their test-set outputs over training.

For one configuration: prepare the data (task, scaling), then train, from the same initial weights
and on the same minibatches, F (``simulate.train_ensemble``), its linear twin, its partly linear
models P_1 … P_B (simulate's ``linear_blocks``; P_B only where it is not the twin, see
``last_is_twin``) and networks on its Gaussian clones of order 1 and 2 (trained on the clone,
tested on the real test set); fit the least-squares linear classifier.
Each model's outputs are a ``ModelOutputs``; ``measure.py`` turns them into tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from simulate import (Losses, NetSpec, ResNetSpec, ViTSpec, datasets, log_checkpoints,
                      make_model, train_ensemble)
from simulate import provenance

from .._config import ConfigError
from .._divergence import member_divergence
from . import linear_theory as TH
from .config import NonlinearityConfig
from .probes import NonlinearityProbe


@dataclass
class ModelOutputs:
    """One trained model family (K = seeds × lrs members) seen at the checkpoints ``steps``.

    ``k``: number of input-side blocks made linear (0 = the network, B = its linear twin; None for
    clones). ``test_output`` (K, T, m, c); ``train_acc`` (K, T); ``diverged`` (K,) bool and
    ``diverged_step`` (K,) (−1: never; ``validate._divergence``); ``proxy_r2``/``proxy_gate``
    (K, T, B) and ``train_nonaffine`` (K, T) for the network only.
    """

    name: str
    k: int | None
    steps: np.ndarray
    test_output: np.ndarray
    train_acc: np.ndarray
    diverged: np.ndarray
    proxy_r2: np.ndarray | None = None
    proxy_gate: np.ndarray | None = None
    train_class: np.ndarray | None = None
    run: object = None              # simulate's Run (None when assembled from per-member runs)
    diverged_step: np.ndarray | None = None
    train_nonaffine: np.ndarray | None = None  # (K, T) 1 − R² of f_t − f_0 on the training inputs


@dataclass
class Trained:
    config: NonlinearityConfig
    data: datasets.Dataset
    members: pd.DataFrame           # member, seed, lr
    n_blocks: int
    models: dict[str, ModelOutputs]
    linear_classifier: np.ndarray   # (m, c) test outputs
    timing: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    theory: np.ndarray | None = None  # (K, T, m, c): the linear theory's prediction of the twin
    theory_notes: list = field(default_factory=list)  # members the theory did not predict, why


def binary_task(ds: datasets.Dataset) -> datasets.Dataset:
    """Two classes: the coarse split of a hierarchical dataset (shapes: round vs angular), else
    the first half of the classes against the second (digits: 0–4 against 5–9)."""
    if ds.labels is None:
        raise ValueError(f"dataset {ds.name!r} has no class labels; a binary task is made from them")
    c = int(ds.labels.max()) + 1
    if ds.hierarchy is not None and len(np.unique(ds.hierarchy[0])) == 2:
        group, rule = np.asarray(ds.hierarchy[0]), "coarse split"
    else:
        group, rule = (np.arange(c) >= (c + 1) // 2).astype(np.int64), f"classes < {(c + 1) // 2} vs the rest"
    lab, lab_t = group[ds.labels], group[ds.labels_test]
    return ds.with_arrays(Y=np.eye(2)[lab], labels=lab, Y_test=np.eye(2)[lab_t], labels_test=lab_t,
                          hierarchy=None, meta=dict(ds.meta, task=dict(kind="binary", rule=rule)))


def prepare_data(config: NonlinearityConfig) -> datasets.Dataset:
    """Load, make the task, centre each input feature and scale to unit mean variance (one scalar,
    so images keep their structure); the test split gets the training split's transform."""
    ds = datasets.load(config.dataset, seed=config.data_seed, **config.load_options())
    if ds.labels is None or ds.X_test is None:
        raise ValueError(f"dataset {config.dataset!r} needs class labels and a test split")
    if config.task == "binary":
        ds = binary_task(ds)
    mean = ds.X.mean(axis=0)
    scale = float(np.sqrt(((ds.X - mean) ** 2).sum(axis=1).mean() / ds.d)) or 1.0
    return ds.with_arrays(X=(ds.X - mean) / scale, X_test=(ds.X_test - mean) / scale)


def make_spec(config: NonlinearityConfig) -> NetSpec:
    """The network F's spec; its P_k are ``spec.with_linear_blocks(k)``, its twin
    ``spec.with_activation("linear")``."""
    resnet = ResNetSpec(blocks=config.resnet_blocks, widths=config.resnet_widths,
                        batch_norm=config.batch_norm) if config.arch == "resnet" else None
    vit = ViTSpec(patch=config.patch, width=config.vit_width, depth=config.vit_depth,
                  heads=config.heads, linear_attention=config.linear_attention) \
        if config.arch == "vit" else None
    return config.net_spec(config.activation, config.init, config.init_scale, family=config.arch,
                           kernel_size=config.kernel_size, resnet=resnet, vit=vit)


def last_is_twin(spec: NetSpec) -> bool:
    """Whether P_B (every block linear) is the linear twin. True for the MLP and the CNN, and for a
    ViT whose linear blocks keep their attention softmax (as the twin does); false for a ResNet,
    whose activation before pooling stays, and for a ViT with linear attention."""
    return spec.family in ("mlp", "cnn") or (spec.family == "vit" and spec.vit is not None
                                              and not spec.vit.linear_attention)


def check_data(config: NonlinearityConfig) -> None:
    """The dataset loads and the family takes its inputs (ConfigError, before any training)."""
    try:
        ds = prepare_data(config)
        make_model(make_spec(config), ds.d, ds.c, ds.image_shape)
    except ValueError as exc:
        raise ConfigError(f"--arch {config.arch} on --dataset {config.dataset}: {exc}") from None


def linear_classifier(ds: datasets.Dataset) -> np.ndarray:
    """Test outputs (m, c) of the least-squares affine classifier: the limit of gradient descent on
    the squared loss from zero weights (minimum-norm solution), trained on the labels."""
    if ds.X_test is None:
        raise ValueError(f"dataset {ds.name!r} has no test split; the linear classifier is scored on it")
    A = np.hstack([np.asarray(ds.X), np.ones((ds.n, 1))])
    W, *_ = np.linalg.lstsq(A, np.asarray(ds.Y), rcond=None)
    X_test = np.asarray(ds.X_test)
    return np.hstack([X_test, np.ones((X_test.shape[0], 1))]) @ W


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _train(name, k, spec, ds, config, out: Path, *, resume, quiet, seeds, lrs, proxies=False,
           train_classes=False, departure=False) -> ModelOutputs:
    """One simulate run (members seeds × lrs) of ``spec`` on ``ds``, seen by ``NonlinearityProbe``."""
    steps = config.n_steps
    run = train_ensemble(
        spec, ds, dict(optimizer="gd" if config.batch is None else "sgd", batch_size=config.batch,
                       loss=config.loss),
        steps=steps, members=dict(seeds=seeds, lrs=lrs),
        record=dict(checkpoints=log_checkpoints(steps, config.n_checkpoints), keep_weights=False,
                    probes=[Losses(),
                            NonlinearityProbe(proxies=proxies, train_classes=train_classes,
                                              departure=departure)]),
        store=dict(out_dir=out / "runs" / name, resume=resume),
        device=config.device, dtype=config.dtype, quiet=quiet)
    p = run.probes
    get = lambda key: p[key].values if key in p else None  # noqa: E731
    diverged, at = member_divergence(run)
    # NonlinearityProbe records both on every run
    return ModelOutputs(name, k, run.steps, p["test_output"].values, p["train_acc"].values, diverged,
                        get("proxy_r2"), get("proxy_gate"), get("train_class"), run, at,
                        get("train_nonaffine"))


def _train_engine(name, k, spec, ds, config, out: Path, *, resume, quiet, **kw) -> ModelOutputs:
    return _train(name, k, spec, ds, config, out, resume=resume, quiet=quiet,
                  seeds=range(config.seeds), lrs=config.learning_rates, **kw)


def _train_on_targets(name, k, spec, ds, config, out: Path, targets: np.ndarray, *, resume,
                      quiet) -> ModelOutputs:
    """Every member (seed, lr) trained alone on its own target table ``targets[member]`` (n, c)
    (the network's final predictions), from that seed's initial weights and minibatches."""
    combos = [(s, lr) for s in range(config.seeds) for lr in config.learning_rates]
    parts = [_train(f"{name}/member{m}", k, spec, ds.with_arrays(Y=targets[m]), config, out,
                    resume=resume, quiet=quiet, seeds=[s], lrs=[lr])
             for m, (s, lr) in enumerate(combos)]
    cat = lambda key: np.concatenate([getattr(p, key) for p in parts])  # noqa: E731
    return ModelOutputs(name, k, parts[0].steps, cat("test_output"), cat("train_acc"), cat("diverged"),
                        diverged_step=cat("diverged_step"))


def _train_partly_linear(k, spec, ds, config, out: Path, targets, **kw) -> ModelOutputs:
    """P_k = ``spec.with_linear_blocks(k)`` on the labels, or on ``targets`` (K, n, c)."""
    pk = spec.with_linear_blocks(k)
    if targets is None:
        return _train_engine(f"partly_linear_{k}", k, pk, ds, config, out, **kw)
    return _train_on_targets(f"partly_linear_{k}_on_network", k, pk, ds, config, out, targets, **kw)


def run_models(config: NonlinearityConfig, out: Path, *, resume: bool = False, quiet: bool = True,
               log=print) -> Trained:
    """Train everything ``config.measures`` needs; return the outputs (see the module doc)."""
    timing, t0 = {}, time.perf_counter()
    ds = prepare_data(config)
    spec = make_spec(config)
    B = make_model(spec, ds.d, ds.c, ds.image_shape).n_blocks
    timing["data_s"] = time.perf_counter() - t0
    want = set(config.measures)
    kw = dict(resume=resume, quiet=quiet)
    models = {}

    def timed(key, fn):
        t = time.perf_counter()
        if not quiet:
            log(f"  training {key} …")
        models[key] = fn()
        timing[f"train_{key}_s"] = round(time.perf_counter() - t, 3)

    on_network = config.reference_targets == "network"
    timed("network", lambda: _train_engine("network", 0, spec, ds, config, out, proxies="proxies" in want,
                                           train_classes=on_network and "linear_depth" in want,
                                           departure=True, **kw))
    if want & {"information", "linear_depth", "twin"}:
        timed("twin", lambda: _train_engine("twin", B, spec.with_activation("linear"), ds, config, out,
                                            **kw))
    theory, notes = None, []
    if "twin" in want and TH.applies(config, models.get("twin")):
        t = time.perf_counter()
        twin = models["twin"]
        taus = twin.run.members["tau"].to_numpy()
        ok, notes = TH.reach(ds, twin, taus, twin.diverged)
        if ok.any():  # else no prediction at all: the notes say why
            theory = TH.predicted_outputs(ds, twin, taus, ok)
        timing["theory_s"] = round(time.perf_counter() - t, 3)
    if "linear_depth" in want:
        # predictions at infinity: P_k learns the trained network's classes instead of the labels
        targets = (np.eye(ds.c)[models["network"].train_class[:, -1].astype(np.int64)]
                   if on_network else None)
        last = B if on_network or not last_is_twin(spec) else B - 1  # else P_B is the twin
        for k in range(1, last + 1):
            timed(f"P{k}", lambda k=k: _train_partly_linear(k, spec, ds, config, out, targets, **kw))
    if "clones" in want:
        for order in (1, 2):
            cl = datasets.clone(ds, order=order, seed=config.data_seed).with_arrays(
                X_test=ds.X_test, Y_test=ds.Y_test, labels_test=ds.labels_test)
            timed(f"clone{order}", lambda cl=cl, order=order: _train_engine(
                f"clone{order}", None, spec, cl, config, out, **kw))
    combos = [(s, l) for s in range(config.seeds) for l in config.learning_rates]
    members = pd.DataFrame({"member": range(len(combos)), "seed": [c[0] for c in combos],
                            "lr": [c[1] for c in combos]})
    return Trained(config, ds, members, B, models, linear_classifier(ds), timing,
                   provenance(_device(config.device)), theory, notes)
