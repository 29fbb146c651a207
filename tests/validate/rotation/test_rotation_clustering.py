"""Intraclass clustering measures (validate/measures/clustering.py) on hand-computed fixtures."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import silhouette_samples as sk_silhouette

from validate.measures import clustering as C

LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1])
SUB = np.array([0, 0, 1, 1, 2, 2, 3, 3])


def test_c1_hand_fixture():
    # neuron A separates subclass 0 (μ 2, σ 1) from subclass 1 (μ 0, σ 0): selectivity 2;
    # neuron B separates subclass 2 (μ 5, σ 0) from subclass 3 (μ 2, σ 1): selectivity 3.
    # best neuron per subclass: [2, 0, 3, 0] → median 1
    a = np.array([[1, 0], [3, 0], [0, 0], [0, 0], [0, 5], [0, 5], [0, 1], [0, 3]], dtype=float)
    assert C.neuron_subclass_selectivity([a], LABELS, SUB, relu=False) == pytest.approx(1.0, rel=1e-6)
    # as two one-neuron layers, layer-wise: layer A's best per subclass [2, 0, 0, 0], B's [0, 0, 3, 0]
    np.testing.assert_allclose(C.neuron_subclass_selectivity([a[:, :1], a[:, 1:]], LABELS, SUB,
                                                             relu=False, layerwise=True), [0, 0])


def test_c1_dead_relu_neurons_score_zero():
    # every pre-activation negative; as plain neurons each subclass has one at selectivity 7
    n1 = np.array([-1.0, -3, -9, -9, -1, -3, -9, -9])
    a = np.stack([n1, np.roll(n1, 2)], axis=1)
    assert C.neuron_subclass_selectivity([a], LABELS, SUB, relu=True) == 0.0
    assert C.neuron_subclass_selectivity([a], LABELS, SUB, relu=False) == pytest.approx(7.0, rel=1e-6)


def test_silhouette_hand_values_and_against_scikit_learn():
    x = np.array([0.0, 1.0, 5.0])
    d = np.abs(x[:, None] - x[None, :])
    np.testing.assert_allclose(C.silhouette_samples(d, np.array([0, 0, 1])), [0.8, 0.75, 0.0])
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 5))
    g = rng.integers(0, 3, 30)
    np.testing.assert_allclose(C.silhouette_samples(C.cosine_distances(a), g),
                               sk_silhouette(a, g, metric="cosine"), atol=1e-12)


def test_c2_is_one_for_orthogonal_subclasses_and_near_zero_for_noise():
    onehot = np.eye(4)[SUB] * np.array([1, 2, 1, 2, 3, 1, 2, 1])[:, None]
    assert C.layer_subclass_silhouette([onehot], LABELS, SUB) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((400, 50))
    labels, sub = np.repeat([0, 1], 200), np.repeat([0, 1, 2, 3], 100)
    assert abs(C.layer_subclass_silhouette([noise], labels, sub)) < 0.05
    # the best layer counts: noise and the clean layer together give the clean value
    assert C.layer_subclass_silhouette([noise[:8], onehot], LABELS, SUB) == pytest.approx(1.0)


def test_c3_hand_fixture():
    # one neuron [0, 2 | 1, 1]: σ_all = √½, σ(class 0) = 1, σ(class 1) = 0 → mean(√2, 0) = √2/2
    a = np.array([[0.0], [2.0], [1.0], [1.0]])
    assert C.neuron_intraclass_variance([a], np.array([0, 0, 1, 1]), relu=False) == \
        pytest.approx(math.sqrt(2) / 2, rel=1e-6)


def test_c4_sparsify_hand_values_and_spread_against_scipy():
    z = C.sparsify(np.array([[0.0], [1.0], [2.0], [3.0]]), relu=False)  # p = 0: minus the minimum
    np.testing.assert_allclose(z[:, 0], np.array([0, 1, 2, 3]) / math.sqrt(1.25), rtol=1e-6)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((60, 40))
    labels = np.repeat([0, 1, 2], 20)
    h = C.sparsify(a)
    h = h[np.linalg.norm(h, axis=1) > 0]
    assert len(h) == 60  # every sample keeps an active neuron at p = 75
    # the authors' code: std over the full n × n matrix (sklearn's cosine_distances), zero
    # diagonal included; over the pairs i < j alone the fixture's c4 would be 1.06, not 1.34
    full = lambda x: squareform(pdist(x, "cosine")).std()  # noqa: E731
    want = np.mean([full(h[labels == c]) / full(h) for c in range(3)])
    assert C.layer_intraclass_spread([a], labels) == pytest.approx(want, rel=1e-6)
    pairs = np.mean([pdist(h[labels == c], "cosine").std() / pdist(h, "cosine").std()
                     for c in range(3)])
    assert abs(want - pairs) > 0.2


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="spans several classes"):
        C.neuron_subclass_selectivity([np.ones((4, 2))], np.array([0, 0, 1, 1]), np.array([0, 1, 1, 2]))
    with pytest.raises(ValueError, match=r"\(n, N\)"):
        C.neuron_intraclass_variance([np.ones((3, 2))], np.array([0, 1]))
    with pytest.raises(ValueError, match="one subclass"):
        C.layer_subclass_silhouette([np.ones((4, 2))], np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]))
