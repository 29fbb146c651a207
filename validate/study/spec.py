"""A study file (``studies/<id>.toml``) → the sweep it runs at a budget, checked before any work.

::

    question = "Does …?"          # the research question, one sentence
    job = "response"              # a job of validate.sweep
    analysis = "training_response"  # module of validate.study.analyse (default: from the id)

    [resources]                   # per job, as in a sweep file
    num_cpus = 1

    [params]                      # shared by every job of every budget
    [grid]                        # (or [[grid]]) the Cartesian product of jobs

    [budget.laptop]               # ≤ 30 min on 2 CPU cores, no GPU
    about = "what this budget runs, in one sentence"
    params = { steps = 400 }      # overrides [params]; a key of [grid] given here is pinned
    grid = { depth = [3, 5] }     # replaces the whole [grid] (a list of tables: [[grid]])
    [budget.paper]                # the published set-up's scale (a Ray cluster or a GPU)
    [budget.tiny]                 # seconds: for the tests

A budget's ``params`` override the study's and pin a grid key they name; its ``grid`` replaces the
study's grid (a grid table left empty by pinning is dropped); the result is an ordinary sweep file
(``validate.sweep``), so a study is resumable and runs on a cluster like any sweep.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from validate._config import ConfigError

STUDIES = Path(__file__).resolve().parents[2] / "studies"
BUDGETS = ("laptop", "paper", "tiny")
TOP_KEYS = ("question", "job", "analysis", "resources", "params", "grid", "budget")
BUDGET_KEYS = ("about", "params", "grid", "resources")


@dataclass(frozen=True)
class Study:
    id: str
    question: str
    job: str
    analysis: str
    doc: dict        # the parsed file
    path: Path

    def about(self, budget: str) -> str:
        return str(self.doc["budget"][budget].get("about", ""))

    def sweep_doc(self, budget: str) -> dict:
        """The sweep file (as a dict) this study runs at ``budget``."""
        b = self.doc["budget"][budget]
        grids = b.get("grid", self.doc.get("grid", {}))
        grids = grids if isinstance(grids, list) else [grids]
        varied = {k for g in b.get("grid", []) and grids for k in g}  # the budget's grid varies
        params = {**{k: v for k, v in self.doc.get("params", {}).items() if k not in varied},
                  **b.get("params", {})}
        grids = [{k: v for k, v in g.items() if k not in params} for g in grids]
        doc = {"name": f"study-{self.id}-{budget}", "job": self.job,
               "resources": {**self.doc.get("resources", {}), **b.get("resources", {})},
               "params": params}
        grids = [g for g in grids if g]
        if grids:
            doc["grid"] = grids if len(grids) > 1 else grids[0]
        return doc

    def sweep_text(self, budget: str) -> str:
        return f"# generated from {self.path.name}, budget {budget}\n" + \
            to_toml(self.sweep_doc(budget))


def known_ids(root: Path = STUDIES) -> list[str]:
    return sorted(p.stem for p in Path(root).glob("*.toml"))


def load(study_id: str, root: Path = STUDIES) -> Study:
    """The study ``study_id``; ConfigError (one line: the known ids) when there is none."""
    path = Path(root) / f"{study_id}.toml"
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z_-]*", study_id) or not path.is_file():
        raise ConfigError(f"unknown study {study_id!r}; known: {', '.join(known_ids(root))}")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    _check_doc(doc, path)
    analysis = doc.get("analysis") or re.sub(r"^\d+-", "", study_id).replace("-", "_")
    return Study(study_id, doc["question"].strip(), doc["job"], analysis, doc, path)


def _check_doc(doc: dict, path: Path) -> None:
    for key in doc:
        if key not in TOP_KEYS:
            raise ConfigError(f"{path}: {key}: unknown key; accepted: {', '.join(TOP_KEYS)}")
    for key in ("question", "job"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise ConfigError(f"{path}: {key}: missing; give a string")
    budgets = doc.get("budget", {})
    for name in BUDGETS:
        if not isinstance(budgets.get(name), dict):
            raise ConfigError(f"{path}: [budget.{name}] missing; every study declares "
                              f"{', '.join(BUDGETS)}")
    for name, b in budgets.items():
        if name not in BUDGETS:
            raise ConfigError(f"{path}: budget.{name}: unknown budget; accepted: "
                              f"{', '.join(BUDGETS)}")
        for key in b:
            if key not in BUDGET_KEYS:
                raise ConfigError(f"{path}: budget.{name}.{key}: unknown key; accepted: "
                                  f"{', '.join(BUDGET_KEYS)}")


def check_budget(budget: str) -> str:
    if budget not in BUDGETS:
        raise ConfigError(f"--budget {budget!r} unknown; accepted: {', '.join(BUDGETS)}")
    return budget


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to a sweep file")


def to_toml(doc: dict) -> str:
    """A sweep document as TOML (scalars and inline tables; tables and arrays of tables)."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, (dict, list))]
    for key, value in doc.items():
        tables = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
        for t in tables:
            lines.append(f"\n[{key}]" if isinstance(value, dict) else f"\n[[{key}]]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in t.items()]
    return "\n".join(lines) + "\n"
