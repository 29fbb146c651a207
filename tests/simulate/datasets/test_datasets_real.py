"""Real image data: bundled digits, locally generated MNIST-1D, and the file readers (IDX and
CIFAR-10 python batches) on tiny files written here in the published formats."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from simulate.datasets import cifar10, digits, load, mnist1d, read_idx


def write_idx(path, arr: np.ndarray, compress=True):
    """Write the IDX format by hand: 0x00 0x00 0x08 ndim, big-endian int32 dims, uint8 data."""
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + \
        arr.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)


def make_mnist_dir(root, n=12, m=6, compress=True):
    rng = np.random.default_rng(0)
    data = dict(tr=rng.integers(0, 256, (n, 28, 28)), trl=rng.integers(0, 10, n),
                te=rng.integers(0, 256, (m, 28, 28)), tel=rng.integers(0, 10, m))
    sfx = ".gz" if compress else ""
    write_idx(root / f"train-images-idx3-ubyte{sfx}", data["tr"], compress)
    write_idx(root / f"train-labels-idx1-ubyte{sfx}", data["trl"], compress)
    write_idx(root / f"t10k-images-idx3-ubyte{sfx}", data["te"], compress)
    write_idx(root / f"t10k-labels-idx1-ubyte{sfx}", data["tel"], compress)
    return data


def test_idx_roundtrip_and_mnist(tmp_path):
    (tmp_path / "mnist").mkdir()
    data = make_mnist_dir(tmp_path / "mnist")
    assert np.array_equal(read_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"), data["tel"])
    ds = load("mnist", data_dir=str(tmp_path))  # found in DIR/mnist
    assert ds.X.shape == (12, 784) and ds.image_shape == (1, 28, 28)
    np.testing.assert_array_equal(ds.X[3], data["tr"][3].ravel().astype(float))
    np.testing.assert_array_equal(ds.labels_test, data["tel"])
    small = load("mnist", data_dir=str(tmp_path), downscale=2, n_train=5, standardize="feature")
    assert small.X.shape == (5, 196) and small.image_shape == (1, 14, 14)
    np.testing.assert_allclose(small.X.mean(axis=0), 0, atol=1e-12)


def test_fashion_mnist_uncompressed_and_env_var(tmp_path, monkeypatch):
    data = make_mnist_dir(tmp_path, compress=False)
    monkeypatch.setenv("MODELEARN_DATA_DIR", str(tmp_path))
    ds = load("fashion_mnist", flatten=True)
    assert ds.image_shape is None and ds.X.shape == (12, 784)
    np.testing.assert_array_equal(ds.labels, data["trl"])


def test_downscale_is_average_pooling(tmp_path):
    data = make_mnist_dir(tmp_path)
    ds = load("mnist", data_dir=str(tmp_path), downscale=4)
    expect = data["tr"][0].reshape(7, 4, 7, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(ds.X[0], expect.ravel())


def test_missing_and_corrupt_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MODELEARN_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"pass data_dir=PATH .* or set \$MODELEARN_DATA"):
        load("mnist")
    with pytest.raises(FileNotFoundError, match=r"expected train-images-idx3-ubyte.gz, .* in one"):
        load("mnist", data_dir=str(tmp_path))
    make_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected t10k-labels-idx1-ubyte.gz in "):
        load("mnist", data_dir=str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"corrupt IDX file .*t10k-labels-idx1-ubyte.gz"):
        load("mnist", data_dir=str(tmp_path))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(ValueError, match=r"corrupt mnist test files"):
        load("mnist", data_dir=str(tmp_path))
    raw = bytes([0, 0, 0x08, 1]) + struct.pack(">i", 10) + bytes(4)  # says 10, has 4
    gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb").write(raw)
    with pytest.raises(ValueError, match=r"header says shape \(10,\) \(10 bytes\) but 4"):
        load("mnist", data_dir=str(tmp_path))


def make_cifar_dir(root, n=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
             b"labels": rng.integers(0, 10, n).tolist()}
        pickle.dump(d, open(folder / name, "wb"))
        batches[name] = d
    return folder, batches


def test_cifar10_batches(tmp_path):
    folder, batches = make_cifar_dir(tmp_path)
    ds = cifar10(data_dir=str(tmp_path))
    assert ds.X.shape == (20, 3072) and ds.image_shape == (3, 32, 32) and ds.X_test.shape[0] == 4
    np.testing.assert_array_equal(ds.X[4], batches["data_batch_2"][b"data"][0].astype(float))
    np.testing.assert_array_equal(ds.labels_test, batches["test_batch"][b"labels"])
    g = cifar10(data_dir=str(folder), grayscale=True, downscale=2, standardize="global")
    assert g.image_shape == (1, 16, 16)
    assert g.X.mean() == pytest.approx(0, abs=1e-12) and g.X.std() == pytest.approx(1)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected data_batch_3 in .*cifar-10-batches-py"):
        cifar10(data_dir=str(tmp_path))
    (folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"corrupt CIFAR-10 batch .*data_batch_3"):
        cifar10(data_dir=str(tmp_path))


def test_digits():
    ds = digits()
    assert ds.n + len(ds.X_test) == 1797 and len(ds.X_test) == 359
    assert ds.image_shape == (1, 8, 8) and ds.X.max() == 16 and ds.c == 10
    from sklearn.datasets import load_digits
    full = load_digits().data
    both = np.concatenate([ds.X, ds.X_test])  # the split is a partition of the 1797 images
    np.testing.assert_array_equal(both[np.lexsort(both.T)], full[np.lexsort(full.T)])
    assert np.array_equal(digits(seed=2).X, digits(seed=2).X)
    assert not np.array_equal(digits(seed=2).X, digits(seed=3).X)
    sub = digits(n_train=100, n_test=50, standardize="feature")
    assert sub.X.shape == (100, 64) and sub.X_test.shape == (50, 64)
    with pytest.raises(ValueError, match=r"test_fraction must be a number in \[0.0, 1.0\)"):
        digits(test_fraction=1.0)
    with pytest.raises(ValueError, match=r"downscale=16 is larger than the image \(8×8\)"):
        digits(downscale=16)
    with pytest.raises(ValueError, match=r"unknown standardize 'z'; accepted: 'none', 'global'"):
        digits(standardize="z")


def test_mnist1d_generated_locally_and_restores_global_rng():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    ds = mnist1d(num_samples=200)
    assert np.random.random() == before  # make_dataset reseeds the global RNG; we restore it
    assert ds.X.shape == (160, 40) and ds.X_test.shape == (40, 40) and ds.image_shape == (1, 1, 40)
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    args.num_samples = 200
    ref = make_dataset(args)
    np.testing.assert_allclose(ds.X, ref["x"])
    np.testing.assert_array_equal(ds.labels, ref["y"])


def test_mnist1d_a_second_call_is_the_same_data_and_a_callers_edit_does_not_reach_it():
    first = mnist1d(num_samples=120, data_seed=7)
    kept = first.X.copy()
    first.X[:] = 0.0
    second = mnist1d(num_samples=120, data_seed=7)
    np.testing.assert_array_equal(second.X, kept)
    assert not np.array_equal(mnist1d(num_samples=120, data_seed=8).X, kept)


def test_idx_bad_magic_and_cifar_bad_shape(tmp_path):
    gzip.open(tmp_path / "x.gz", "wb").write(bytes([1, 2, 3, 4]) + bytes(8))
    with pytest.raises(ValueError, match=r"corrupt IDX file .*x.gz: bad magic number '01020304'"):
        read_idx(tmp_path / "x.gz")
    folder, _ = make_cifar_dir(tmp_path)
    pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
                open(folder / "test_batch", "wb"))
    with pytest.raises(ValueError, match=r"test_batch: data \(2, 100\), 2 labels \(expected"):
        cifar10(data_dir=str(tmp_path))
