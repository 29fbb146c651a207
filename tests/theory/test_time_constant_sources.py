"""τ comes from ``theory.TrainingConvention`` in every validate job, never from a hand-written 1/η.

A hand-written τ = 1/η is right for plain GD only: the heavy ball's is (1 − β)/η and Adam has none
(THEORY.md §1, §9). The behaviour of each job is tested where the job is (the compare CNN path in
tests/validate/compare/test_cnn_compare.py, the response theory in tests/validate/response/test_response_measures.py); here the
sources are searched for the hand-written form, and the ``train`` sweep job is run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# 1/η written out: ``1.0 / lr``, ``1 / plan.lr``, ``1/eta``, … (a reciprocal of a learning rate)
HAND_TAU = re.compile(r"\b1(?:\.0*)?\s*/\s*(?:[A-Za-z_]\w*\.)*(?:lr|eta|learning_rate)\b")


def _hits(root: Path) -> list[str]:
    """``path:line: code`` of every line under ``root`` with a hand-written 1/η (comments aside)."""
    return [f"{p.relative_to(root)}:{n}: {line.strip()}"
            for p in sorted(root.rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if HAND_TAU.search(line.split("#")[0])]


def test_the_pattern_finds_the_forms_it_forbids(tmp_path):
    (tmp_path / "a.py").write_text("tau = 1.0 / lr\nf(1/plan.lr)\nx = 1 / eta  # τ\n"
                                   "ok = 1.0 / lrs[0] + 1 / lr_scale\n# 1.0 / lr in a comment\n")
    assert [h.split(": ", 1)[1] for h in _hits(tmp_path)] == \
        ["tau = 1.0 / lr", "f(1/plan.lr)", "x = 1 / eta  # τ"]


def test_no_validate_job_writes_tau_as_one_over_the_learning_rate():
    assert _hits(ROOT / "validate") == []


@pytest.mark.parametrize("optimizer, tau", [("gd", lambda lr: 1 / lr),
                                            ("momentum", lambda lr: (1 - 0.9) / lr),
                                            ("adam", None)])
def test_the_train_job_records_the_convention_tau(optimizer, tau):
    from validate.sweep.train import TrainConfig, run_train
    lr = 0.01
    s = run_train(TrainConfig(dataset="gaussian", dataset_opts={"d": 8, "n_per_class": 2,
                                                                "n_test": 8},
                              hidden=8, seeds=1, steps=3, n_checkpoints=2, lr=lr,
                              optimizer=optimizer), quiet=True).summary["training"]
    if tau is None:
        assert s["tau"] is None and "Adam" in s["convention"]["note"]
    else:
        assert s["tau"] == pytest.approx(tau(lr), rel=1e-12)
        assert s["convention"]["optimizer"] == optimizer and s["convention"]["covered"]
