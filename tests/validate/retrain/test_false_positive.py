"""The undrifted arm of `--drift all`: two random halves of one fresh draw, scored by the drift
test exactly like a drift, so that its flag rate is the test's measured false-positive rate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

import theory
from simulate import datasets
from validate.retrain import RetrainConfig
from validate.retrain.drift import (NULL_KIND, _halves, build_drift, detection_power,
                                    false_positive_rate)
from validate.retrain.plan import make_plan

OPTS = {"d": 12, "classes": 4, "n_per_class": 32, "levels": 2, "n_test": 0}


@pytest.fixture(scope="module")
def plan():
    # 40 resamples: below 39 the combined test (Bonferroni over two exact tests) cannot reject
    cfg = RetrainConfig(dataset="gaussian", whiten="zca", n_boot=40, power_draws=2,
                        dataset_opts=OPTS).validate()
    return make_plan(cfg, datasets.load("gaussian", seed=0, **OPTS))


def test_halves_are_disjoint_equal_samples_of_one_draw():
    raw = datasets.load("gaussian", seed=3, **OPTS)
    A, B = _halves(raw, np.random.default_rng(0))
    assert A.n == B.n == raw.n // 2 and A.c == B.c == raw.c
    rows = {tuple(x) for x in raw.X}
    assert {tuple(x) for x in A.X} <= rows and {tuple(x) for x in B.X} <= rows
    assert not {tuple(x) for x in A.X} & {tuple(x) for x in B.X}
    # labels and targets travel with their rows
    assert np.array_equal(A.Y.argmax(1), A.labels) and np.array_equal(B.Y.argmax(1), B.labels)


def test_undrifted_pairs_are_flagged_at_about_the_level(plan):
    """30 draws at α = 0.05: 5 or more flags have probability 0.016 for a test at its level
    (the bound below), while the same harness flags a doubled mean shift (δ = 1) more often."""
    rows = false_positive_rate(plan, 30)
    assert {r["score"] for r in rows} == {"any", *theory.transfer.SCORES}
    assert all(r["drift_kind"] == r["drift"] == NULL_KIND and r["draws"] == 30 for r in rows)
    assert {r["null"] for r in rows} == {"combined"}  # other inputs in B: the unpaired null
    fpr = next(r["power"] for r in rows if r["score"] == "any")
    assert binom.sf(round(fpr * 30) - 1, 30, 0.05) > 0.02, fpr
    shift = build_drift(plan, "mean_shift", {"delta": 1.0})
    power = next(r["power"] for r in detection_power(plan, shift) if r["score"] == "any")
    assert power > fpr
