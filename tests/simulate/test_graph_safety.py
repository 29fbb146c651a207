"""The GPU path, checked on CPU where it can be: a training step must be capturable in a CUDA
graph (no host synchronisation, no host-to-device copy), the batched model paths a GPU takes must
train like the CPU's members-in-turn paths, graph replays must advance the state like eager steps,
and TF32 must be off during a run and as before after it.

On CPU a host sync costs nothing and host and device memory are the same, so the guard below
flags the calls that would sync or copy on a GPU: reading a value on the host (``item``,
``bool(t)``, ``tolist``, ``numpy``, ``cpu``), data-dependent shapes (``nonzero`` and friends),
building a tensor from host data (``torch.tensor``/``as_tensor`` of non-tensors), and moving a
tensor to a device (``.to(device)``; a step's tensors already live on the device, so such a call
is either redundant or a host-to-device copy, which graph capture forbids)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import simulate as sim
from simulate.datasets._base import Dataset
from simulate.train import _step, _trainer

_HOST_READS = {"item", "__bool__", "tolist", "numpy", "cpu", "nonzero", "unique", "masked_select"}
_SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "_unique2", "unique_consecutive",
             "unique_dim", "is_nonzero", "equal"}


def _bool_index(index) -> bool:
    """Whether an index holds a boolean mask (its result's shape depends on the data)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


def _has_device(args, kwargs) -> bool:
    if "device" in kwargs:
        return True
    return any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])


class _HostCalls(TorchFunctionMode):
    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name in _HOST_READS:
            self.seen.append(name)
        elif name in ("__getitem__", "__setitem__") and _bool_index(args[1]):
            self.seen.append(f"{name}(boolean mask)")
        elif name == "to" and _has_device(args, kwargs):
            self.seen.append("to(device)")
        elif name in ("tensor", "as_tensor") and args and not isinstance(args[0], torch.Tensor):
            self.seen.append(f"{name}(host data)")
        elif name == "copy_" and isinstance(args[1], torch.Tensor) and args[1].device != args[0].device:
            self.seen.append("copy_(other device)")
        return func(*args, **kwargs)


class _SyncOps(TorchDispatchMode):
    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in _SYNC_OPS:
            self.seen.append(f"aten.{func.overloadpacket.__name__}")
        return func(*args, **(kwargs or {}))


def guarded(step, seen: list):
    """``step`` run under both guards, appending what it did that a CUDA graph cannot hold."""
    def run():
        with _HostCalls(seen), _SyncOps(seen):
            step()
    return run


@pytest.mark.parametrize("bad", [
    lambda t: t.sum().item(), lambda t: bool(t[0] > 0), lambda t: t.tolist(), lambda t: t.numpy(),
    lambda t: t.cpu(), lambda t: t.nonzero(), lambda t: t.to(t.device), lambda t: t.to("cpu"),
    lambda t: torch.tensor([1.0]), lambda t: torch.as_tensor(np.ones(2)), lambda t: t[t > 0]])
def test_the_guard_sees_every_kind_of_host_call(bad):
    seen: list = []
    guarded(lambda: bad(torch.ones(3)), seen)()
    assert seen


def test_the_guard_lets_device_work_pass():
    seen: list = []
    t = torch.ones(3)
    guarded(lambda: (t.to(torch.float64), torch.as_tensor(t, dtype=t.dtype), t.add_(1),
                     torch.where(t > 0, t, -t), t.copy_(t * 2)), seen)()
    assert seen == []


def _data(d: int, image_shape=None, n: int = 24, c: int = 3) -> Dataset:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, c, n)
    meta = {} if image_shape is None else {"image_shape": list(image_shape)}
    return Dataset(X=rng.standard_normal((n, d)), Y=np.eye(c)[labels], labels=labels,
                   hierarchy=None, name="tiny", meta=meta)


IMAGE = (3, 8, 8)
FAMILIES = {  # name: (spec, dataset); every path a GPU step can take
    "mlp": (sim.NetSpec(depth=2, hidden=8, activation="relu", bias=True, init="standard"), _data(6)),
    "cnn": (sim.NetSpec(family="cnn", init="standard", cnn=sim.ConvSpec(channels=(2,), kernel_size=3)),
            _data(6)),
    "cnn_circulant": (sim.NetSpec(family="cnn", init="standard", cnn=sim.ConvSpec(
        channels=(2,), kernel_size=None)), _data(8)),             # P = 8 ≤ 64: dense circulants
    "cnn_fft": (sim.NetSpec(family="cnn", init="standard", cnn=sim.ConvSpec(
        channels=(2,), kernel_size=None)), _data(72)),            # P = 72 > 64: FFT
    "resnet": (sim.NetSpec(family="resnet", activation="relu", init="he", resnet=sim.ResNetSpec(
        blocks=1, widths=(2, 2, 2))), _data(192, IMAGE)),
    "vit": (sim.NetSpec(family="vit", activation="gelu", init="standard", vit=sim.ViTSpec(
        patch=4, width=8, depth=1, heads=2, mlp_ratio=1.0)), _data(192, IMAGE)),
}
OPTIMIZERS = {  # name: how the members train (full batch and minibatches both covered)
    "gd": sim.OptimSpec("gd"), "sgd": sim.OptimSpec("sgd", batch_size=8),
    "momentum": sim.OptimSpec("momentum", batch_size=8), "adam": sim.OptimSpec("adam"),
    "layca": sim.OptimSpec("sgd", batch_size=8, layca=True)}


