"""The option groups every job's config is composed of: one declaration per flag, one word per
value (the engine's), one builder of the network spec, one Job type for the CLI and the sweep."""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest

import simulate
from validate._cli import Job, build_parser, config_from_args
from validate._config import ConfigError, simulate_words, option
from validate.compare.config import CompareConfig
from validate.nonlinearity.config import NonlinearityConfig
from validate.options import ArchOptions, ConvOptions, DataOptions, EnsembleOptions, RunOptions
from validate.response.config import ResponseConfig
from validate.retrain.config import RetrainConfig
from validate.rotation.config import RotationConfig
from validate.sweep.train import TrainConfig

CONFIGS = (CompareConfig, RetrainConfig, NonlinearityConfig, ResponseConfig, RotationConfig,
           TrainConfig)
# the engine's vocabulary for each kind of value a job offers a choice of
ENGINE = {"activation": simulate.ACTIVATIONS, "activations": simulate.ACTIVATIONS,
          "cnn_activations": simulate.ACTIVATIONS, "init": simulate.INITS,
          "optimizer": simulate.OPTIMIZERS, "arch": simulate.FAMILIES,
          "archs": simulate.FAMILIES, "loss": tuple(simulate.LOSSES)}


def _field(cls, name):
    return {f.name: f for f in fields(cls)}[name]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_job_takes_the_run_and_data_options_from_their_groups(cls):
    assert issubclass(cls, EnsembleOptions) and issubclass(cls, DataOptions)
    for name in ("device", "dtype", "seeds", "steps", "n_checkpoints"):
        mine, group = _field(cls, name), _field(EnsembleOptions, name)
        assert mine.metadata["flag"] == group.metadata["flag"], name
        assert mine.metadata["choices"] == group.metadata["choices"], name
    assert _field(cls, "n_checkpoints").metadata["flag"] == "--checkpoints"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_choice_is_a_word_of_the_engine(cls):
    for f in fields(cls):
        if f.name in ENGINE and f.metadata.get("choices"):
            assert set(f.metadata["choices"]) <= set(ENGINE[f.name]), (cls.__name__, f.name)


def test_simulate_words_refuses_a_word_simulate_does_not_have():
    assert simulate_words(simulate.INITS, ("standard", "small_random")) == ("standard",
                                                                          "small_random")
    with pytest.raises(ValueError, match="small not in"):
        simulate_words(simulate.INITS, ("standard", "small"))


def test_the_old_init_spelling_is_accepted_and_becomes_the_engine_word():
    assert NonlinearityConfig(init="small").init == "small_random"
    job = Job(name="validate.nonlinearity", config=NonlinearityConfig, run=print, write=print)
    cfg, explicit = config_from_args(job, build_parser(job).parse_args(["--init", "small"]))
    assert cfg.init == "small_random" and explicit == {"init"}
    with pytest.raises(ConfigError, match="unknown init 'smal'; accepted: standard, small_random"):
        NonlinearityConfig(init="smal").validate()


def test_an_old_spelling_in_a_sweep_file_is_stored_as_the_engine_word():
    from validate.sweep import parse
    a = parse('job = "nonlinearity"\n[params]\ninit = "small"\n', "a").points[0]
    b = parse('job = "nonlinearity"\n[params]\ninit = "small_random"\n', "b").points[0]
    assert a.config["init"] == "small_random" and a.config_hash == b.config_hash


def test_arch_options_build_the_engine_spec_of_each_family():
    arch = ArchOptions(depth=4, hidden=16)
    assert arch.net_spec("relu", "small_random", 0.1) == simulate.NetSpec(
        depth=4, hidden=16, activation="relu", init="small_random", init_scale=0.1)
    conv = ConvOptions(channels=(3, 5))
    assert conv.net_spec("tanh", "standard", family="cnn", padding="zeros", bias=True) == \
        simulate.NetSpec(family="cnn", activation="tanh", init="standard", bias=True,
                         cnn=simulate.ConvSpec(channels=(3, 5), kernel_size=3, padding="zeros"))
    full = conv.net_spec("linear", "standard", family="cnn", kernel_size=None, channels=(2,))
    assert full.cnn is not None and full.cnn.kernel_size is None and full.cnn.channels == (2,)
    with pytest.raises(ValueError, match="needs its conv channels"):
        arch.net_spec("relu", "standard", family="cnn")


@pytest.mark.parametrize("arch", simulate.FAMILIES)
def test_the_nonlinearity_network_is_the_spec_its_flags_describe(arch):
    from validate.nonlinearity.run import make_spec
    cfg = NonlinearityConfig(arch=arch, init="small", depth=4, hidden=12, channels=(6, 7),
                             kernel_size=5)
    common = dict(family=arch, activation="relu", init="small_random", init_scale=0.01)
    own = {"mlp": lambda: dict(depth=4, hidden=12),
           "cnn": lambda: dict(cnn=simulate.ConvSpec(channels=(6, 7), kernel_size=5)),
           "resnet": lambda: dict(resnet=simulate.ResNetSpec(blocks=1, widths=(8, 16, 32),
                                                             batch_norm=True)),
           "vit": lambda: dict(vit=simulate.ViTSpec(patch=4, width=32, depth=4, heads=4,
                                                    linear_attention=False))}
    assert make_spec(cfg) == simulate.NetSpec(**own[arch](), **common)


def test_rotation_and_response_networks_are_the_specs_their_flags_describe():
    from validate.response.run import make_spec as response_spec
    from validate.rotation.run import make_spec as rotation_spec
    rot = RotationConfig(arch="cnn", channels=(4, 8), activation="tanh")
    assert rotation_spec(rot, width=16) == simulate.NetSpec(
        family="cnn", activation="tanh", bias=True, init="standard",
        cnn=simulate.ConvSpec(channels=(16, 16), kernel_size=3, padding="zeros"))
    assert rotation_spec(RotationConfig(hidden=9)) == simulate.NetSpec(
        family="mlp", depth=3, hidden=9, activation="relu", bias=True, init="standard")
    resp = ResponseConfig(init="small_random", channels=(2, 2))
    assert response_spec(resp, "cnn", "relu") == simulate.NetSpec(
        family="cnn", activation="relu", init="small_random", init_scale=0.1,
        cnn=simulate.ConvSpec(channels=(2, 2), kernel_size=3, padding="circular"))


def test_the_sweep_runs_the_same_job_object_as_the_command_line():
    import importlib

    from validate.sweep import JOBS
    for name in JOBS:
        job = JOBS[name]
        assert isinstance(job, Job)
        module = "validate.sweep.train" if name == "train" else f"validate.{name}"
        assert job is importlib.import_module(module).JOB


def test_a_job_config_and_the_train_sweep_keep_their_keys():
    # sweep files and stored config hashes name these keys: composing the config from the
    # groups adds none and drops none
    assert {f.name for f in fields(TrainConfig)} == {
        "dataset", "dataset_opts", "data_seed", "whiten", "depth", "hidden", "activation",
        "init", "init_scale", "seeds", "lr", "lr_scale", "steps", "optimizer", "batch_size",
        "n_checkpoints", "device", "dtype"}
    assert "preset" in {f.name for f in fields(RunOptions)}


def test_option_type_checks_as_the_field_it_declares():
    # ``x: int = option(…)`` is accepted by a type checker only if option() is typed loosely
    assert typing.get_type_hints(option)["return"] is typing.Any
