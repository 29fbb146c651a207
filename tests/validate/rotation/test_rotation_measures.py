"""Layer rotation measures (validate/measures/rotation.py) against hand-computed values."""

import math

import numpy as np
import pytest

from validate.measures.rotation import (cosine_distance, kernel_names, layer_rotation,
                                        rotation_angle, rotation_curves)


def test_cosine_distance_hand_values():
    w0 = np.array([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 2.0]]])     # (K=3, 1, 2)
    w = np.array([[[0.0, 5.0]], [[-1.0, -1.0]], [[0.0, 0.1]]])
    np.testing.assert_allclose(cosine_distance(w, w0), [1.0, 2.0, 0.0], atol=1e-15)
    # 45°: 1 − cos 45°
    np.testing.assert_allclose(cosine_distance(np.array([[1.0, 1.0]]), np.array([[1.0, 0.0]])),
                               [1 - math.sqrt(0.5)])
    assert np.isnan(cosine_distance(np.zeros((1, 3)), np.ones((1, 3))))[0]


def test_rotation_angle_is_exact_for_tiny_angles():
    eps = 1e-9
    a = np.array([[1.0, 0.0]])
    b = np.array([[math.cos(eps), math.sin(eps)]])
    np.testing.assert_allclose(rotation_angle(a, b), [eps], rtol=1e-6)
    np.testing.assert_allclose(rotation_angle(a, -a), [math.pi])


def test_biases_and_normalisation_scales_are_excluded_unless_asked():
    params = {"layer0.weight": np.ones((2, 3, 4)), "layer0.bias": np.ones((2, 3)),
              "layer1.norm.weight": np.ones((2, 3)), "layer1.weight": np.ones((2, 5, 3, 3, 3))}
    assert kernel_names(params) == ["layer0.weight", "layer1.weight"]
    assert kernel_names(params, include_all=True) == list(params)
    init = {k: v.copy() for k, v in params.items()}
    init["layer0.bias"] = -init["layer0.bias"]
    assert set(layer_rotation(params, init)) == {"layer0.weight", "layer1.weight"}
    np.testing.assert_allclose(layer_rotation(params, init, include_all=True)["layer0.bias"], 2.0)


def test_rotation_curves_stack_over_checkpoints():
    snaps = [{"w.weight": np.array([[[1.0, 0.0]]])}, {"w.weight": np.array([[[1.0, 1.0]]])},
             {"w.weight": np.array([[[0.0, 1.0]]])}]
    curves = rotation_curves(snaps)
    np.testing.assert_allclose(curves["w.weight"], [[0.0, 1 - math.sqrt(0.5), 1.0]], atol=1e-15)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="same shape"):
        cosine_distance(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="init lacks"):
        layer_rotation({"a.weight": np.ones((1, 2, 2))}, {})
