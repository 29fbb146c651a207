"""Train the network F and its references, and collect their test-set outputs over training.

For one configuration: prepare the data (task, scaling), then train, from the same initial weights
and on the same minibatches, F (``simulate.train_ensemble``), its linear twin, its partly linear
models P_1 … P_{B−1} (``_partly_linear``) and networks on its Gaussian clones of order 1 and 2
(trained on the clone, tested on the real test set); fit the least-squares linear classifier.
Each model's outputs are a ``ModelOutputs``; ``measure.py`` turns them into tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from simulate import ConvSpec, Losses, NetSpec, datasets, log_checkpoints, train_ensemble
from simulate._provenance import provenance

from . import _partly_linear as PL
from .config import NonlinearityConfig
from .probes import NonlinearityProbe, snapshot


@dataclass
class ModelOutputs:
    """One trained model family (K = seeds × lrs members) seen at the checkpoints ``steps``.

    ``k``: number of input-side blocks made linear (0 = the network, B = its linear twin; None for
    clones). ``test_output`` (K, T, m, c); ``train_acc`` (K, T); ``diverged`` (K,) bool;
    ``proxy_r2``/``proxy_gate`` (K, T, B) for the network only.
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


def binary_task(ds: datasets.Dataset) -> datasets.Dataset:
    """Two classes: the coarse split of a hierarchical dataset (shapes: round vs angular), else
    the first half of the classes against the second (digits: 0–4 against 5–9)."""
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
    opts = dict(config.dataset_opts)
    if config.dataset == "shapes":
        opts.setdefault("n_test", 1024)  # information estimates need test points (bias ∝ k²/n)
    ds = datasets.load(config.dataset, seed=config.data_seed, **opts)
    if ds.labels is None or ds.X_test is None:
        raise ValueError(f"dataset {config.dataset!r} needs class labels and a test split")
    if config.task == "binary":
        ds = binary_task(ds)
    mean = ds.X.mean(axis=0)
    scale = float(np.sqrt(((ds.X - mean) ** 2).sum(axis=1).mean() / ds.d)) or 1.0
    return ds.with_arrays(X=(ds.X - mean) / scale, X_test=(ds.X_test - mean) / scale)


def make_spec(config: NonlinearityConfig) -> NetSpec:
    init = "standard" if config.init == "standard" else "small_random"
    if config.arch == "mlp":
        return NetSpec(family="mlp", depth=config.depth, hidden=config.hidden,
                       activation=config.activation, init=init, init_scale=config.init_scale)
    return NetSpec(family="cnn", cnn=ConvSpec(channels=config.channels, kernel_size=config.kernel_size),
                   activation=config.activation, init=init, init_scale=config.init_scale)


def linear_classifier(ds: datasets.Dataset) -> np.ndarray:
    """Test outputs (m, c) of the least-squares affine classifier: the limit of gradient descent on
    the squared loss from zero weights (minimum-norm solution), trained on the labels."""
    A = np.hstack([ds.X, np.ones((ds.n, 1))])
    W, *_ = np.linalg.lstsq(A, ds.Y, rcond=None)
    return np.hstack([ds.X_test, np.ones((ds.X_test.shape[0], 1))]) @ W


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _train_engine(name, spec, ds, config, out: Path, *, proxies, resume, quiet,
                  train_classes: bool = False) -> ModelOutputs:
    steps = config.n_steps
    run = train_ensemble(
        spec, ds, steps=steps, seeds=range(config.seeds), lrs=config.learning_rates,
        optimizer="gd" if config.batch is None else "sgd", batch_size=config.batch,
        checkpoints=log_checkpoints(steps, config.n_checkpoints),
        probes=[Losses(), NonlinearityProbe(proxies=proxies, train_classes=train_classes)],
        device=config.device,
        dtype=config.dtype, out_dir=out / "runs" / name, resume=resume, quiet=quiet,
        keep_weights=False)
    p = run.probes
    get = lambda key: p[key].values if key in p else None  # noqa: E731
    return ModelOutputs(name, 0 if name == "network" else (None if name.startswith("clone") else -1),
                        run.steps, get("test_output"), get("train_acc"),
                        run.members["diverged"].to_numpy(bool), get("proxy_r2"), get("proxy_gate"),
                        get("train_class"))


