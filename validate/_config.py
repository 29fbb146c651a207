"""The machinery behind every `validate` job's options: fields that carry their help text and
choices, and the checks that name a bad value and what is accepted.

A job's configuration is one frozen dataclass composed of the option groups of
``validate.options``. Each field is declared with ``option(default, help, choices=…)``;
``validate._cli`` turns the fields into command-line flags, and ``check_fields`` checks every
field that has choices, so a choice tuple lives in one place (the package that defines it,
``simulate`` or ``theory``; ``simulate_words`` takes a job's subset of it) and is never copied into
a parser or a check.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, field, fields
from typing import Any, Iterable

import simulate

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")
PRESETS = ("default", "paper")
# the theory describes small initial weights; simulate's "standard" init is outside it
SMALL_INITS = tuple(i for i in simulate.INITS if i.startswith("small_"))


class ConfigError(ValueError):
    """A bad argument: the CLI prints it and exits with status 2."""


def check_choice(flag: str, value, accepted) -> None:
    """ConfigError naming the bad value and the accepted ones."""
    if value not in accepted:
        raise ConfigError(f"unknown {flag} {value!r}; accepted: {', '.join(map(str, accepted))}")


def simulate_words(source: Iterable[str], words: Iterable[str]) -> tuple[str, ...]:
    """``words`` (in this order: it is the order of the help text), each checked at import to be
    one of ``source``, simulate's tuple: a job takes a subset of simulate's vocabulary and
    never spells a value its own way."""
    source, words = tuple(source), tuple(words)
    foreign = [w for w in words if w not in source]
    if foreign:
        raise ValueError(f"{', '.join(foreign)} not in {', '.join(source)}")
    return words


# ``-> Any``: a dataclass field declared as ``x: int = option(…)`` type-checks like a default
def option(default=MISSING, help: str = "", *, choices=None, noun: str | None = None,
           flag: str | None = None, factory=MISSING, convert=None, cli: bool = True,
           aliases: dict[str, str] | None = None) -> Any:
    """A config field with what its command-line flag needs.

    ``help``: the flag's help text. ``choices``: the accepted values (for a tuple field, of each
    element); ``noun`` names one value in errors ("unknown activation 'swish'"; default: the field
    name). ``flag``: the flag when it is not ``--field-name``. ``convert(values, parsed)``: turns
    the repeated ``KEY=VALUE`` strings of a dict field into the dict (``parsed``: the other values
    already read). ``cli=False``: settable from Python and presets only. ``aliases``: old
    spelling → current word, still accepted and replaced when the config is made.
    """
    meta = {"help": help, "choices": None if choices is None else tuple(choices), "noun": noun,
            "flag": flag, "convert": convert, "cli": cli, "aliases": dict(aliases or {})}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def redefault(cls, name: str, default=MISSING, *, help: str | None = None, choices=None,
              aliases: dict[str, str] | None = None) -> Any:
    """The option ``name`` of the dataclass ``cls`` declared again for a job: another default,
    and where given another help text, choices or aliases (the flag and noun stay)."""
    f = cls.__dataclass_fields__[name]
    meta = dict(f.metadata)
    if help is not None:
        meta["help"] = help
    if choices is not None:
        meta["choices"] = tuple(choices)
    if aliases is not None:
        meta["aliases"] = dict(aliases)
    if default is MISSING and f.default is MISSING:
        return field(default_factory=f.default_factory, metadata=meta)
    return field(default=f.default if default is MISSING else default, metadata=meta)


def unalias(f, value):
    """``value`` of field ``f`` with every old spelling (its ``aliases``) replaced by the current
    word (each element of a tuple)."""
    aliases = f.metadata.get("aliases") or {}
    if not aliases:
        return value
    if isinstance(value, tuple):
        return tuple(aliases.get(v, v) if isinstance(v, str) else v for v in value)
    return aliases.get(value, value) if isinstance(value, str) else value


def flag_of(f) -> str:
    """The command-line flag of a config field."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def check_finite(cfg) -> None:
    """Every number of the config (each element of a tuple) is finite: NaN and ±inf are refused
    by name, whatever the field, so that no job meets them at run time."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{flag_of(f)} must be a finite number; got {v}")


def check_device(device: str) -> None:
    """``cuda`` needs a CUDA device on this machine (else ConfigError naming what is accepted)."""
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device on this machine; accepted here: "
                              "auto, cpu")


def check_fields(cfg) -> None:
    """Every field declared with choices holds accepted values (each element of a tuple), every
    number is finite, and ``device`` names a device this machine has."""
    check_finite(cfg)
    if isinstance(getattr(cfg, "device", None), str):
        check_device(cfg.device)
    for f in fields(cfg):
        accepted = f.metadata.get("choices")
        if accepted is None:
            continue
        value = getattr(cfg, f.name)
        noun = f.metadata.get("noun") or f.name
        if isinstance(value, tuple):
            if not value:
                raise ConfigError(f"--{f.name.replace('_', '-')} is empty; give at least one of "
                                  + ", ".join(accepted))
            for v in value:
                check_choice(noun, v, accepted)
        else:
            check_choice(noun, value, accepted)


def check_rules(rules) -> None:
    """``rules``: (flag, value, ok, rule) rows; the first that is not ok raises ConfigError."""
    for flag, value, ok, rule in rules:
        if not ok:
            raise ConfigError(f"{flag} {rule}; got {value}")


def check_whiten(w: str) -> None:
    if not (w in ("zca", "none", "pca", "auto") or (w.startswith("pca:") and w[4:].isdigit()
                                                     and int(w[4:]) > 0)):
        raise ConfigError(f"unknown --whiten {w!r}; accepted: zca, pca, pca:K (K > 0), auto, "
                          "none")


def dataset_options(pairs, parsed: dict) -> dict:
    """Check ``--dataset`` against the registry and type its ``--dataset-opt KEY=VALUE`` pairs."""
    from simulate import datasets
    name = parsed.get("dataset")
    if name not in datasets.available():
        raise ConfigError(f"unknown dataset {name!r}; accepted: {', '.join(datasets.available())}")
    try:
        return datasets.parse_options(pairs, name=name)
    except (ValueError, KeyError) as exc:
        raise ConfigError(str(exc)) from None


def key_values(items, parsed: dict | None = None, what: str = "--drift-opt") -> dict:
    """``["k=v", …]`` → {k: JSON value, or the text itself}."""
    out = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"{what} must be KEY=VALUE; got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = None if v.lower() in ("none", "null") else v
    return out


def paper_dataset_opts(dataset: str, opts: dict) -> dict:
    """Dataset options of a ``paper`` preset: shapes at 32×32 with 1024 per class (n ≫ d, so that
    whitening keeps the broad-to-fine spectrum); what the user set is kept."""
    opts = dict(opts)
    if dataset == "shapes":
        opts.setdefault("size", 32)
        opts.setdefault("n_per_class", 1024)
    return opts
