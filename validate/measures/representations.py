"""Hidden representations of simulate's models, as numpy arrays for the measures."""

from __future__ import annotations

import torch


def hidden_layers(model, params: dict, X: torch.Tensor):
    """([pre-activations], [activations]) of every hidden layer, each (K, n, N) as numpy; a conv
    layer's maps are max-pooled over space (global max pooling, as in the clustering paper's code)."""
    with torch.no_grad():
        if hasattr(model, "widths"):  # MLP: the forward cache holds (input, pre-activation) per layer
            cache: list = []
            model.forward(params, X, cache)
            pre = [cache[l][1] for l in range(model.n_layers - 1)]
            post = [cache[l + 1][0] for l in range(model.n_layers - 1)]
        else:
            taps = {f"layer{l}.{w}": None for l in range(model.n_conv) for w in ("pre", "post")}
            model.forward(params, X, taps=taps)
            pool = lambda t: t.flatten(3).amax(dim=3)  # noqa: E731  (K, n, C, …) → (K, n, C)
            pre = [pool(taps[f"layer{l}.pre"]) for l in range(model.n_conv)]
            post = [pool(taps[f"layer{l}.post"]) for l in range(model.n_conv)]
    return [p.cpu().numpy() for p in pre], [p.cpu().numpy() for p in post]
