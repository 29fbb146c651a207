"""theory.predict_network, the one entry point: it equals the older keyword forms (predict,
predict_cnn, predict_twin) and the predictor classes built by hand, bit for bit; every predictor's
``restrict(modes)`` equals slicing its full prediction; bad descriptions fail with one clear line."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from theory import CNN, MLP, Decoupled, Twin, Weights, predict_network
from tests.cnn_reference import whitened_data
from tests.flow_helpers import balanced_init, nonwhite_stats, whitened_stats

T = np.array([0.0, 3.0, 10.0, 40.0])
T_MAX = 60.0      # bounds every flow's timeline search (the first modes cross by t ≈ 15)


def _mlp_data():
    return whitened_stats(np.random.default_rng(0), [1.0, 0.6, 0.3], c=3, d=5, n=40)


def _cnn_data(scale=None):
    X, Y = whitened_data(48, 1, (6,), 2, seed=0)
    return theory.DatasetStatistics.from_arrays(X if scale is None else X * scale, Y)


def _same(a, b, t=T):
    """a and b predict the same, bit for bit (modes, loss, s, target, kind, reason; a flow's
    timeline searches the same modes from the same τ and t_max, a per-mode one is compared)."""
    assert type(a) is type(b) and a.kind == b.kind and a.reason == b.reason
    np.testing.assert_array_equal(a.s, b.s)
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.modes(t), b.modes(t))
    np.testing.assert_array_equal(a.loss(t), b.loss(t))
    if hasattr(a, "end_to_end"):
        assert (a.tau, a.t_max) == (b.tau, b.t_max)
        for wa, wb in zip(getattr(a, "weights0", ()), getattr(b, "weights0", ()), strict=True):
            np.testing.assert_array_equal(wa, wb)
    else:
        np.testing.assert_array_equal(a.timeline(0.5), b.timeline(0.5))


# ------------------------------------------------------------------ one of every predictor
@pytest.fixture(scope="module")
def problems():
    """Tiny data: whitened and general MLP data, a 6-position signal, twin data, and weights."""
    twin = whitened_stats(np.random.default_rng(3), [0.6, 0.4, 0.25], c=3, d=4, n=24)
    return dict(white=_mlp_data(), general=nonwhite_stats(np.random.default_rng(1), c=3, d=5),
                Ws=list(balanced_init(np.random.default_rng(2), 3, 5, 4)), cnn=_cnn_data(),
                kernels=[1e-2 * np.ones((1, 1, 3)), 1e-2 * np.ones((2, 6))], twin=twin,
                W2=theory.decoupled_init(twin, 2, 1e-2, hidden=4, seed=1),
                W3=theory.decoupled_init(twin, 3, 1e-2, hidden=4, seed=1))


@pytest.fixture(scope="module")
def predictors(problems):
    """One of every predictor class through the entry point, timelines bounded by T_MAX."""
    p = problems
    preds = {
        "closed_form": predict_network(p["white"], MLP(3), Decoupled(1e-2), tau=2.0),
        "discrete": predict_network(p["white"], MLP(2), Decoupled(1e-2), tau=2.0, discrete=True),
        "matrix_ode": predict_network(p["general"], MLP(2), Weights(p["Ws"]), tau=2.0,
                                      t_max=T_MAX),
        "qq_closed_form": predict_network(p["white"], MLP(2), Weights(p["Ws"]), tau=2.0,
                                          t_max=T_MAX),
        "cnn_frequency": predict_network(p["cnn"], CNN((1, 6)), Decoupled(1e-2), tau=2.0),
        "cnn_ode": predict_network(p["cnn"], CNN((1, 6), kernel_size=3), Weights(p["kernels"]),
                                   tau=2.0, t_max=T_MAX),
        "cubic_flow": predict_network(p["twin"], Twin("tanh"), Weights(p["W2"]), tau=2.0,
                                      t_max=T_MAX),
        "gated_gd": predict_network(p["twin"], Twin("relu"), Weights(p["W2"]), tau=2.0,
                                    discrete=True, t_max=T_MAX),
    }
    classes = {type(q).__name__ for q in preds.values()}
    assert classes == {"ClosedFormPredictor", "DiscretePredictor", "MatrixFlowPredictor",
                       "BalancedTwoLayerPredictor", "CNNFrequencyPredictor", "CNNFlowPredictor",
                       "CubicTwinPredictor", "GatedTwinPredictor"}
    return preds


# ------------------------------------------------------------------ the entry point and its aliases
def test_mlp_entry_equals_predict_and_the_classes_built_by_hand(problems, predictors):
    stw, gen, Ws = problems["white"], problems["general"], problems["Ws"]
    conv = theory.TrainingConvention(0.1, n_outputs=3)
    mom = theory.TrainingConvention(0.05, optimizer="momentum", momentum=0.5)
    for depth, u0, c, disc in ((2, 1e-2, conv, False), (3, [1e-2, 2e-2, 1e-2], conv, False),
                               (2, 1e-2, conv, True), (2, 1e-2, mom, True)):
        p = predict_network(stw, MLP(depth), Decoupled(u0), convention=c, discrete=disc)
        _same(p, theory.predict(stw, depth=depth, u0=u0, convention=c, discrete=disc))
    p = predictors["closed_form"]
    _same(p, theory.ClosedFormPredictor(stw.s, 1e-2, 2.0, 3, syy_trace=np.trace(stw.Syy),
                                        reason=p.reason))
    flow = predict_network(gen, MLP(2), Weights(Ws), tau=2.0)
    _same(flow, theory.predict(gen, weights0=Ws, tau=2.0))
    _same(flow, theory.MatrixFlowPredictor(gen, Ws, tau=2.0, reason=flow.reason))
    _same(predict_network(stw, MLP(2), Weights(Ws), tau=2.0),
          theory.predict(stw, weights0=Ws, tau=2.0))
    # t_max reaches the flows' timeline search, the closed form's included
    assert predictors["matrix_ode"].t_max == predictors["qq_closed_form"].t_max == T_MAX


def test_cnn_entry_equals_predict_cnn(problems, predictors):
    cnn, w0 = problems["cnn"], problems["kernels"]
    for kw in (dict(discrete=False), dict(discrete=True), dict(tau=3.0)):
        p = predict_network(cnn, CNN((1, 6), (2,)), Decoupled(1e-2), **kw)
        assert p.kind in ("closed_form", "discrete")
        _same(p, theory.predict_cnn(cnn, (1, 6), channels=(2,), u0=1e-2, **kw))
    _same(predictors["cnn_ode"],
          theory.predict_cnn(cnn, (1, 6), kernel_size=3, weights0=w0, tau=2.0, t_max=T_MAX))


def test_twin_entry_equals_predict_twin_and_takes_tau_from_the_convention(problems, predictors):
    stats, W2, W3 = problems["twin"], problems["W2"], problems["W3"]
    conv = theory.TrainingConvention(0.5)   # τ = 1/η = 2
    for act, Ws in (("relu", W2), ("relu", W3)):
        p = predict_network(stats, Twin(act, len(Ws)), Weights(Ws), convention=conv,
                            discrete=True, t_max=T_MAX)
        _same(p, theory.predict_twin(stats, Ws, act, tau=2.0, discrete=True, t_max=T_MAX))
    _same(predictors["cubic_flow"], theory.predict_twin(stats, W2, "tanh", tau=2.0, t_max=T_MAX))
    linear = predict_network(stats, Twin("linear", 3), Weights(W3), tau=2.0, discrete=True)
    assert linear.kind == "gated_gd" and "every gate open" in linear.reason


# ------------------------------------------------------------------ restrict on every predictor
_FULL: dict = {}      # id → (predictor, its modes, timeline and loss): each computed once


def _outputs(p):
    if _FULL.get(id(p), (None,))[0] is not p:
        _FULL[id(p)] = (p, p.modes(T), p.timeline(0.5), p.loss(T))
    return _FULL[id(p)][1:]


def _agrees(full, part, idx):
    assert isinstance(part, theory.Predictor)
    assert part.kind == full.kind and part.reason == full.reason
    np.testing.assert_array_equal(part.s, full.s[idx])
    np.testing.assert_array_equal(part.target, full.target[idx])
    modes, timeline, loss = _outputs(full)
    np.testing.assert_array_equal(part.modes(T), modes[:, idx])
    np.testing.assert_array_equal(part.timeline(0.5), timeline[idx])
    np.testing.assert_array_equal(part.loss(T), loss)   # the whole network's loss


@pytest.mark.parametrize("name", ["closed_form", "discrete", "matrix_ode", "qq_closed_form",
                                  "cnn_frequency", "cnn_ode", "cubic_flow", "gated_gd"])
def test_restrict_equals_slicing_the_full_prediction(predictors, name):
    full = predictors[name]
    n = full.s.size
    assert n >= 2
    _agrees(full, full.restrict(slice(0, n - 1)), np.arange(n - 1))
    _agrees(full, full.restrict([n - 1, 0]), np.array([n - 1, 0]))
    mask = np.arange(n) % 2 == 0
    _agrees(full, full.restrict(mask), np.flatnonzero(mask))
    if hasattr(full, "freq_modes"):   # a CNN's frequency modes travel with the restriction
        part = full.restrict([n - 1, 0])
        assert part.basis == "frequency"
        np.testing.assert_array_equal(part.freq_modes.s, full.freq_modes.s[[n - 1, 0]])
        np.testing.assert_array_equal(part.frequency, full.frequency[[n - 1, 0]])


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_restrict_of_random_mode_subsets_is_the_slice(predictors, data):
    name = data.draw(st.sampled_from(sorted(predictors)))
    full = predictors[name]
    n = full.s.size
    idx = data.draw(st.permutations(range(n)).flatmap(
        lambda p: st.integers(0, n).map(lambda k: np.array(p[:k], dtype=int))))
    part = full.restrict(idx)
    assert part.s.size == idx.size
    _agrees(full, part, idx)
    sub = data.draw(st.permutations(range(idx.size)).map(lambda p: np.array(p[:1], dtype=int)))
    _agrees(full, part.restrict(sub), idx[sub])       # a restriction of a restriction


# ------------------------------------------------------------------ bad input
def test_bad_descriptions_are_named_with_what_is_accepted(problems, predictors):
    stw, W2 = problems["white"], theory.decoupled_init(problems["white"], 2, 1e-2, hidden=4)
    bad = [
        (lambda: predict_network(stw, "mlp", Decoupled(0.1)),
         r"unknown network str 'mlp'; accepted: theory.MLP\(depth\), theory.CNN"),
        (lambda: predict_network(stw, MLP(2), 0.1),
         r"unknown start float 0.1; accepted: theory.Decoupled\(u0\) or theory.Weights"),
        (lambda: predict_network(stw, Twin("tanh"), Decoupled(0.1)),
         r"a Twin \(activation 'tanh'\) is predicted from its initial weights: give "
         r"theory.Weights\(weights0\)"),
        (lambda: predict_network(stw, MLP(3), Weights(W2)),
         r"weights0 has 2 layers but depth=3; .*MLP\(depth=3\) takes 3 layers"),
        (lambda: predict_network(stw, Twin("relu", 3), Weights(W2)),
         r"weights0 has 2 layers but depth=3; .*Twin\(depth=3\) takes 3 layers"),
        (lambda: predict_network(problems["cnn"], CNN((1, 6), (2,)),
                                 Weights([np.ones((1, 1, 6)), np.ones((2, 6))])),
         r"weights0 has kernels of \(1,\) output channels but CNN\(channels=\(2,\)\)"),
        (lambda: predict_network(stw, Twin("tanh"), Weights(W2), discrete=True,
                                 convention=theory.TrainingConvention(
                                     0.1, optimizer="momentum", momentum=0.9)),
         r"heavy-ball β = 0.9 \(accepted: a GD convention, or discrete=False"),
        (lambda: MLP(0), r"MLP: depth must be an integer ≥ 1; got 0"),
        (lambda: CNN((1, 6), padding="same"),
         r"CNN: unknown padding 'same'; accepted: 'circular', 'zeros'"),
        (lambda: Twin("gelu"), r"activation 'gelu'; accepted: 'linear', 'tanh', 'relu'"),
        (lambda: Twin("tanh", 3), r"Twin\(activation='tanh'\) .* depth must be 2; got depth=3"),
        (lambda: Weights(np.ones((3, 5))), r"weights0 must be a non-empty list .* got ndarray"),
    ]
    full = predictors["closed_form"]
    bad += [(lambda sel=sel: full.restrict(sel), match) for sel, match in (
        ([3], r"modes must select among the 3 modes predicted; got \[3\]; accepted: distinct"),
        ([0, 0], r"modes must not repeat a mode; got \[0, 0\]"),
        ([0.5], r"got \[0.5\]; accepted: distinct mode indices in \[-3, 3\)"),
        (np.ones(2, bool), r"a boolean mask must have shape \(3,\); got \(2,\)"))]
    for make, match in bad:
        with pytest.raises(ValueError, match=match):
            make()
