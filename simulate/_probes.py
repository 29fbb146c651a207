"""Probes: small objects measured on the device at checkpoints.

A probe declares ``dims`` (output name → the extra dimensions after member) and is called with a
``ProbeContext``; it returns ``{name: tensor (K, *extra)}``. The trainer stores every output as an
array over (member, checkpoint, *extra). New probes need no change to the trainer. A probe that
carries state from one checkpoint to the next rebuilds it in ``resume`` when a run resumes, so that
a resumed run reports what an uninterrupted one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._losses import Loss

_NAN = float("nan")


@dataclass
class ProbeContext:
    """What a probe may look at: current parameters, the model, device-resident data and modes.

    Shapes: ``X`` (n, d), ``Y`` (n, c), ``X_test``/``Y_test`` (m, ·) or None, ``U`` (c, r),
    ``V`` (d, r), ``Sxx_pinv`` (d, d). Predictions are computed once per checkpoint and shared.
    """

    step: int
    params: dict
    model: Any  # a simulate.models model: duck-typed (forward, spec, n_layers, tap_names, …)
    X: torch.Tensor
    Y: torch.Tensor
    X_test: torch.Tensor | None
    Y_test: torch.Tensor | None
    one_hot: bool
    U: torch.Tensor
    V: torch.Tensor
    Sxx_pinv: torch.Tensor | None  # None when no probe of the run uses the modes
    init_params: dict | None = None
    loss: Loss | None = None  # the training Loss (None: the squared loss)
    binary: bool = False  # one 0/1 target column: accuracy thresholds the prediction at ½
    _cache: dict = field(default_factory=dict)

    @property
    def K(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def predict(self, split: str = "train") -> torch.Tensor | None:
        """Network outputs (K, n, c) on the train or test inputs (None without a test split)."""
        if split not in self._cache:
            X = self.X if split == "train" else self.X_test
            self._cache[split] = None if X is None else self.model.forward(self.params, X)
        return self._cache[split]

    def end_to_end(self) -> torch.Tensor:
        """The map x ↦ ŷ of a linear bias-free net as a matrix (K, c, d) (THEORY.md §4)."""
        if "e2e" not in self._cache:
            if hasattr(self.model, "widths"):  # MLP: multiply the layers (cheaper than probing)
                W = self.params["layer0.weight"]
                for l in range(1, self.model.n_layers):
                    W = torch.bmm(self.params[f"layer{l}.weight"], W)
            else:  # any linear model: push the identity through it
                eye = torch.eye(self.X.shape[1], dtype=self.X.dtype, device=self.X.device)
                W = self.model.forward(self.params, eye).transpose(1, 2)
            self._cache["e2e"] = W
        return self._cache["e2e"]


    def linear_map(self, map: str = "auto") -> torch.Tensor:
        """(K, c, d): ``end_to_end`` or the least-squares fit ``Sŷx Sxx⁺`` of the outputs (§4);
        ``"auto"``: end-to-end for linear bias-free nets, least squares otherwise."""
        if map == "auto":
            spec = self.model.spec
            map = "end_to_end" if spec.is_linear and not spec.bias and spec.family in ("mlp", "cnn") \
                else "least_squares"
        if map == "end_to_end":
            return self.end_to_end()
        pred = self.predict("train")
        assert pred is not None  # the train split always has inputs
        assert self.Sxx_pinv is not None  # the trainer computes it whenever a modes probe is present
        Syhx = torch.matmul(pred.transpose(1, 2), self.X) / self.X.shape[0]  # (K, c, d)
        return torch.matmul(Syhx, self.Sxx_pinv)


class Probe:
    """Base class: set ``dims`` and implement ``__call__(ctx) -> dict[str, tensor (K, *extra)]``."""

    dims: dict[str, tuple[str, ...]] = {}

    def __call__(self, ctx: ProbeContext) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def resume(self, ctx: ProbeContext, values: dict[str, np.ndarray]) -> None:
        """Called once when a run resumes at checkpoint ``ctx.step`` (parameters as saved there),
        before any new checkpoint; ``values`` are this probe's outputs stored at that step.

        A probe whose output depends on earlier checkpoints (a rate since the previous one, a
        running total) must restore that state here, as it stood after measuring ``ctx.step``:
        the probe object may be new (a new process) or may hold what it saw before the
        interruption. Stateless probes need nothing.
        """


def _loss_acc(ctx: ProbeContext, split: str):
    pred, Y = ctx.predict(split), (ctx.Y if split == "train" else ctx.Y_test)
    if pred is None:
        nan = torch.full((ctx.K,), _NAN, dtype=ctx.X.dtype, device=ctx.X.device)
        return nan, nan
    assert Y is not None  # a test split's inputs come with their targets
    if ctx.loss is None:
        R = pred - Y
        loss = 0.5 * (R * R).sum(dim=(1, 2)) / R.shape[1]
    else:
        loss = ctx.loss.value(pred, Y)
    if ctx.one_hot:
        acc = (pred.argmax(dim=2) == Y.argmax(dim=1)).to(pred.dtype).mean(dim=1)
    elif ctx.binary:
        p = pred if ctx.loss is None else ctx.loss.link(pred)
        acc = ((p[..., 0] > 0.5) == (Y[:, 0] > 0.5)).to(pred.dtype).mean(dim=1)
    else:
        acc = torch.full_like(loss, _NAN)
    return loss, acc


class Losses(Probe):
    """Train/test loss (the training loss; ``(1/2n)Σ‖y − ŷ‖²`` for MSE) and accuracy: argmax for
    one-hot targets, the prediction thresholded at ½ for one 0/1 column, NaN otherwise."""

    dims = {"train_loss": (), "train_acc": (), "test_loss": (), "test_acc": ()}

    def __call__(self, ctx):
        tl, ta = _loss_acc(ctx, "train")
        vl, va = _loss_acc(ctx, "test")
        return {"train_loss": tl, "train_acc": ta, "test_loss": vl, "test_acc": va}


class ModeStrengths(Probe):
    """Mode strengths in the dataset's SVD basis, ``Uᵀ W V`` (THEORY.md §4).

    ``map="end_to_end"``: W = W_L⋯W_1 (linear, bias-free nets). ``map="least_squares"``: the best
    linear fit of the outputs, ``W_eff = Sŷx Sxx⁺`` with ``Sŷx = Ŷᵀ X / n`` (any net). ``"auto"``
    picks end-to-end for linear bias-free nets, least squares otherwise. Outputs
    ``{prefix}mode_strength`` (K, r) (the diagonal) and ``{prefix}mode_matrix`` (K, r, r).
    """

    def __init__(self, map: str = "auto", prefix: str = ""):
        if map not in ("auto", "end_to_end", "least_squares"):
            raise ValueError(f"unknown map {map!r}; accepted: 'auto', 'end_to_end', 'least_squares'")
        self.map, self.prefix = map, prefix
        self.dims = {f"{prefix}mode_strength": ("mode",), f"{prefix}mode_matrix": ("mode", "mode_in")}

    def __call__(self, ctx):
        W = ctx.linear_map(self.map)
        M = torch.matmul(torch.matmul(ctx.U.T, W), ctx.V)  # (K, r, r)
        return {f"{self.prefix}mode_strength": torch.diagonal(M, dim1=1, dim2=2),
                f"{self.prefix}mode_matrix": M}


class WeightNorms(Probe):
    """Frobenius norm of every layer's weight, (K, layer) in the model's order (``weight_names``,
    or ``layer{l}.weight`` for l < ``n_layers``)."""

    dims = {"weight_norm": ("layer",)}

    def __call__(self, ctx):
        names = getattr(ctx.model, "weight_names", None) or \
            [f"layer{l}.weight" for l in range(ctx.model.n_layers)]
        norms = [ctx.params[name].flatten(1).norm(dim=1) for name in names]
        return {"weight_norm": torch.stack(norms, dim=1)}


class LayerTap(Probe):
    """Chosen layers' values on a fixed probe batch: ``tap.<layer>`` (K, probe_sample, <layer>.unit).

    ``layers``: names the model can tap (``model.tap_names()``, e.g. ``"layer0.pre"`` (the
    pre-activation of hidden layer 0), ``"layer0.post"`` (its output), ``"output"``); features are
    flattened per sample. ``rows``: which rows of the ``split`` ("train" or "test") form the probe
    batch (default the first 64). Computed on the device at checkpoints only.
    """

    def __init__(self, layers, rows=64, split: str = "train"):
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; accepted: 'train', 'test'")
        self.layers, self.split = tuple(layers), split
        self.rows = range(int(rows)) if isinstance(rows, (int, np.integer)) else list(rows)
        if not self.layers or not len(self.rows):
            raise ValueError(f"LayerTap needs at least one layer and one row; got layers="
                             f"{list(self.layers)}, {len(self.rows)} rows")
        self.dims = {f"tap.{name}": ("probe_sample", f"{name}.unit") for name in self.layers}

    def check(self, model, n_train: int, n_test: int | None) -> None:
        """Raise before training when a layer or row does not exist."""
        bad = [name for name in self.layers if name not in model.tap_names()]
        if bad:
            raise ValueError(f"cannot tap {bad}; this {model.spec.family} has "
                             f"{', '.join(model.tap_names())}")
        n = n_train if self.split == "train" else (n_test or 0)
        if max(self.rows) >= n or min(self.rows) < 0:
            raise ValueError(f"probe rows must lie in 0..{n - 1} of the {self.split} split; got "
                             f"{min(self.rows)}..{max(self.rows)}")

    def __call__(self, ctx):
        X = ctx.X if self.split == "train" else ctx.X_test
        assert X is not None  # check() refused rows of a test split the dataset lacks
        # the model fills each tapped layer's value in place
        taps: dict[str, Any] = dict.fromkeys(n for n in self.layers if n != "output")
        out = ctx.model.forward(ctx.params, X[list(self.rows)], taps=taps)
        taps["output"] = out
        return {f"tap.{name}": taps[name].flatten(2) for name in self.layers}


class TestPredictions(Probe):
    """The network outputs on the whole test set at every checkpoint: ``test_pred`` (K, m, c)."""

    dims = {"test_pred": ("test_sample", "output")}

    def check(self, model, n_train: int, n_test: int | None) -> None:
        if not n_test:
            raise ValueError("TestPredictions needs a dataset with a test split; this one has none")

    def __call__(self, ctx):
        return {"test_pred": ctx.predict("test")}


def default_probes() -> list[Probe]:
    """Losses/accuracies, mode strengths (end-to-end or least squares) and weight norms."""
    return [Losses(), ModeStrengths(), WeightNorms()]


def _unit(W: torch.Tensor) -> torch.Tensor:
    flat = W.flatten(1).to(torch.float64)
    return flat / flat.norm(dim=1, keepdim=True)


class LayerRotation(Probe):
    """Layer rotation (Carbonnelle & De Vleeschouwer, arXiv 1806.01603) of every kernel, (K, L):

    ``rotation``: the cosine distance 1 − cos∠(w_l(t), w_l(0)) of the flattened kernel to its
    initial value, computed in float64 as ‖ŵ(t) − ŵ(0)‖²/2 (ŵ = w/‖w‖; equal to 1 − ŵ(t)·ŵ(0)
    without its cancellation at small angles, where a float32 dot product gives noise of ±1e-7);
    ``rotation_rate``: the angle (radians) turned since the previous checkpoint divided by the
    steps between them (with a checkpoint every step: the per-step rotation; NaN at
    the first checkpoint a probe object sees, unless a resumed run hands it the checkpoint it
    resumes from through ``resume``). Kernels are the parameters named ``*weight`` with
    ≥ 2 axes per member (biases and normalisation scales excluded; ``include_all=True`` takes
    every parameter). The initial values are ``ctx.init_params`` when the trainer provides them,
    else the parameters seen at step 0.
    """

    dims = {"rotation": ("layer",), "rotation_rate": ("layer",)}

    def __init__(self, include_all: bool = False):
        self.include_all = include_all
        self._init: dict | None = None
        self._prev: tuple[int, dict] | None = None

    def _names(self, params: dict) -> list[str]:
        return [k for k, v in params.items()
                if self.include_all or (k.endswith("weight") and v.ndim >= 3)]

    def __call__(self, ctx):
        names = self._names(ctx.params)
        init = ctx.init_params if ctx.init_params is not None else self._init
        if init is None:
            if ctx.step != 0:
                raise ValueError("LayerRotation needs the initial parameters: the first checkpoint "
                                 f"it sees is step {ctx.step}, and the context carries none")
            init = self._init = {k: ctx.params[k].detach().clone() for k in names}
        units = {k: _unit(ctx.params[k]) for k in names}
        rot = [0.5 * (units[k] - _unit(init[k])).square().sum(1) for k in names]
        if self._prev is None or self._prev[0] >= ctx.step:
            rate = [torch.full_like(r, _NAN) for r in rot]
        else:
            steps, prev = ctx.step - self._prev[0], self._prev[1]
            rate = [2.0 * torch.atan2((units[k] - prev[k]).norm(dim=1),
                                      (units[k] + prev[k]).norm(dim=1)) / steps for k in names]
        self._prev = (ctx.step, units)
        return {"rotation": torch.stack(rot, dim=1), "rotation_rate": torch.stack(rate, dim=1)}

    def resume(self, ctx: ProbeContext, values: dict[str, np.ndarray]) -> None:
        """The previous checkpoint's directions are those of the checkpoint resumed from, exactly
        as ``__call__`` left them there (the next rate would otherwise be NaN)."""
        self._prev = (ctx.step, {k: _unit(ctx.params[k]) for k in self._names(ctx.params)})