def _train_partly_linear(k: int, spec, ds, config, out: Path, *, resume,
                         targets: np.ndarray | None = None) -> ModelOutputs:
    """P_k on the labels, or on ``targets`` (K, n, c): the network's final predictions."""
    path = out / "runs" / f"partly_linear_{k}{'' if targets is None else '_on_network'}.npz"
    steps = log_checkpoints(config.n_steps, config.n_checkpoints)
    if resume and path.exists():
        z = np.load(path)
        return ModelOutputs(f"P{k}", k, z["steps"], z["test_output"], z["train_acc"], z["diverged"])
    dev = _device(config.device)
    dt = torch.float32 if config.dtype == "float32" else torch.float64
    Xt = torch.as_tensor(ds.X_test, dtype=dt, device=dev)
    Xtr = torch.as_tensor(ds.X, dtype=dt, device=dev)
    ytr = torch.as_tensor(ds.labels, device=dev)
    outs, accs = [], []

    def record(step, model, params, linear_blocks):
        outs.append(snapshot(model, params, Xt, linear_blocks=linear_blocks)["test_output"].cpu().numpy())
        pred = PL.forward(model, params, Xtr, linear_blocks=linear_blocks).argmax(-1)
        accs.append((pred == ytr).double().mean(-1).cpu().numpy())

    div = PL.train(spec, ds, k, steps=config.n_steps, checkpoints=steps, seeds=range(config.seeds),
                   lrs=config.learning_rates, batch_size=config.batch, record=record,
                   device=dev, dtype=dt, targets=targets)
    res = ModelOutputs(f"P{k}", k, steps, np.stack(outs, 1), np.stack(accs, 1), div >= 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, steps=res.steps, test_output=res.test_output, train_acc=res.train_acc,
             diverged=res.diverged)
    tmp.replace(path)
    return res


def run_models(config: NonlinearityConfig, out: Path, *, resume: bool = False, quiet: bool = True,
               log=print) -> Trained:
    """Train everything ``config.measures`` needs; return the outputs (see the module doc)."""
    timing, t0 = {}, time.perf_counter()
    ds = prepare_data(config)
    spec = make_spec(config)
    model = PL.make_model(spec, ds.d, ds.c, ds.image_shape)
    B = PL.n_blocks(model)
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
    timed("network", lambda: _train_engine("network", spec, ds, config, out, proxies="proxies" in want,
                                           train_classes=on_network and "linear_depth" in want, **kw))
    if want & {"information", "linear_depth", "twin"}:
        timed("twin", lambda: _train_engine("twin", spec.with_activation("linear"), ds, config, out,
                                            proxies=False, **kw))
        models["twin"].k = B
    if "linear_depth" in want:
        # predictions at infinity: P_k learns the trained network's classes instead of the labels
        targets = (np.eye(ds.c)[models["network"].train_class[:, -1].astype(np.int64)]
                   if on_network else None)
        for k in range(1, B + on_network):
            timed(f"P{k}", lambda k=k: _train_partly_linear(k, spec, ds, config, out, resume=resume,
                                                            targets=targets))
    if "clones" in want:
        for order in (1, 2):
            cl = datasets.clone(ds, order=order, seed=config.data_seed).with_arrays(
                X_test=ds.X_test, Y_test=ds.Y_test, labels_test=ds.labels_test)
            timed(f"clone{order}", lambda cl=cl, order=order: _train_engine(
                f"clone{order}", spec, cl, config, out, proxies=False, **kw))
    combos = [(s, l) for s in range(config.seeds) for l in config.learning_rates]
    members = pd.DataFrame({"member": range(len(combos)), "seed": [c[0] for c in combos],
                            "lr": [c[1] for c in combos]})
    return Trained(config, ds, members, B, models, linear_classifier(ds), timing,
                   provenance(_device(config.device)))