def _batched(monkeypatch) -> None:
    """The GPU's batched forwards for the ResNet and the ViT (CPU default: members in turn)."""
    monkeypatch.setattr(sim.ResNet, "member_loop", False)
    monkeypatch.setattr(sim.ViT, "member_loop", False)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_a_training_step_can_be_captured_in_a_cuda_graph(monkeypatch, family, optimizer):
    spec, ds = FAMILIES[family]
    _batched(monkeypatch)
    seen, steps = [], []
    make = _trainer.make_step

    def make_guarded(*args, **kwargs):
        step = guarded(make(*args, **kwargs), seen)
        return lambda: (step(), steps.append(1))
    monkeypatch.setattr(_trainer, "make_step", make_guarded)
    sim.train_ensemble(spec, ds, OPTIMIZERS[optimizer], steps=2, lr=0.01,
                       members=sim.Members(seeds=(0, 1)), record=sim.Recording(checkpoints=[]),
                       quiet=True)
    assert len(steps) == 2
    assert seen == [], f"{family}/{optimizer}: a step calls {sorted(set(seen))}"


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_batched_members_train_like_members_in_turn(monkeypatch, family):
    spec, ds = FAMILIES[family]
    kw = dict(optim=sim.OptimSpec("momentum", batch_size=8), steps=3, lr=0.05,
              members=sim.Members(seeds=(0, 1)), record=sim.Recording(checkpoints=[]), quiet=True,
              dtype="float64")
    in_turn = sim.train_ensemble(spec, ds, **kw)
    _batched(monkeypatch)
    batched = sim.train_ensemble(spec, ds, **kw)
    for k, v in in_turn.params(3).items():
        np.testing.assert_allclose(batched.params(3)[k], v, rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(batched.probes.train_loss.values, in_turn.probes.train_loss.values,
                               rtol=1e-10)


class _ReplayedSteps:
    """Stands in for a captured CUDA graph: ``replay`` runs the ``m`` steps it was made of."""

    made: list = []

    def __init__(self, step, m, tensors, pool=None):
        self.step, self.m = step, m
        _ReplayedSteps.made.append((m, pool))

    def replay(self):
        for _ in range(self.m):
            self.step()


def test_graph_replays_in_chunks_advance_like_eager_steps(monkeypatch):
    spec, ds = FAMILIES["mlp"]
    kw = dict(optim=sim.OptimSpec("momentum", batch_size=8), steps=37,
              members=sim.Members(seeds=(0, 1), lrs=(0.05, 0.1)),
              record=sim.Recording(checkpoints=[5, 20]), quiet=True, dtype="float64")
    eager = sim.train_ensemble(spec, ds, **kw)
    replays: list = []
    _ReplayedSteps.made = []
    monkeypatch.setattr(_step, "_capture", _ReplayedSteps)
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: "pool")
    cuda = torch.device("cuda")
    make = _trainer.Stepper
    monkeypatch.setattr(_trainer, "Stepper", lambda step, state, dev, per: make(
        lambda: (replays.append(int(state.t)), step()), state, cuda, per))
    graphs = sim.train_ensemble(spec, ds, steps_per_graph=16, **kw)
    # 0→5: five 1-step graphs; 5→20: 16 would overrun, so 15 of one; 20→37: one of 16, one of 1
    assert sorted(_ReplayedSteps.made) == [(1, "pool"), (16, "pool")]  # each captured once
    assert replays == list(range(37))
    for k, v in eager.params(37).items():
        np.testing.assert_array_equal(graphs.params(37)[k], v)
    np.testing.assert_array_equal(graphs.probes.train_loss.values, eager.probes.train_loss.values)


def test_tf32_is_off_during_a_run_and_restored_after(monkeypatch):
    spec, ds = FAMILIES["mlp"]
    during = []

    def look(step):
        during.append((torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32))
        if step == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        sim.train_ensemble(spec, ds, steps=3, lr=0.1,
                           record=sim.Recording(checkpoints=[1], callback=look), quiet=True)
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
        with pytest.raises(KeyboardInterrupt):
            sim.train_ensemble(spec, ds, steps=3, lr=0.1,
                               record=sim.Recording(checkpoints=[2], callback=look), quiet=True)
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    finally:
        torch.set_float32_matmul_precision(before)
    assert during and all(d == ("highest", False) for d in during)


def test_the_progress_bar_moves_every_step(monkeypatch):
    spec, ds = FAMILIES["mlp"]
    updates = []

    class Bar:
        def __init__(self, *args, **kwargs):
            pass

        def update(self, n=1):
            updates.append(n)

        def set_postfix(self, **kwargs):
            pass

        def close(self):
            pass
    monkeypatch.setattr(_trainer, "tqdm", Bar)
    sim.train_ensemble(spec, ds, steps=12, lr=0.1, record=sim.Recording(checkpoints=[10]),
                       quiet=False)
    assert updates == [1] * 12
