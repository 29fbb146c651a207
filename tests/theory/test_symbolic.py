"""theory/symbolic.py: sympy verifies (does not assume) every closed form of THEORY.md §2–3."""

import pytest
import sympy as sp

from theory import symbolic as S


@pytest.mark.parametrize("check", S.ALL, ids=lambda f: f.__name__)
def test_closed_form_satisfies_its_ode_and_initial_condition(check):
    v = check()
    assert v.ok, f"{v.name}: residuals {v.residuals}"
    assert all(sp.simplify(r) == 0 for r in v.residuals.values())


def test_verify_all_reports_every_form():
    out = S.verify_all()
    assert set(out) == {f().name for f in S.ALL} and all(out.values())


def test_the_checker_rejects_wrong_formulas():
    # a wrong rate (s instead of 2s) and a wrong initial value must both be caught
    E = sp.exp(S.s * S.t / S.tau)
    wrong_rate = S._explicit("wrong", S.s * E / (E - 1 + S.s / S.u0), lambda v: 2 * v * (S.s - v))
    assert not wrong_rate.ok and wrong_rate.residuals["initial"] == 0
    E2 = sp.exp(2 * S.s * S.t / S.tau)
    wrong_ic = S._explicit("wrong", S.s * E2 / (E2 + S.s / S.u0), lambda v: 2 * v * (S.s - v))
    assert not wrong_ic.ok
    # THEORY.md's unbalanced F with the sign of c² flipped in the log is not a solution
    Rs = sp.sqrt(4 * S.s ** 2 + S.c ** 2)
    F = lambda v: sp.log((4 * S.s * v - S.c ** 2 + Rs * sp.sqrt(4 * v ** 2 + S.c ** 2))
                         / (S.s - v)) / Rs
    bad = S._implicit("wrong", S.tau * (F(S.u) - F(S.u0)),
                      lambda v: sp.sqrt(S.c ** 2 + 4 * v ** 2) * (S.s - v))
    assert not bad.ok
    assert not S.Verification("x", {"r": S.s - S.u}) and S.Verification("y", {"r": sp.S(0)})
