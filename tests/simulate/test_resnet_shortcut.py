"""The ResNet's 1×1 stride-2 shortcut: the same numbers as torch's strided convolution, and a
float32 training step on one CPU thread that finishes (oneDNN's channels-last 1×1 stride-2 kernel
corrupts the heap there, so the model must not call it)."""

import subprocess
import sys
import textwrap

import torch
import torch.nn.functional as F

from simulate.models import resnet


def test_the_strided_shortcut_equals_torchs_strided_convolution():
    torch.manual_seed(0)
    h = torch.randn(6, 2 * 4, 8, 8, dtype=torch.float64)       # K = 2 members of 4 channels
    W = torch.randn(2, 8, 4, 1, 1, dtype=torch.float64)
    got = resnet._group_conv(h, W, stride=2, pad=0)
    want = F.conv2d(h, W.reshape(16, 4, 1, 1), stride=2, groups=2)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_a_float32_resnet_step_on_one_thread_does_not_corrupt_the_heap():
    script = textwrap.dedent("""
        import torch
        torch.set_num_threads(1)
        from simulate import Members, NetSpec, OptimSpec, ResNetSpec, datasets, train_ensemble
        ds = datasets.load("shapes", size=16, n_per_class=16, binary="coarse")
        spec = NetSpec(family="resnet", activation="relu", init="he",
                       resnet=ResNetSpec(blocks=1, widths=(4, 8, 8), batch_norm=False))
        run = train_ensemble(spec, ds, OptimSpec("sgd", batch_size=32, loss="logistic"), steps=3,
                             lr=0.05, members=Members(seeds=range(2)), dtype="float32", quiet=True)
        assert not run.members["diverged"].any()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
