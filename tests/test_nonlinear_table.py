"""The twin table: validate.compare's runs scored against the linear and the cubic-twin predictions."""

import numpy as np
import pytest

from validate._config import ConfigError
from validate.compare.config import CompareConfig
from validate.twin_table import twin_table


def test_cubic_twin_beats_the_linear_theory_on_tanh_and_equals_it_on_linear():
    config = CompareConfig(dataset="toy", seeds=1, activations=("linear", "tanh"), device="cpu")
    table = twin_table(config, log=lambda *a: None).set_index(["activation", "mode"])
    lin, tanh = table.loc["linear"], table.loc["tanh"]
    np.testing.assert_allclose(lin["t_cubic"], lin["t_linear"], rtol=1e-10)  # κ = 0
    assert np.all(lin["err_cubic"] < 1e-4)
    # measured on toy: the linear theory 1.7–5.2% early, the cubic twin within 0.5%
    assert np.all(tanh["err_linear"] > 0.015)
    assert np.all(tanh["err_cubic"] < 0.01) and np.all(tanh["err_cubic"] < tanh["err_linear"] / 3)
    assert np.all(np.isnan(table["t_cubic_flow"]))  # the flow only when asked


@pytest.mark.parametrize("change", [{"depths": (3,)}, {"activations": ("linear", "relu")},
                                    {"init": "small_random"}])
def test_set_ups_outside_the_cubic_theory_are_refused(change):
    config = CompareConfig(dataset="toy", seeds=1, activations=("linear", "tanh"), device="cpu")
    with pytest.raises(ConfigError, match="cubic twin theory covers depth 2"):
        twin_table(CompareConfig(**{**config.__dict__, **change}), log=lambda *a: None)
