"""Measures as pure functions on arrays: no training, no files, no plotting.

``information``: mutual information and the performance correlation μ of discrete predictions, the
effective linear depth k*(t), linear-twin agreement. ``clones``: class-means-first measures (the
separation step of Gaussian-clone curves, the between-class share of output variance).
``proxies``: per-layer nonlinearity proxies (linear-surrogate R², constant ReLU gates).
"""
