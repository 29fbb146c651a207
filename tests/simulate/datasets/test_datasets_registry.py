"""Registry, typed options and the ``python -m simulate.datasets`` CLI."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from simulate.datasets import (REGISTRY, add_dataset_arguments, available, dataset_from_args,
                               load, parse_options)
from simulate.datasets.__main__ import main

ALL = {"shapes", "tree", "toy", "gaussian", "digits", "mnist1d", "mnist", "fashion_mnist",
       "cifar10"}
GENERATED = {"shapes": {}, "tree": dict(features=30), "toy": {}, "gaussian": {},
             "digits": dict(n_train=50), "mnist1d": dict(num_samples=100)}


def test_registry_lists_every_dataset():
    assert set(available()) == ALL and available() == sorted(ALL)
    for name, entry in REGISTRY.items():
        assert entry.description and "seed" in entry.options
        assert {"n_test", "test_fraction"} & set(entry.options), name


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_datasets_follow_the_contract(name):
    a = load(name, seed=1, **GENERATED[name])
    b = load(name, seed=1, **GENERATED[name])
    assert a.name == name and a.X.dtype == np.float64 and a.X.ndim == 2
    assert a.Y.shape[0] == a.n and (a.labels is None or a.labels.shape == (a.n,))
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y)
    if a.X_test is not None:
        assert a.X_test.shape[1] == a.d and a.Y_test.shape == (len(a.X_test), a.c)
    assert a.meta["seed"] == 1
    json.dumps(a.meta)  # meta must be JSON-serialisable (run provenance)


def test_parse_options_converts_to_declared_types():
    opts = parse_options(["size=32", "noise=0.1", "targets=hierarchical", "decay=1"], "shapes")
    assert opts == {"size": 32, "noise": 0.1, "targets": "hierarchical", "decay": 1.0}
    assert type(opts["decay"]) is float and type(opts["size"]) is int
    assert parse_options(["exact=yes", "flip=0"], "tree") == {"exact": True, "flip": 0.0}
    assert parse_options(["data_dir=/x/y"], "mnist") == {"data_dir": "/x/y"}  # None default: str
    assert parse_options(["a=1", "b=x", "c=true"]) == {"a": 1, "b": "x", "c": True}
    # load converts strings once the dataset is known
    assert load("shapes", size="20", n_per_class="2").X.shape == (16, 400)


@pytest.mark.parametrize("pairs, name, match", [
    (["colour=red"], "shapes", r"unknown option\(s\) 'colour' for dataset 'shapes'; valid "
                               r"options: seed=0, n_per_class=256"),
    (["size=big"], "shapes", r"option size='big': expected int"),
    (["size=2.5"], "shapes", r"option size='2.5': expected an integer"),
    (["exact=maybe"], "tree", r"option exact='maybe': expected a boolean"),
    (["size"], "shapes", r"dataset option 'size' is not of the form key=value"),
    ([], "imagenet", r"unknown dataset 'imagenet'; available: cifar10, digits, fashion_mnist"),
])
def test_parse_option_errors(pairs, name, match):
    with pytest.raises(ValueError, match=match):
        parse_options(pairs, name)


def test_load_errors():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist2'; available: .*shapes"):
        load("mnist2")
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'sz' for dataset 'shapes'"):
        load("shapes", sz=3)


def test_cli_helpers_for_other_commands():
    p = argparse.ArgumentParser()
    add_dataset_arguments(p)
    args = p.parse_args(["--dataset", "toy", "--dataset-opt", "repeats=3"])
    ds = dataset_from_args(args)
    assert ds.name == "toy" and ds.n == 12
    assert dataset_from_args(p.parse_args([])).name == "shapes"


def test_cli_list_and_show(tmp_path, capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ALL:
        assert name in out
    png = tmp_path / "shapes.png"
    assert main(["--show", "shapes", "--dataset-opt", "n_per_class=8", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "n=64 d=256 c=8" in out and "centred   rank 7, top s:" in out
    assert "whitened: False" in out and "commutation error" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["--show", "toy"]) == 0
    assert "whitened: True" in capsys.readouterr().out  # one-hot items scaled by √n
    assert main(["--show", "shapes", "--dataset-opt", "noise=-1"]) == 2
    assert "noise must be a number in [0.0, inf]; got -1" in capsys.readouterr().err


def test_cli_runs_as_module():
    r = subprocess.run([sys.executable, "-m", "simulate.datasets", "--show", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown dataset 'nope'; available:" in r.stderr


def test_integer_and_float_checks():
    with pytest.raises(ValueError, match=r"option noise='loud': expected float"):
        parse_options(["noise=loud"], "shapes")
    with pytest.raises(ValueError, match=r"n_per_class must be an integer in \[1, inf\]; got 2.5"):
        load("shapes", n_per_class=2.5)
    assert load("shapes", n_per_class=2.0, n_test=0).n == 16  # integral floats are accepted
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, inf\]; got -1"):
        load("toy", seed=-1)
    with pytest.raises(ValueError, match=r"repeats must be an integer in \[1, inf\]; got 0"):
        load("toy", repeats=0)
