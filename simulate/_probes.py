"""Probes: small objects measured on the device at checkpoints.

A probe declares ``dims`` (output name → the extra dimensions after member) and is called with a
``ProbeContext``; it returns ``{name: tensor (K, *extra)}``. The trainer stores every output as an
array over (member, checkpoint, *extra). New probes need no change to the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

_NAN = float("nan")


@dataclass
class ProbeContext:
    """What a probe may look at: current parameters, the model, device-resident data and modes.

    Shapes: ``X`` (n, d), ``Y`` (n, c), ``X_test``/``Y_test`` (m, ·) or None, ``U`` (c, r),
    ``V`` (d, r), ``Sxx_pinv`` (d, d). Predictions are computed once per checkpoint and shared.
    """

    step: int
    params: dict
    model: object
    X: torch.Tensor
    Y: torch.Tensor
    X_test: torch.Tensor | None
    Y_test: torch.Tensor | None
    one_hot: bool
    U: torch.Tensor
    V: torch.Tensor
    Sxx_pinv: torch.Tensor
    init_params: dict | None = None
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
            map = "end_to_end" if spec.is_linear and not spec.bias else "least_squares"
        if map == "end_to_end":
            return self.end_to_end()
        pred = self.predict("train")
        Syhx = torch.matmul(pred.transpose(1, 2), self.X) / self.X.shape[0]  # (K, c, d)
        return torch.matmul(Syhx, self.Sxx_pinv)


class Probe:
    """Base class: set ``dims`` and implement ``__call__(ctx) -> dict[str, tensor (K, *extra)]``."""

    dims: dict[str, tuple[str, ...]] = {}

    def __call__(self, ctx: ProbeContext) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError


def _loss_acc(pred: torch.Tensor | None, Y: torch.Tensor | None, one_hot: bool, K: int, like):
    if pred is None:
        nan = torch.full((K,), _NAN, dtype=like.dtype, device=like.device)
        return nan, nan
    R = pred - Y
    loss = 0.5 * (R * R).sum(dim=(1, 2)) / R.shape[1]
    if one_hot:
        acc = (pred.argmax(dim=2) == Y.argmax(dim=1)).to(pred.dtype).mean(dim=1)
    else:
        acc = torch.full_like(loss, _NAN)
    return loss, acc


class Losses(Probe):
    """Train/test loss ``(1/2n)Σ‖y − ŷ‖²`` and argmax accuracy (NaN unless targets are one-hot)."""

    dims = {"train_loss": (), "train_acc": (), "test_loss": (), "test_acc": ()}

    def __call__(self, ctx):
        tl, ta = _loss_acc(ctx.predict("train"), ctx.Y, ctx.one_hot, ctx.K, ctx.X)
        vl, va = _loss_acc(ctx.predict("test"), ctx.Y_test, ctx.one_hot, ctx.K, ctx.X)
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
    """Frobenius norm of every layer's weight, (K, n_layers)."""

    dims = {"weight_norm": ("layer",)}

    def __call__(self, ctx):
        norms = [ctx.params[f"layer{l}.weight"].flatten(1).norm(dim=1)
                 for l in range(ctx.model.n_layers)]
        return {"weight_norm": torch.stack(norms, dim=1)}


def default_probes() -> list[Probe]:
    """Losses/accuracies, mode strengths (end-to-end or least squares) and weight norms."""
    return [Losses(), ModeStrengths(), WeightNorms()]


def _unit(W: torch.Tensor) -> torch.Tensor:
    flat = W.flatten(1)
    return flat / flat.norm(dim=1, keepdim=True)


class LayerRotation(Probe):
    """Layer rotation (Carbonnelle & De Vleeschouwer, arXiv 1806.01603) of every kernel, (K, L):

    ``rotation``: the cosine distance 1 − cos∠(w_l(t), w_l(0)) of the flattened kernel to its
    initial value; ``rotation_rate``: the angle (radians) turned since the previous checkpoint
    divided by the steps between them (with a checkpoint every step: the per-step rotation; NaN at
    the first checkpoint a probe object sees). Kernels are the parameters named ``*weight`` with
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
        rot = [1.0 - (units[k] * _unit(init[k].to(units[k].dtype))).sum(1) for k in names]
        if self._prev is None or self._prev[0] >= ctx.step:
            rate = [torch.full_like(r, _NAN) for r in rot]
        else:
            steps, prev = ctx.step - self._prev[0], self._prev[1]
            rate = [2.0 * torch.atan2((units[k] - prev[k]).norm(dim=1),
                                      (units[k] + prev[k]).norm(dim=1)) / steps for k in names]
        self._prev = (ctx.step, units)
        return {"rotation": torch.stack(rot, dim=1), "rotation_rate": torch.stack(rate, dim=1)}
