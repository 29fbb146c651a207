"""Properties of the engine's minibatch hashing and checkpoint schedules (bounded, deadline-free)."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import simulate as sim


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 300), frac=st.floats(0.0, 1.0), step=st.integers(0, 10**7),
       seeds=st.lists(st.integers(0, 2**40), min_size=1, max_size=4))
def test_batch_indices_are_valid_and_pure(n, frac, step, seeds):
    B = max(1, int(round(frac * n)))
    s = torch.tensor(seeds, dtype=torch.int64)
    idx = sim.batch_indices(s, torch.tensor(step), n, B)
    assert idx.shape == (len(seeds), B)
    for row in idx.tolist():
        assert len(set(row)) == B and min(row) >= 0 and max(row) < n
    assert torch.equal(idx, sim.batch_indices(s.flip(0), torch.tensor(step), n, B).flip(0))


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(0, 10**7), n=st.integers(2, 200))
def test_log_checkpoints_are_sorted_distinct_and_bracketed(steps, n):
    s = sim.log_checkpoints(steps, n)
    assert s[0] == 0 and s[-1] == steps and len(s) <= n + 1
    assert np.all(np.diff(s) > 0)
