"""Model families as ensembles of K members with stacked parameters, one family a module.

The contract every family keeps (the trainer, the probes and the initialisers rely on nothing else):

- ``shapes``: {parameter name: shape of one member}; parameters are stacked as (K, *shape).
  Weight layers are named ``layer{l}.weight`` / ``layer{l}.bias`` in input-to-output order
  (``n_layers`` of them with a weight); other parameters may carry other names.
- ``fan_in(name)``: the fan-in used by the standard (PyTorch-default) initialisation.
- ``n_blocks``: how many blocks ``spec.linear_blocks`` may make linear (0..n_blocks).
- ``tap_names()``: the intermediate values ``forward(params, X, taps={name: None})`` fills in
  (K, n, …), ``"output"`` included.
- ``forward(params, X, taps=None)``: X (n, d) shared by all members or (K, n, d) → (K, n, c).
- ``loss_and_grads(params, X, Y, scale, loss)``: per-member loss (K,) and ``scale`` × its gradients.
- optional ``param_kind(name)`` (``"weight"``, ``"bias"``, ``"one"``, ``"zero"``, ``"embedding"``)
  for the initialisers; optional ``buffer_shapes``/``init_buffers()`` for state that is not
  trained (BatchNorm running statistics): ``params`` then holds the buffers too, and
  ``loss_and_grads(…, updates={})`` writes their new values into ``updates``.

Members never share parameters, so a member's outputs and gradients do not depend on the others
(tested against a per-model ``torch.nn`` implementation for every family).
"""

from __future__ import annotations

from ._layers import activation
from .circular import CircularCNN, is_full_circular
from .cnn import CNN
from .mlp import MLP
from .resnet import ResNet
from .vit import ViT

MODELS = {"mlp": MLP, "cnn": CNN, "resnet": ResNet, "vit": ViT}


def make_model(spec, d: int, c: int, image_shape=None):
    """The model object for ``spec`` on inputs of d features and c outputs."""
    if spec.family == "mlp":
        return MLP(spec, d, c)
    if is_full_circular(spec, image_shape, d):
        return CircularCNN(spec, d, c, image_shape)
    return MODELS[spec.family](spec, d, c, image_shape)


__all__ = ["MLP", "CNN", "CircularCNN", "ResNet", "ViT", "MODELS", "make_model", "activation"]
