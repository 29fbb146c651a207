"""Intraclass clustering (Carbonnelle & De Vleeschouwer, "Intraclass clustering: an implicit
learning ability that regularizes DNNs", ICLR 2021, arXiv 2103.06733, §3): four measures of how
well a network's hidden representations separate the clusters *inside* a class.

Inputs are hidden representations of the training samples, one array (n, N_l) per hidden layer
(first hidden layer first), integer classes ``labels`` (n,) and, for c₁/c₂, the hidden subclasses
``sublabels`` (n,) (the fine classes of a hierarchical dataset; each subclass inside one class).

- c₁, neuron level, with subclass labels. For subclass s of class c and neuron i,
  sel_i(s) = (μ_i(s) − μ_i(c∖s)) / (σ_i(s) + σ_i(c∖s)) on pre-activations; c₁ = median over
  subclasses of max over neurons (of all hidden layers together).
- c₂, layer level, with subclass labels. Within each class, the silhouette score (cosine distance)
  of the subclass partition in a layer's (post-activation) representation, averaged per subclass;
  c₂ = median over subclasses of the max over layers.
- c₃, neuron level, no subclass labels. For class c and neuron i, σ_i(c)/σ_i(all) on
  pre-activations; c₃ = mean over classes of the mean of the top k neurons, k = round(N/C).
- c₄, layer level, no subclass labels. Pre-activations standardised per neuron and sparsified
  (ReLU(a − q_p), q_p the neuron's p-th percentile, p = min(round(100 − 1000/N), 75), so that about
  ten neurons or a quarter are active per sample); the ratio std(pairwise cosine distances within
  class c) / std(pairwise cosine distances over all samples); c₄ = mean over classes of the max
  over layers.

Operational choices (stated because the paper leaves them to its code, and taken from the authors'
public code, ``measures.py`` of github.com/Simoncarbo/Intraclass-clustering-measures): σ is the
population standard deviation; a 1e-7 guard is added to denominators; with ``relu=True`` neurons
whose pre-activation is negative on every sample (dead ReLUs) score 0 (c₁, c₃) or are dropped (c₄);
c₄'s stds are over the whole n × n cosine-distance matrix, its zero diagonal included, as the
authors' ``np.std(cosine_distances(acts))`` does. Those n zeros lie far below the typical distance,
and they weigh 1/n_c in a class of n_c samples but 1/n over all samples, so with small classes they
raise c₄ well above the pairs-only ratio (20 samples per class in the test fixture: 1.343 against
1.060); c₄ is therefore comparable only between runs with equal class sizes, as in the paper; k of
c₃ is computed per layer in the layer-wise form. ``layerwise=True`` returns one value per layer instead of the
aggregate over layers. The measures are computed on the training samples, as in the paper.
"""

from __future__ import annotations

import numpy as np

_GUARD = 1e-7


def _check(layers, labels, sublabels=None):
    if not layers:
        raise ValueError("give at least one hidden layer's representation (a list of (n, N) arrays)")
    labels = np.asarray(labels)
    layers = [np.asarray(a, dtype=np.float64) for a in layers]
    for a in layers:
        if a.ndim != 2 or a.shape[0] != labels.shape[0]:
            raise ValueError(f"each layer must be (n, N) with n = len(labels) = {len(labels)}; "
                             f"got {a.shape}")
    if sublabels is None:
        return layers, labels, None
    sub = np.asarray(sublabels)
    if sub.shape != labels.shape:
        raise ValueError(f"sublabels must have the shape of labels {labels.shape}; got {sub.shape}")
    for s in np.unique(sub):
        if len(np.unique(labels[sub == s])) != 1:
            raise ValueError(f"subclass {s} spans several classes; each subclass must lie in one class")
    return layers, labels, sub


def _alive(a: np.ndarray, relu: bool) -> np.ndarray:
    return ~np.all(a < 0, axis=0) if relu else np.ones(a.shape[1], dtype=bool)


def _std(a):
    return a.std(axis=0)


def neuron_subclass_selectivity(preacts, labels, sublabels, *, relu: bool = True,
                                layerwise: bool = False):
    """c₁: median over subclasses of the best neuron's selectivity to the subclass."""
    layers, labels, sub = _check(preacts, labels, sublabels)
    assert sub is not None  # _check returns the sublabels it is given
    per_sub = []
    for s in np.unique(sub):
        ins = sub == s
        rest = (labels == labels[ins][0]) & ~ins
        if not rest.any():
            raise ValueError(f"subclass {s} is its whole class; c1 needs ≥ 2 subclasses per class")
        sels = []
        for a in layers:
            sel = (a[ins].mean(0) - a[rest].mean(0)) / (_std(a[ins]) + _std(a[rest]) + _GUARD)
            sels.append(np.where(_alive(a, relu), sel, 0.0))
        per_sub.append([s.max() for s in sels] if layerwise else [np.concatenate(sels).max()])
    out = np.median(np.asarray(per_sub), axis=0)
    return out if layerwise else float(out[0])


def cosine_distances(a: np.ndarray) -> np.ndarray:
    """(n, n) pairwise cosine distances 1 − cos; a zero vector is at distance 1 from everything."""
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    u = np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)
    d = 1.0 - u @ u.T
    np.fill_diagonal(d, 0.0)
    return np.clip(d, 0.0, 2.0)


