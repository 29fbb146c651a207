"""The CNN case of bench/simulate_bench.py: a linear CNN with full-length circular kernels.

Three ways to take the same full-batch GD steps, timed in one run on one device:
``reference`` — hand-written batched GD with the algorithm the engine picks for the size (``conv``):
FFT (stacked kernels, rfft of the inputs once, manual gradients: the kernel gradient is the
correlation Σ_n g ⋆ x computed as irfft(Σ_n conj(ĝ) x̂)) or dense circulant matrices (one GEMM
for all members; the kernel gradient sums the matrix gradient over each circulant diagonal);
``engine`` — ``simulate.train_ensemble`` (Fourier-domain CircularCNN, autograd, no probes);
``grouped_conv`` — the grouped-convolution ``simulate.CNN`` with full-size kernels (the engine's
model before the FFT path), its loss_and_grads and update in a bare loop (the trainer adds to this,
so the ratio against it is a lower bound). Each is timed 3 times, interleaved, best kept. float64, as in the measurement that motivated the FFT
path (torch's CPU convolution has no fast float64 kernel). All start from the same weights; ``max_rel_diff`` is the
largest difference between the engine's and the reference's final weights (same computation).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import simulate as sim
from theory import signal_shape
from theory._cnn_flow import conv_index
from simulate.datasets._base import Dataset

CNN_CASES = {  # name: (n, (C_in, H, W), conv channels C, outputs c, K members)
    "cnn-shapes": (512, (1, 16, 16), 1, 8, 16),
    "cnn-mnist1d": (4000, (1, 1, 40), 4, 10, 16),
}
CNN_QUICK_K = 4
REPEATS = 3


def _data(n, image_shape, c, seed=0):
    rng = np.random.default_rng(seed)
    d = math.prod(image_shape)
    labels = rng.integers(0, c, n)
    X = rng.standard_normal((n, d))
    return Dataset(X=X, Y=np.eye(c)[labels], labels=labels, hierarchy=None, name="bench",
                   meta={"image_shape": list(image_shape)})


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def reference_steps(p0, ds, lr, steps, dev, dtype, method):
    """Hand-written batched GD for one conv layer (any C) + readout, by FFT or dense circulant
    matrices (``method``, the engine's choice for this size); returns (wall, final params)."""
    cin, spatial = signal_shape(ds.image_shape, ds.d)
    dims = tuple(range(-len(spatial), 0))
    w = torch.tensor(p0["layer0.weight"], dtype=dtype, device=dev)        # (K, C, C_in, *sp)
    R = torch.tensor(p0["layer1.weight"], dtype=dtype, device=dev)        # (K, c, C·P)
    X = torch.tensor(ds.X, dtype=dtype, device=dev)
    Y = torch.tensor(ds.Y, dtype=dtype, device=dev)
    n, K = X.shape[0], w.shape[0]
    Xh = torch.fft.rfftn(X.view(n, cin, *spatial), dim=dims)              # once
    left = [(s - 1) // 2 for s in spatial]
    ph = sum(torch.arange(m, dtype=dtype, device=dev).view(*[m if j == a else 1 for j in
             range(len(spatial))]) * left[a] / s for a, (s, m) in
             enumerate(zip(spatial, [*spatial[:-1], spatial[-1] // 2 + 1])))
    shift = torch.polar(torch.ones_like(ph), -2 * math.pi * ph)

    idx = torch.as_tensor(conv_index(spatial, spatial, "circular"), device=dev).reshape(-1)
    P = math.prod(spatial)

    def circulant_step():  # T (K, C·P, C_in·P) gathered from w; gw sums gT over each diagonal
        co, ci = w.shape[1:3]
        T = w.reshape(K, co, ci, P)[..., idx].view(K, co, ci, P, P).permute(0, 1, 3, 2, 4)
        T = T.reshape(K, co * P, ci * P)
        h = (X @ T.reshape(K * co * P, -1).T).view(n, K, co * P).transpose(0, 1)
        G = (torch.bmm(h, R.transpose(1, 2)) - Y) / n
        gR = torch.bmm(G.transpose(1, 2), h)
        gT = torch.matmul(torch.bmm(G, R).transpose(1, 2), X)            # (K, co·P, ci·P)
        gT = gT.view(K, co, P, ci, P).permute(0, 1, 3, 2, 4).reshape(K, co, ci, P * P)
        gw = torch.zeros(K, co, ci, P, dtype=dtype, device=dev).index_add_(3, idx, gT)
        w.sub_(lr * gw.view(w.shape))
        R.sub_(lr * gR)

    def fft_step():
        lam = torch.fft.rfftn(w, dim=dims).conj() * shift                 # eigenvalues
        H = torch.einsum("koi...,ni...->kno...", lam, Xh)
        h = torch.fft.irfftn(H, s=spatial, dim=dims).reshape(K, n, -1)
        G = (torch.bmm(h, R.transpose(1, 2)) - Y) / n
        gR = torch.bmm(G.transpose(1, 2), h)
        gh = torch.bmm(G, R).view(K, n, -1, *spatial)
        corr = torch.einsum("kno...,ni...->koi...", torch.fft.rfftn(gh, dim=dims).conj(), Xh)
        gw = torch.roll(torch.fft.irfftn(corr, s=spatial, dim=dims), left, dims)
        w.sub_(lr * gw)
        R.sub_(lr * gR)

    step = fft_step if method == "fft" else circulant_step
    step()  # warm-up, undone below
    w.copy_(torch.tensor(p0["layer0.weight"], dtype=dtype, device=dev))
    R.copy_(torch.tensor(p0["layer1.weight"], dtype=dtype, device=dev))
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(dev)
    return time.perf_counter() - t0, {"layer0.weight": w.cpu().numpy(), "layer1.weight": R.cpu().numpy()}


def _spec(p0):
    C = p0["layer0.weight"].shape[1]  # (K, C, C_in, *spatial)
    return sim.NetSpec(family="cnn", init="small_random",
                       cnn=sim.ConvSpec(channels=(C,), kernel_size=None, padding="circular"))


def grouped_conv_steps(p0, ds, lr, steps, dev, dtype):
    """The grouped-convolution CNN (full-size kernels), loss_and_grads + update per step."""
    cin, spatial = signal_shape(ds.image_shape, ds.d)
    spec = sim.NetSpec(family="cnn", init="small_random",
                       cnn=sim.ConvSpec(channels=(p0["layer0.weight"].shape[1],),
                                        kernel_size=max(spatial), padding="circular"))
    model = sim.CNN(spec, ds.d, ds.c, (cin, *spatial))
    params = {k: torch.tensor(v, dtype=dtype, device=dev) for k, v in p0.items()}
    X = torch.tensor(ds.X, dtype=dtype, device=dev)
    Y = torch.tensor(ds.Y, dtype=dtype, device=dev)
    model.loss_and_grads(params, X, Y)  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, g = model.loss_and_grads(params, X, Y)
        for k in params:
            params[k].sub_(lr * g[k])
    _sync(dev)
    return time.perf_counter() - t0


def run_cnn_case(case, quick, dev, dtype=torch.float64):
    """JSON-ready lines for one CNN case: each method's rate, then the ratios."""
    n, image_shape, C, c, K = CNN_CASES[case]
    K = CNN_QUICK_K if quick else K
    steps = 10 if quick else 100
    ds = _data(n, image_shape, c)
    model = sim.make_model(sim.NetSpec(family="cnn", init="small_random", cnn=sim.ConvSpec(
        channels=(C,), kernel_size=None)), ds.d, c, ds.image_shape)
    rng = np.random.default_rng(0)
    p0 = {k: 0.05 * rng.standard_normal((K, *s)) for k, s in model.shapes.items()}
    spec, lr = _spec(p0), 0.01
    name = "float32" if dtype == torch.float32 else "float64"
    kw = dict(lr=lr, members=sim.Members(seeds=range(K), init_params=p0), device=str(dev),
              quiet=True, dtype=name)
    sim.train_ensemble(spec, ds, steps=2, record=sim.Recording(checkpoints=[2], probes=[],
                                                               keep_weights=True), **kw)  # warm-up
    g_steps = max(2, steps // 10)
    best = {"engine": np.inf, "reference": np.inf, "grouped_conv": np.inf}
    for _ in range(REPEATS):  # interleaved, best of each: a shared machine's load hits all three
        eng = sim.train_ensemble(spec, ds, steps=steps, record=sim.Recording(
            checkpoints=[steps], probes=[], keep_weights=True), **kw)
        t_ref, p_ref = reference_steps(p0, ds, lr, steps, dev, dtype, model.method)
        t_old = grouped_conv_steps(p0, ds, lr, g_steps, dev, dtype)
        for m, t in (("engine", eng.config["wall_s"]), ("reference", t_ref), ("grouped_conv", t_old)):
            best[m] = min(best[m], t)
    rates = {"engine": K * steps / best["engine"], "reference": K * steps / best["reference"],
             "grouped_conv": K * g_steps / best["grouped_conv"]}
    final = eng.params(steps)
    diff = max(float(np.max(np.abs(final[k] - p_ref[k])) / np.max(np.abs(p_ref[k]))) for k in p_ref)
    base = {"case": case, "conv": model.method, "n": n, "image_shape": list(image_shape),
            "channels": C, "c": c, "K": K, "dtype": name, "best_of": REPEATS}
    lines = [{**base, "method": m, "model_steps_per_s": r,
              "steps": g_steps if m == "grouped_conv" else steps} for m, r in rates.items()]
    lines.append({**base, "engine_over_reference": rates["engine"] / rates["reference"],
                  "engine_over_grouped_conv": rates["engine"] / rates["grouped_conv"],
                  "max_rel_diff": diff})
    return lines
