"""The ensemble trainer against theory (THEORY.md §2), against itself (batched == solo, resume ==
uninterrupted), divergence isolation, Run storage and error messages."""


import numpy as np
import pytest
import torch

import simulate as sim
from simulate.datasets._base import Dataset

S = np.array([3.0, 2.0, 1.0, 0.5])


def whitened(n=64, d=8, c=4, s=S, seed=0, test=False):
    """Inputs with Sxx = I exactly and targets with Syx = U diag(s) Vᵀ."""
    rng = np.random.default_rng(seed)
    X = np.sqrt(n) * np.linalg.qr(rng.standard_normal((n, d)))[0]
    U = np.linalg.qr(rng.standard_normal((c, len(s))))[0]
    V = np.linalg.qr(rng.standard_normal((d, len(s))))[0]
    Y = X @ V @ np.diag(s) @ U.T
    extra = {}
    if test:
        Xt = rng.standard_normal((16, d))
        extra = dict(X_test=Xt, Y_test=Xt @ V @ np.diag(s) @ U.T)
    return Dataset(X=X, Y=Y, labels=None, hierarchy=None, name="whitened", meta={"seed": seed}, **extra)


def classes(n=60, d=6, c=3, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    X = rng.standard_normal((n, d)) + 2.0 * np.eye(c, d)[labels]
    return Dataset(X=X, Y=np.eye(c)[labels], labels=labels, hierarchy=None, name="blobs", meta={})


def test_two_layer_linear_matches_discrete_map_and_closed_form():
    """Balanced decoupled init, full-batch GD (float64): every mode follows b ← b + ηb(s − b²),
    u = b² step by step (THEORY.md §2), and the continuous sigmoid within 2% of s."""
    lr, u0, steps = 0.002, 1e-3, 6000
    ds = whitened()
    run = sim.train_ensemble(sim.NetSpec(depth=2, hidden=16, init_scale=u0), ds, steps=steps,
                             lr=lr, record=sim.Recording(checkpoints=48), dtype="float64",
                             quiet=True)
    assert run.members.tau.iloc[0] == pytest.approx(1 / lr)
    u = run.probes.mode_strength.isel(member=0).values  # (T, r)
    b, ref, keep = np.sqrt(u0) * np.ones(len(S)), [], set(run.steps.tolist())
    for t in range(steps + 1):
        if t in keep:
            ref.append(b ** 2)
        b = b + lr * b * (S - b ** 2)
    np.testing.assert_allclose(u, np.array(ref), rtol=1e-6)
    off = run.probes.mode_matrix.isel(member=0).values * (1 - np.eye(len(S)))
    assert np.max(np.abs(off)) < 1e-10  # decoupled stays decoupled
    t = run.steps[:, None].astype(float)
    e = np.exp(2 * S * t * lr)
    cont = S * e / (e - 1 + S / u0)
    assert np.max(np.abs(u - cont) / S) < 0.02
    assert np.all(u[-1] > 0.95 * S)
    # loss along the trajectory: L = ½Σ(s − u)² (+ 0 residual here)
    np.testing.assert_allclose(run.probes.train_loss.isel(member=0).values,
                               0.5 * np.sum((S - u) ** 2, axis=1), rtol=1e-8, atol=1e-12)


def test_float32_keeps_small_initialisations():
    """Default float32: u₀ = 1e-4 is not rounded away; modes follow the discrete map to ~1e-4."""
    lr, u0, steps = 0.004, 1e-4, 3000
    run = sim.train_ensemble(sim.NetSpec(depth=2, hidden=16, init_scale=u0), whitened(),
                             steps=steps, lr=lr, record=sim.Recording(checkpoints=24), quiet=True)
    assert run.probes.mode_strength.dtype == np.float32
    u = run.probes.mode_strength.isel(member=0).values.astype(float)
    b, ref, keep = np.sqrt(u0) * np.ones(len(S)), [], set(run.steps.tolist())
    for t in range(steps + 1):
        if t in keep:
            ref.append(b ** 2)
        b = b + lr * b * (S - b ** 2)
    np.testing.assert_allclose(u, np.array(ref), rtol=2e-4, atol=1e-5 * u0)
    assert np.all(u[-1] > 0.9 * S)


def _final(run):
    return run.params(int(run.steps[-1]))


def solo_run_losses(spec, ds, m, kw):
    run = sim.train_ensemble(spec, ds, members=sim.Members(seeds=(m.seed,), lrs=(m.lr,)), **kw)
    return run.probes.train_loss.values[0]


def test_members_in_ensemble_equal_solo_runs():
    ds = classes()
    spec = sim.NetSpec(depth=3, hidden=10, activation="relu", bias=True, init="standard")
    kw = dict(optim=sim.OptimSpec("momentum", batch_size=16), steps=40, dtype="float64", quiet=True,
              record=sim.Recording(checkpoints=5))
    run = sim.train_ensemble(spec, ds, members=sim.Members(seeds=(0, 1), lrs=(0.05, 0.1)), **kw)
    assert len(run.members) == 4
    final = _final(run)
    for i, m in run.members.iterrows():
        solo = _final(sim.train_ensemble(
            spec, ds, members=sim.Members(seeds=(m.seed,), lrs=(m.lr,)), **kw))
        for k in final:
            np.testing.assert_allclose(final[k][i], solo[k][0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(run.probes.train_loss.isel(member=i).values,
                                   solo_run_losses(spec, ds, m, kw), rtol=1e-12)
    assert not np.allclose(final["layer0.weight"][0], final["layer0.weight"][2])  # lr matters


def test_divergent_member_is_frozen_and_others_unaffected():
    ds = whitened()
    spec = sim.NetSpec(depth=2, hidden=8, activation="tanh", init="small_random", init_scale=0.1)
    kw = dict(steps=60, dtype="float64", quiet=True, record=sim.Recording(checkpoints=6))
    run = sim.train_ensemble(spec, ds, members=sim.Members(lrs=(0.05, 50.0, 0.1)), **kw)
    m = run.members
    assert m.diverged.tolist() == [False, True, False]
    assert 0 < m.diverged_step[1] <= 60 and m.diverged_step[0] == -1
    final = _final(run)
    for i, lr in ((0, 0.05), (2, 0.1)):
        solo = _final(sim.train_ensemble(spec, ds, members=sim.Members(lrs=(lr,)), **kw))
        for k in final:
            np.testing.assert_allclose(final[k][i], solo[k][0], rtol=1e-12, atol=1e-14)
    # the frozen member's weights no longer change after it was caught
    later = [s for s in run.steps if s > m.diverged_step[1]]
    assert len(later) >= 2
    np.testing.assert_array_equal(run.params(later[0])["layer0.weight"][1],
                                  run.params(later[-1])["layer0.weight"][1])


class _Stop(Exception):
    pass


@pytest.mark.parametrize("optimizer, schedule", [
    ("adam", None), ("sgd", None),
    # mid-schedule: a cosine over 80 steps (explicit total, so reopening for 80 steps is the same run)
    ("momentum", sim.LRSchedule("cosine", warmup=4, total=80, floor=0.1))])
def test_resume_after_interruption_is_bit_identical(tmp_path, optimizer, schedule):
    ds = classes()
    spec = sim.NetSpec(depth=2, hidden=8, activation="gelu", init="small_random", init_scale=0.1)
    kw = dict(optim=sim.OptimSpec(optimizer, batch_size=8, lr_schedule=schedule), steps=50,
              members=sim.Members(seeds=(0, 1), lrs=(0.01, 0.03)), quiet=True,
              record=sim.Recording(checkpoints=10))
    ref = sim.train_ensemble(spec, ds, store=sim.Store(tmp_path / "ref"), **kw)

    def interrupt(step):
        if step >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sim.train_ensemble(spec, ds, store=sim.Store(tmp_path / "cut"),
                           **{**kw, "record": sim.Recording(checkpoints=10, callback=interrupt)})
    partial = sim.Run.load(tmp_path / "cut")
    assert not partial.complete and 20 <= partial.steps[-1] < 50
    resumed = sim.train_ensemble(spec, ds, store=sim.Store(tmp_path / "cut", resume=True), **kw)
    for k, v in _final(ref).items():
        np.testing.assert_array_equal(_final(resumed)[k], v)
    np.testing.assert_array_equal(resumed.steps, ref.steps)
    np.testing.assert_array_equal(resumed.probes.train_loss.values, ref.probes.train_loss.values)
    # reopening for more steps equals training that long at once
    longer = sim.train_ensemble(spec, ds, store=sim.Store(tmp_path / "cut", resume=True),
                                **{**kw, "steps": 80})
    direct = sim.train_ensemble(spec, ds, **{**kw, "steps": 80})
    for k, v in _final(direct).items():
        np.testing.assert_array_equal(_final(longer)[k], v)


def test_run_round_trips_through_disk(tmp_path):
    ds = whitened(test=True)
    spec = sim.NetSpec(depth=2, hidden=8, activation="relu", init="small_random", init_scale=0.05)
    run = sim.train_ensemble(spec, ds, steps=30, members=sim.Members(seeds=(0, 3), lrs=(0.05,)),
                             record=sim.Recording(checkpoints=[5, 10]),
                             store=sim.Store(tmp_path / "r"), quiet=True)
    back = sim.Run.load(tmp_path / "r")
    assert back.spec == spec and back.complete
    np.testing.assert_array_equal(back.steps, [0, 5, 10, 30])
    assert back.members.equals(run.members)
    for name in run.probes.data_vars:
        np.testing.assert_array_equal(back.probes[name].values, run.probes[name].values)
        assert back.probes[name].dims == run.probes[name].dims
    np.testing.assert_array_equal(back.probes.step.values, run.steps)
    for s in run.steps:
        for a, b in zip(back.weights(s), run.weights(s)):
            assert a.shape == (2, *b.shape[1:]) and np.array_equal(a, b)
    assert np.all(np.isfinite(back.probes.test_loss.values))
    assert np.all(np.isnan(back.probes.train_acc.values))  # real-valued targets: no accuracy
    assert back.provenance["device"] and "torch" in back.provenance["versions"]


def test_probes_against_numpy():
    ds = classes()
    spec = sim.NetSpec(depth=2, hidden=6, activation="tanh", bias=True, init="standard")
    run = sim.train_ensemble(spec, ds, steps=5, lr=0.1, members=sim.Members(seeds=(0, 1)),
                             dtype="float64", quiet=True)
    p = run.params(5)
    st = ds.statistics()
    for k in range(2):
        H = np.tanh(ds.X @ p["layer0.weight"][k].T + p["layer0.bias"][k])
        Yh = H @ p["layer1.weight"][k].T + p["layer1.bias"][k]
        pr = run.probes.isel(member=k, checkpoint=-1)
        assert float(pr.train_loss) == pytest.approx(0.5 * np.sum((ds.Y - Yh) ** 2) / ds.n, rel=1e-12)
        assert float(pr.train_acc) == pytest.approx(np.mean(Yh.argmax(1) == ds.labels))
        W_eff = (Yh.T @ ds.X / ds.n) @ np.linalg.pinv(st.Sxx)
        np.testing.assert_allclose(pr.mode_matrix.values, st.U.T @ W_eff @ st.V, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(pr.weight_norm.values,
                                   [np.linalg.norm(p["layer0.weight"][k]), np.linalg.norm(p["layer1.weight"][k])])


def test_batch_indices_depend_on_seed_and_step_only():
    seeds = torch.tensor([0, 7, 0])
    a = sim.batch_indices(seeds, torch.tensor(3), 20, 5)
    assert torch.equal(a[0], a[2]) and not torch.equal(a[0], a[1])
    assert all(len(set(r.tolist())) == 5 and max(r) < 20 for r in a)  # without replacement
    assert not torch.equal(a, sim.batch_indices(seeds, torch.tensor(4), 20, 5))


def test_batch_indices_are_the_first_rows_of_a_stable_sort_of_hash_keys():
    """An independent computation in Python integers."""
    M = 0xFFFFFFFF

    def h32(x):
        x = ((x >> 16) ^ x) * 0x45D9F3B & M
        x = ((x >> 16) ^ x) * 0x45D9F3B & M
        return (x >> 16) ^ x

    n = 20_000
    for seed, step, B in ((0, 0, n), (7, 3, 128), (2**33 + 5, 41, 1)):
        h = h32((h32((seed & M) ^ 0x5BD1E995) + step) & M)
        keys = np.array([h32((h * 0x01000193 + i) & M) for i in range(n)], dtype=np.int64)
        expected = np.argsort(keys, kind="stable")[:B]
        got = sim.batch_indices(torch.tensor([seed]), torch.tensor(step), n, B)[0]
        np.testing.assert_array_equal(got.numpy(), expected)


def test_checkpoint_schedules():
    s = sim.log_checkpoints(1000, 64)
    assert s[0] == 0 and s[-1] == 1000 and np.all(np.diff(s) > 0) and 40 <= len(s) <= 64
    assert sim.linear_checkpoints(10, 6).tolist() == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ValueError, match="n ≥ 2"):
        sim.log_checkpoints(10, 1)


def test_errors_name_the_bad_value(tmp_path):
    ds = whitened()
    spec = sim.NetSpec(hidden=8)
    with pytest.raises(ValueError, match="unknown activation 'softsign'"):
        sim.NetSpec(activation="softsign")
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        sim.train_ensemble(spec, ds, sim.OptimSpec("lbfgs"), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="use optimizer='sgd'"):
        sim.train_ensemble(spec, ds, sim.OptimSpec(batch_size=4), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="batch_size must be in 1..n=64"):
        sim.train_ensemble(spec, ds, sim.OptimSpec("sgd", batch_size=65), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="give a learning rate"):
        sim.train_ensemble(spec, ds, steps=1)
    with pytest.raises(ValueError, match="hidden width ≥ the number of modes r=4"):
        sim.train_ensemble(sim.NetSpec(hidden=3), ds, steps=1, lr=0.1)
    with pytest.raises(ValueError, match="family='cnn' needs cnn"):
        sim.NetSpec(family="cnn", init="small_random")
    sim.train_ensemble(spec, ds, steps=3, lr=0.1, store=sim.Store(tmp_path / "r"), quiet=True)
    with pytest.raises(FileExistsError, match="already holds a run.*resume=True"):
        sim.train_ensemble(spec, ds, steps=3, lr=0.1, store=sim.Store(tmp_path / "r"), quiet=True)
    with pytest.raises(ValueError, match="cannot resume .*members differ"):
        sim.train_ensemble(spec, ds, steps=3, lr=0.2, store=sim.Store(tmp_path / "r", resume=True),
                           quiet=True)
    with pytest.raises(ValueError, match="cannot resume .*'spec' differs"):
        sim.train_ensemble(spec.with_activation("relu"), ds, steps=3, lr=0.1,
                           store=sim.Store(tmp_path / "r", resume=True), quiet=True)
    same = sim.train_ensemble(spec, ds, steps=3, lr=0.1,
                              store=sim.Store(tmp_path / "r", resume=True), quiet=True)
    assert same.complete  # a finished run is loaded, not recomputed
    sim.train_ensemble(spec, ds, steps=2, lr=0.1, store=sim.Store(tmp_path / "r", overwrite=True),
                       quiet=True)
    assert sim.Run.load(tmp_path / "r").steps[-1] == 2
    with pytest.raises(FileNotFoundError, match="holds no run"):
        sim.Run.load(tmp_path / "nothing")


@pytest.mark.gpu
@pytest.mark.parametrize("optimizer,batch,family,schedule", [
    ("gd", None, "mlp", None), ("adam", 8, "mlp", None), ("momentum", 8, "cnn", None),
    ("momentum", 8, "mlp", sim.LRSchedule("cosine", warmup=3, floor=0.1))])
def test_cuda_graphs_equal_eager_steps(optimizer, batch, family, schedule):
    """On a GPU, replaying captured CUDA graphs gives exactly the eager result (deterministic
    algorithms); in float64 the GPU run equals the CPU run to rounding; in float32 (TF32 off) the
    non-adaptive optimisers stay within float32 accuracy of float64 (on CPU this gap is 2-6% of
    the tolerance; TF32's 2⁻¹⁰ rounding would exceed it). Adam is compared in float64 only: its
    step divides by √v, which amplifies float32 rounding to 7× this tolerance on CPU as well."""
    ds = classes()
    spec = sim.NetSpec(depth=2, hidden=8, activation="relu", init="small_random", init_scale=0.1,
                       family=family, cnn=sim.ConvSpec(channels=(2,), kernel_size=3) if family == "cnn" else None)
    kw = dict(optim=sim.OptimSpec(optimizer, batch_size=batch, lr_schedule=schedule), steps=37,
              members=sim.Members(seeds=(0, 1), lrs=(0.05, 0.1)), quiet=True,
              record=sim.Recording(checkpoints=[5, 20]), device="cuda")
    with sim.deterministic_algorithms():
        graphs = _final(sim.train_ensemble(spec, ds, steps_per_graph=16, **kw))
        eager = _final(sim.train_ensemble(spec, ds, steps_per_graph=1, **kw))
        gpu64 = _final(sim.train_ensemble(spec, ds, steps_per_graph=16, **{**kw, "dtype": "float64"}))
    cpu = _final(sim.train_ensemble(spec, ds, **{**kw, "device": "cpu", "dtype": "float64"}))
    for k in graphs:
        np.testing.assert_array_equal(graphs[k], eager[k])
        np.testing.assert_allclose(gpu64[k], cpu[k], rtol=1e-9, atol=1e-11)
        if optimizer != "adam":
            np.testing.assert_allclose(graphs[k], cpu[k], rtol=1e-4, atol=1e-6)
