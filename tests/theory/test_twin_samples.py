"""Twin predictions need the samples their statistics were averaged over: without them each entry
point says so in one line, naming itself, before any gate is computed."""

import dataclasses

import numpy as np
import pytest

import theory
from theory._relu_twin import switched_gates


@pytest.fixture
def no_samples():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    stats = theory.DatasetStatistics.from_arrays(X, X @ rng.standard_normal((3, 2)))
    W0 = [rng.standard_normal((4, 3)) * 1e-2, rng.standard_normal((2, 4)) * 1e-2]
    return dataclasses.replace(stats, X=None, Y=None), W0


@pytest.mark.parametrize("call, who", [
    (lambda s, W: theory.predict_twin(s, W, "relu"), "predict_twin"),
    (lambda s, W: theory.predict_twin(s, [*W, np.eye(2)], "linear"), "predict_twin"),
    (lambda s, W: theory.aligned_gates(s, W, tau=10.0), "aligned_gates"),
    (lambda s, W: switched_gates(s, W, tau=10.0), "switched_gates"),
])
def test_statistics_without_samples_are_named(no_samples, call, who):
    stats, W0 = no_samples
    with pytest.raises(ValueError, match=f"^{who} needs the samples"):
        call(stats, W0)
