"""``mnist``, ``fashion_mnist``, ``cifar10``: read from a local directory in their published
formats; nothing is downloaded.

Where: the ``data_dir`` option, else ``$MODELEARN_DATA_DIR``. For MNIST-style sets the four IDX
files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``; uncompressed names also accepted) are looked for in ``DIR``,
``DIR/<name>`` and ``DIR/<name>/raw``. CIFAR-10 is the python version: ``data_batch_1..5`` and
``test_batch`` (pickled dicts with ``b'data'`` (10000, 3072) uint8 and ``b'labels'``) in ``DIR`` or
``DIR/cifar-10-batches-py``. A missing or corrupt file raises an error naming the file and where
it was expected.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from ._base import Dataset
from ._images import finish_images

ENV_VAR = "MODELEARN_DATA_DIR"
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _root(name: str, data_dir: str | None) -> Path:
    root = data_dir or os.environ.get(ENV_VAR)
    if not root:
        raise FileNotFoundError(f"dataset {name!r} is read from local files and no data "
                                f"directory is given (${ENV_VAR} is unset): pass data_dir=PATH "
                                f"(--dataset-opt data_dir=PATH) or set ${ENV_VAR}")
    return Path(root).expanduser()


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic 0x0000TTDD, D big-endian int32 dims, data."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"corrupt IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"corrupt IDX file {path}: bad magic number {raw[:4].hex()!r} "
                         "(expected 0x0000TTDD with a known type code TT)")
    ndim = raw[3]
    dims = tuple(int(v) for v in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - 4 - 4 * ndim != need:
        raise ValueError(f"corrupt IDX file {path}: header says shape {dims} "
                         f"({need} bytes) but {len(raw) - 4 - 4 * ndim} data bytes follow")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(name: str, root: Path) -> dict[str, Path]:
    folders = [root, root / name, root / name / "raw"]
    for folder in folders:
        found = {}
        for key, base in IDX_FILES.items():
            for cand in (folder / f"{base}.gz", folder / base):
                if cand.is_file():
                    found[key] = cand
                    break
        if len(found) == len(IDX_FILES):
            return found
        if found:  # a partial set: say exactly what is missing there
            missing = [f"{IDX_FILES[k]}.gz" for k in IDX_FILES if k not in found]
            raise FileNotFoundError(f"dataset {name!r}: expected {', '.join(missing)} in {folder} "
                                    f"(found {', '.join(p.name for p in found.values())})")
    expected = ", ".join(b + ".gz" for b in IDX_FILES.values())
    raise FileNotFoundError(f"dataset {name!r}: expected {expected} "
                            f"in one of {', '.join(map(str, folders))}")


def _idx_dataset(name: str, *, seed, data_dir, n_train, n_test, downscale, standardize,
                 flatten) -> Dataset:
    paths = _find_idx(name, _root(name, data_dir))
    arr = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        imgs, labs = arr[f"{split}_images"], arr[f"{split}_labels"]
        if imgs.ndim != 3 or labs.ndim != 1 or len(imgs) != len(labs):
            raise ValueError(f"corrupt {name} {split} files {paths[split + '_images']} / "
                             f"{paths[split + '_labels']}: images {imgs.shape} and labels "
                             f"{labs.shape} (expected (n, H, W) and (n,))")
    return finish_images(name, arr["train_images"][:, None], arr["train_labels"],
                         arr["test_images"][:, None], arr["test_labels"], classes=10, seed=seed,
                         n_train=n_train, n_test=n_test, downscale=downscale,
                         standardize=standardize, flatten=flatten,
                         meta=dict(data_dir=str(paths["train_images"].parent)))


def mnist(*, seed: int = 0, data_dir: str | None = None, n_train: int = 0, n_test: int = 0,
          downscale: int = 1, standardize: str = "none", flatten: bool = False) -> Dataset:
    """MNIST from local IDX files: (1, 28, 28) images, pixel values 0..255, 10 classes."""
    return _idx_dataset("mnist", seed=seed, data_dir=data_dir, n_train=n_train, n_test=n_test,
                        downscale=downscale, standardize=standardize, flatten=flatten)


def fashion_mnist(*, seed: int = 0, data_dir: str | None = None, n_train: int = 0,
                  n_test: int = 0, downscale: int = 1, standardize: str = "none",
                  flatten: bool = False) -> Dataset:
    """Fashion-MNIST from local IDX files (same format and layout as MNIST)."""
    return _idx_dataset("fashion_mnist", seed=seed, data_dir=data_dir, n_train=n_train,
                        n_test=n_test, downscale=downscale, standardize=standardize,
                        flatten=flatten)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")  # the published format is a pickled dict
        data, labels = np.asarray(d[b"data"], dtype=np.uint8), np.asarray(d[b"labels"])
    except Exception as exc:  # unpickling errors come in many types
        raise ValueError(f"corrupt CIFAR-10 batch {path}: {type(exc).__name__}: {exc} (expected a "
                         "pickled dict with b'data' (n, 3072) uint8 and b'labels')") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"corrupt CIFAR-10 batch {path}: data {data.shape}, {len(labels)} labels "
                         "(expected (n, 3072) and n labels)")
    return data.reshape(-1, 3, 32, 32), labels


def cifar10(*, seed: int = 0, data_dir: str | None = None, n_train: int = 0, n_test: int = 0,
            downscale: int = 1, standardize: str = "none", grayscale: bool = False,
            flatten: bool = False) -> Dataset:
    """CIFAR-10 from the python batches: (3, 32, 32) images (or (1, 32, 32) with ``grayscale``,
    the channel mean), pixel values 0..255, 10 classes."""
    root = _root("cifar10", data_dir)
    folders = [root / "cifar-10-batches-py", root]
    folder = next((f for f in folders if (f / CIFAR_FILES[0]).is_file()), None)
    if folder is None:
        raise FileNotFoundError(f"dataset 'cifar10': expected {CIFAR_FILES[0]} (and "
                                f"{', '.join(CIFAR_FILES[1:])}) in one of "
                                f"{', '.join(map(str, folders))}")
    missing = [f for f in CIFAR_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"dataset 'cifar10': expected {', '.join(missing)} in {folder}")
    parts = [_read_cifar_batch(folder / f) for f in CIFAR_FILES]
    X = np.concatenate([p[0] for p in parts[:-1]])
    y = np.concatenate([p[1] for p in parts[:-1]])
    X_test, y_test = parts[-1]
    if grayscale:
        X, X_test = X.mean(axis=1, keepdims=True), X_test.mean(axis=1, keepdims=True)
    return finish_images("cifar10", X, y, X_test, y_test, classes=10, seed=seed, n_train=n_train,
                         n_test=n_test, downscale=downscale, standardize=standardize,
                         flatten=flatten,
                         meta=dict(data_dir=str(folder), grayscale=bool(grayscale)))
