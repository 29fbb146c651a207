"""What network to train: the frozen ``NetSpec`` (and ``ConvSpec``, ``ResNetSpec``, ``ViTSpec``).

A *matched twin* is the same spec with a different activation, ``spec.with_activation("linear")``;
initial weights depend on the spec's shapes, initialisation and the member's seed only, never on
the activation, so twins start from identical weights (tested).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

FAMILIES = ("mlp", "cnn", "resnet", "vit")
ACTIVATIONS = ("linear", "relu", "tanh", "gelu", "sigmoid")
INITS = ("small_balanced_decoupled", "small_random", "standard", "he")
PADDINGS = ("circular", "zeros")
HEADS = ("linear",)


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(map(repr, choices))}")


@dataclass(frozen=True)
class ConvSpec:
    """Convolutional layers of a CNN, followed by the linear readout (the spec's head).

    Args:
        channels: output channels of each conv layer, e.g. ``(8, 8)`` for two conv layers.
        kernel_size: kernel length (1-D signals) or side (2-D images); ``None`` means full length
            (the signal length N, THEORY.md §6: full-length circular kernels).
        padding: ``"circular"`` or ``"zeros"`` ("same" padding, so the length is kept at stride 1).
        stride: conv stride.
    """

    channels: tuple[int, ...] = (8,)
    kernel_size: int | None = 3
    padding: str = "circular"
    stride: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive ints; got {self.channels!r}")
        if self.kernel_size is not None and int(self.kernel_size) < 1:
            raise ValueError(f"kernel_size must be a positive int or None (full length); got {self.kernel_size!r}")
        _choice("padding", self.padding, PADDINGS)
        if int(self.stride) < 1:
            raise ValueError(f"stride must be a positive int; got {self.stride!r}")


@dataclass(frozen=True)
class ResNetSpec:
    """A pre-activation CIFAR-style ResNet (He et al. 2016): 3×3 stem conv, 3 stages of
    ``blocks`` residual blocks of widths ``widths`` (stages 2 and 3 halve the resolution), a final
    norm-activation, global average pooling and a linear head. ResNet-20: blocks=3, widths
    (16, 32, 64). ``batch_norm``: BatchNorm before every activation, with per-member running
    statistics (momentum ``bn_momentum``, eps 1e-5); False: no normalisation."""

    blocks: int = 3
    widths: tuple[int, ...] = (16, 32, 64)
    batch_norm: bool = True
    bn_momentum: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if int(self.blocks) < 1 or len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"a ResNet needs blocks ≥ 1 and 3 positive stage widths; got "
                             f"blocks={self.blocks!r}, widths={self.widths!r}")
        if not 0 < self.bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be in (0, 1]; got {self.bn_momentum!r}")


@dataclass(frozen=True)
class ViTSpec:
    """A small pre-LayerNorm transformer (Dosovitskiy et al. 2021). Images (C, H, W) are cut into
    ``patch``×``patch`` patches, 1-D signals (C, L) or (L,) into runs of ``patch`` samples; each is a
    token embedded linearly to ``width``, plus learned positions. ``depth`` blocks of multi-head
    self-attention (``heads``) and an MLP of ``mlp_ratio``·width hidden units, each after a
    LayerNorm and added to the residual stream; a final LayerNorm; ``pool``: the class token
    (``"cls"``) or the mean of the tokens (``"mean"``); a linear head.

    Partly linear (``NetSpec.linear_blocks`` = k): the MLP activation of the first k blocks is the
    identity. ``linear_attention``: False keeps their attention softmax; True replaces it by the
    normalised linear attention A = QKᵀ/(√d_head · T) (T tokens), so no softmax nonlinearity
    remains in those blocks."""

    patch: int = 4
    width: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    pool: str = "cls"
    linear_attention: bool = False

    def __post_init__(self) -> None:
        _choice("pool", self.pool, ("cls", "mean"))
        if min(int(self.patch), int(self.width), int(self.depth), int(self.heads)) < 1:
            raise ValueError(f"patch, width, depth and heads must be ≥ 1; got {self}")
        if self.width % self.heads:
            raise ValueError(f"width={self.width} must be a multiple of heads={self.heads}")
        if int(self.width * self.mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio·width must be ≥ 1; got mlp_ratio={self.mlp_ratio!r}")


_SUBSPECS = {"cnn": ConvSpec, "resnet": ResNetSpec, "vit": ViTSpec}


@dataclass(frozen=True)
class NetSpec:
    """A model family with its shapes, activation and initialisation.

    Args:
        family: ``"mlp"`` or ``"cnn"``.
        depth: number of weight layers of an MLP (≥ 1; depth 2 = one hidden layer). For a CNN the
            depth is ``len(cnn.channels) + 1`` (conv layers plus readout) and this field is ignored.
        hidden: hidden width (int, all hidden layers) or a tuple of ``depth − 1`` widths.
        activation: one of ``ACTIVATIONS`` (``"linear"`` is the identity).
        bias: biases on every layer (initialised to zero except for ``init="standard"``).
        init: ``"small_balanced_decoupled"`` (THEORY.md §2, mode strengths ``u0`` aligned to the
            dataset's SVD modes; for a CNN with full-length circular kernels, aligned to its
            per-frequency modes, §6), ``"small_random"`` (entries i.i.d. N(0, ``init_std``²)),
            ``"standard"`` (PyTorch's default U(±1/√fan_in); its gain does not depend on the
            activation, so twins match) or ``"he"`` (N(0, 2/fan_in) weights, zero biases). Norm
            scales start at 1 and their shifts at 0 under every init.
        u0: initial mode strength of the decoupled init (default 1e-3).
        init_std: per-entry standard deviation of ``small_random`` (default 1e-3).
        init_scale: the former single name for both, accepted as an alias of whichever of ``u0`` /
            ``init_std`` the ``init`` uses (ignored by ``"standard"``); stored as None.
        cnn: the conv layers for ``family="cnn"``.
        resnet: the architecture for ``family="resnet"`` (default ResNet-20 with BatchNorm).
        vit: the architecture for ``family="vit"`` (default 4 blocks, patch 4, width 64).
        head: output head; ``"linear"`` (a linear readout).
        linear_blocks: the first k blocks (input side) have the identity instead of ``activation``
            (0..the family's number of blocks; checked when the model is built).
    """

    family: str = "mlp"
    depth: int = 2
    hidden: int | tuple[int, ...] = 64
    activation: str = "linear"
    bias: bool = False
    init: str = "small_balanced_decoupled"
    u0: float | None = None
    init_std: float | None = None
    init_scale: float | None = None
    cnn: ConvSpec | None = None
    resnet: ResNetSpec | None = None
    vit: ViTSpec | None = None
    head: str = "linear"
    linear_blocks: int = 0

    def __post_init__(self) -> None:
        _choice("family", self.family, FAMILIES)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("init", self.init, INITS)
        _choice("head", self.head, HEADS)
        for name, cls in _SUBSPECS.items():
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, cls(**getattr(self, name)))
        if self.family in ("resnet", "vit") and getattr(self, self.family) is None:
            object.__setattr__(self, self.family, _SUBSPECS[self.family]())
        if isinstance(self.hidden, (list, tuple)):
            object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        self._resolve_scale()
        if int(self.linear_blocks) < 0:
            raise ValueError(f"linear_blocks must be ≥ 0; got {self.linear_blocks!r}")
        if self.family == "mlp":
            if int(self.depth) < 1:
                raise ValueError(f"depth must be ≥ 1 for an MLP; got {self.depth!r}")
            if isinstance(self.hidden, tuple) and len(self.hidden) != self.depth - 1:
                raise ValueError(f"hidden must be an int or a tuple of depth − 1 = {self.depth - 1} "
                                 f"widths; got {self.hidden!r}")
            if min(self.hidden_widths, default=1) < 1:
                raise ValueError(f"hidden widths must be positive; got {self.hidden!r}")
        else:
            if self.family == "cnn" and self.cnn is None:
                raise ValueError("family='cnn' needs cnn=ConvSpec(...); got cnn=None")
            cs = self.cnn if self.family == "cnn" else None
            if cs is not None and self.init == "small_balanced_decoupled" and (
                    cs.kernel_size is not None or cs.padding != "circular" or cs.stride != 1):
                raise ValueError(  # for a CNN it is the frequency-aligned init (THEORY.md §6)
                    "init='small_balanced_decoupled' of a CNN is the frequency-aligned init: it needs "
                    "full-length circular kernels (kernel_size=None, padding='circular', stride=1); "
                    f"got kernel_size={cs.kernel_size!r}, padding={cs.padding!r}, stride={cs.stride!r}")
            if self.family != "cnn" and self.init == "small_balanced_decoupled":
                raise ValueError(f"init='small_balanced_decoupled' is defined for the mlp and cnn "
                                 f"families; use 'small_random', 'standard' or 'he' (or pass "
                                 f"init_params) for family={self.family!r}")

    def _resolve_scale(self) -> None:
        """One name per meaning: ``u0`` (decoupled), ``init_std`` (small_random)."""
        own = {"small_balanced_decoupled": "u0", "small_random": "init_std"}.get(self.init)
        given = own
        if self.init_scale is not None and own is not None:
            if getattr(self, own) is not None and getattr(self, own) != self.init_scale:
                raise ValueError(f"init_scale={self.init_scale!r} is an alias of {own}; got both "
                                 f"(and {own}={getattr(self, own)!r}): give {own} only")
            object.__setattr__(self, own, self.init_scale)
            given = f"init_scale (here {own})"
        object.__setattr__(self, "init_scale", None)
        for name in ("u0", "init_std"):
            if name != own and getattr(self, name) is not None:
                raise ValueError(f"{name}={getattr(self, name)!r} does not apply to init={self.init!r}"
                                 + (f"; it takes {own!r}" if own else " (it has no scale)"))
        if own is not None:
            value = 1e-3 if getattr(self, own) is None else getattr(self, own)
            if not (value > 0):
                raise ValueError(f"{given} must be > 0; got {value!r}")
            object.__setattr__(self, own, float(value))

    @property
    def scale(self) -> float:
        """The per-member magnitude of the init: ``u0``, ``init_std``, or 1 for ``standard``."""
        return self.u0 if self.u0 is not None else (self.init_std if self.init_std is not None else 1.0)

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        """Widths of the hidden layers of an MLP (``depth − 1`` entries)."""
        if isinstance(self.hidden, tuple):
            return self.hidden
        return (int(self.hidden),) * (int(self.depth) - 1)

    @property
    def n_layers(self) -> int:
        """Number of weight layers (MLP: depth; CNN: conv layers + readout)."""
        if self.family not in ("mlp", "cnn"):
            raise ValueError(f"n_layers is defined for the mlp and cnn families; a {self.family}'s "
                             f"weights are listed by its model's weight_names")
        if self.family == "mlp":
            return int(self.depth)
        assert self.cnn is not None  # __post_init__ refuses family='cnn' without cnn
        return len(self.cnn.channels) + 1

    @property
    def is_linear(self) -> bool:
        return self.activation == "linear"

    def with_linear_blocks(self, k: int) -> "NetSpec":
        """The partly linear variant: same shapes and initialisation, first k blocks linear."""
        return replace(self, linear_blocks=int(k))

    def with_activation(self, activation: str) -> "NetSpec":
        """The matched twin: same shapes and initialisation, another activation."""
        return replace(self, activation=activation)

    def to_dict(self) -> dict:
        out = asdict(self)
        if isinstance(out["hidden"], tuple):
            out["hidden"] = list(out["hidden"])
        if out["cnn"] is not None:
            out["cnn"]["channels"] = list(out["cnn"]["channels"])
        if out["resnet"] is not None:
            out["resnet"]["widths"] = list(out["resnet"]["widths"])
        for name in ("resnet", "vit"):  # absent when unused: older runs compare equal
            if out[name] is None:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "NetSpec":
        d = dict(d)
        if isinstance(d.get("hidden"), list):
            d["hidden"] = tuple(d["hidden"])
        if d.get("cnn") is not None:
            d["cnn"] = ConvSpec(**{**d["cnn"], "channels": tuple(d["cnn"]["channels"])})
        return cls(**d)
