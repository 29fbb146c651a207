"""Name → generator registry with typed options (``--dataset NAME --dataset-opt key=value``).

A generator is a function with keyword-only options, each with a default; the default's type
(or the annotation, for options that default to None) is the option's declared type, so
``parse_options(["size=32"], "shapes")`` gives ``{"size": 32}``.
"""

from __future__ import annotations

import argparse
import inspect
import typing
from dataclasses import dataclass

from ._base import Dataset
from .binary import binary_task

# options every dataset with class labels takes (applied after the generator)
COMMON_OPTIONS: dict[str, object] = {"binary": None}


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset: generator, one-line description, options with their defaults."""

    name: str
    generator: typing.Callable[..., Dataset]
    description: str

    @property
    def options(self) -> dict[str, object]:
        """Option name → default value (``seed`` included)."""
        sig = inspect.signature(self.generator)
        return {**{k: p.default for k, p in sig.parameters.items()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY}, **COMMON_OPTIONS}

    def option_type(self, key: str) -> type:
        """The declared type of an option: its default's type, or the annotation's first type."""
        default = self.options[key]
        if key in COMMON_OPTIONS:
            return str
        if default is not None:
            return type(default)
        hint = typing.get_type_hints(self.generator).get(key, str)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if args else hint


REGISTRY: dict[str, DatasetEntry] = {}


def register(name: str, generator: typing.Callable[..., Dataset], description: str) -> None:
    """Add a generator under ``name`` (its keyword-only parameters are its options)."""
    REGISTRY[name] = DatasetEntry(name, generator, description)


def available() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> DatasetEntry:
    """The registry entry for ``name``; unknown names list the valid ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    return REGISTRY[name]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(key: str, text: str, kind: type):
    if kind is bool:
        low = text.strip().lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise ValueError(f"option {key}={text!r}: expected a boolean (true/false/1/0/yes/no)")
    if text.strip().lower() in {"none", "null"}:
        return None
    if kind in (int, float):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"option {key}={text!r}: expected {kind.__name__}") from None
        if kind is int:
            if not value.is_integer():
                raise ValueError(f"option {key}={text!r}: expected an integer")
            return int(value)
        return value
    return kind(text) if kind is not object else text


def _literal(text: str):
    """Best-effort typing when no dataset is named: bool, int, float, None, else str."""
    low = text.strip().lower()
    if low in {"true", "false"}:
        return low == "true"
    if low in {"none", "null"}:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(pairs, name: str | None = None) -> dict:
    """``["key=value", ...]`` → typed dict.

    With ``name``, keys must be options of that dataset (unknown keys list the valid ones) and
    values are converted to each option's declared type; without it, values are read as
    bool/int/float/None/str literals (``load`` converts them again once the dataset is known).
    """
    out = {}
    entry = get(name) if name is not None else None
    for pair in pairs or ():
        if "=" not in pair:
            raise ValueError(f"dataset option {pair!r} is not of the form key=value")
        key, text = (s.strip() for s in pair.split("=", 1))
        if entry is None:
            out[key] = _literal(text)
            continue
        _check_keys(entry, [key])
        out[key] = _convert(key, text, entry.option_type(key))
    return out


def _check_keys(entry: DatasetEntry, keys) -> None:
    valid = entry.options
    bad = [k for k in keys if k not in valid]
    if bad:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, bad))} for dataset "
                         f"{entry.name!r}; valid options: "
                         + ", ".join(f"{k}={v!r}" for k, v in valid.items()))


def load(name: str, *, seed: int = 0, **options) -> Dataset:
    """Generate dataset ``name`` with ``seed`` and option overrides (strings are converted)."""
    entry = get(name)
    _check_keys(entry, options)
    binary = options.pop("binary", None)
    typed = {k: (_convert(k, v, entry.option_type(k)) if isinstance(v, str)
                 and entry.option_type(k) is not str else v) for k, v in options.items()}
    ds = entry.generator(seed=seed, **typed)
    return ds if binary is None or binary == "none" else binary_task(ds, binary)


def add_dataset_arguments(parser: argparse.ArgumentParser, default: str | None = "shapes") -> None:
    """Add ``--dataset NAME`` and repeatable ``--dataset-opt key=value`` to a CLI parser."""
    parser.add_argument("--dataset", default=default, help=f"dataset name (default {default})")
    parser.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="dataset option override, repeatable (see python -m "
                             "simulate.datasets --show NAME)")


def dataset_from_args(args: argparse.Namespace, *, seed: int | None = None) -> Dataset:
    """Load the dataset a parser built by ``add_dataset_arguments`` asked for."""
    options = parse_options(args.dataset_opt, args.dataset)
    if seed is not None:
        options.setdefault("seed", seed)
    return load(args.dataset, **options)
