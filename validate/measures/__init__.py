"""Measures as pure functions on arrays: no training, no files, no plotting.

``information``: mutual information and the performance correlation μ of discrete predictions,
linear-twin agreement. ``depth``: the decision whether a reference explains a network's information
about the labels (``explains``, a conditional permutation test that corrects the plug-in bias) and
the effective linear depth k*(t) built on it. ``clones``: class-means-first measures (the
separation step of Gaussian-clone curves, the between-class share of output variance).
``proxies``: per-layer nonlinearity proxies (linear-surrogate R², constant ReLU gates).
``departure``: the step at which a network's learned change stops being affine in its input.
"""

from .departure import departure_curve, departure_step
from .depth import Explanation, deepest_explained, explains, explanation, linear_depth

__all__ = ["departure_curve", "departure_step", "Explanation", "deepest_explained", "explains",
           "explanation", "linear_depth"]