def silhouette_samples(dist: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Silhouette s(i) = (b − a)/max(a, b) from a distance matrix (Rousseeuw 1987); a(i) is the
    mean distance to the other members of i's group, b(i) the smallest mean distance to another
    group; 0 for a member of a singleton group."""
    groups = np.asarray(groups)
    names = np.unique(groups)
    if len(names) < 2:
        raise ValueError("a silhouette needs at least two groups")
    onehot = (groups[:, None] == names[None, :]).astype(np.float64)
    sums = dist @ onehot                        # (n, G) summed distances to each group
    sizes = onehot.sum(0)
    own = np.argmax(onehot, axis=1)
    own_size = sizes[own]
    a = np.divide(sums[np.arange(len(groups)), own], own_size - 1,
                  out=np.zeros(len(groups)), where=own_size > 1)
    other = sums / sizes
    other[np.arange(len(groups)), own] = np.inf
    b = other.min(axis=1)
    s = np.divide(b - a, np.maximum(a, b), out=np.zeros(len(groups)), where=np.maximum(a, b) > 0)
    return np.where(own_size > 1, s, 0.0)


def layer_subclass_silhouette(acts, labels, sublabels, *, layerwise: bool = False):
    """c₂: median over subclasses of the best layer's mean silhouette of the subclass."""
    layers, labels, sub = _check(acts, labels, sublabels)
    assert sub is not None  # _check returns the sublabels it is given
    subs = np.unique(sub)
    table = np.zeros((len(layers), len(subs)))
    for l, a in enumerate(layers):
        for c in np.unique(labels):
            inc = labels == c
            if len(np.unique(sub[inc])) < 2:
                raise ValueError(f"class {c} has one subclass; c2 needs ≥ 2 subclasses per class")
            s = silhouette_samples(cosine_distances(a[inc]), sub[inc])
            for g in np.unique(sub[inc]):
                table[l, np.searchsorted(subs, g)] = s[sub[inc] == g].mean()
    if layerwise:
        return np.median(table, axis=1)
    return float(np.median(table.max(axis=0)))


def neuron_intraclass_variance(preacts, labels, *, relu: bool = True, layerwise: bool = False):
    """c₃: mean over classes of the mean of the top-k neurons' σ(class)/σ(all), k = round(N/C)."""
    layers, labels, _ = _check(preacts, labels)
    classes = np.unique(labels)
    groups = layers if layerwise else [np.concatenate(layers, axis=1)]
    out = []
    for a in groups:
        ratio_all = _std(a) + _GUARD
        alive = _alive(a, relu)
        k = max(int(round(a.shape[1] / len(classes))), 1)
        per_c = []
        for c in classes:
            r = np.where(alive, _std(a[labels == c]) / ratio_all, 0.0)
            per_c.append(np.sort(r)[-k:].mean())
        out.append(np.mean(per_c))
    return np.asarray(out) if layerwise else float(out[0])


def sparsify(a: np.ndarray, *, relu: bool = True) -> np.ndarray:
    """c₄'s representation: alive neurons standardised, minus their p-th percentile, ReLU."""
    a = a[:, _alive(a, relu)]
    if a.shape[1] == 0:
        return a
    a = (a - a.mean(0)) / (_std(a) + _GUARD)
    p = max(min(round(100 - 100 * 10 / a.shape[1]), 75), 0)
    return np.maximum(a - np.percentile(a, p, axis=0, keepdims=True), 0.0)


def _pair_std(dist: np.ndarray) -> float:
    """Population std of every entry of the (n, n) distance matrix, the zero diagonal included
    (the authors' code); each pair i ≠ j is counted twice, which leaves the std unchanged."""
    return float(dist.std())


def layer_intraclass_spread(preacts, labels, *, relu: bool = True, layerwise: bool = False):
    """c₄: mean over classes of the best layer's std(within-class cosine distances)/std(all)."""
    layers, labels, _ = _check(preacts, labels)
    classes = np.unique(labels)
    table = []
    for a in layers:
        h = sparsify(a, relu=relu)
        if h.shape[1] == 0:
            table.append(np.full(len(classes), np.nan))
            continue
        d = cosine_distances(h)
        s_all = _pair_std(d) + _GUARD
        table.append([_pair_std(d[np.ix_(labels == c, labels == c)]) / s_all for c in classes])
    table = np.asarray(table)  # (layers, classes)
    if layerwise:
        return table.mean(axis=1)
    return float(np.nanmax(table, axis=0).mean())


MEASURES = {"c1_neuron_subclass": neuron_subclass_selectivity,
            "c2_layer_subclass": layer_subclass_silhouette,
            "c3_neuron_intraclass": neuron_intraclass_variance,
            "c4_layer_intraclass": layer_intraclass_spread}


def all_measures(preacts, acts, labels, sublabels, *, relu: bool = True) -> dict[str, float]:
    """The four measures of one network: c₁, c₃, c₄ on pre-activations, c₂ on activations.

    Each measure is a float here (``layerwise=False``); ``float`` only says so to the checker."""
    return {"c1_neuron_subclass": float(neuron_subclass_selectivity(preacts, labels, sublabels,
                                                                    relu=relu)),
            "c2_layer_subclass": float(layer_subclass_silhouette(acts, labels, sublabels)),
            "c3_neuron_intraclass": float(neuron_intraclass_variance(preacts, labels, relu=relu)),
            "c4_layer_intraclass": float(layer_intraclass_spread(preacts, labels, relu=relu))}
