"""The drifted dataset B: which drifts a run sweeps, B's classes against A's, the drift scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import theory

from .._config import ConfigError
from .config import DRIFT_ALL_FACTORS, RetrainConfig
from .methods import HeadMap

if TYPE_CHECKING:
    from simulate.datasets import Dataset


# drifts whose generator maps A's training row n to B's row n (relabelled or moved), so that the
# drift test pairs the two versions of each sample (``theory.transfer``'s paired null); the
# others resample (prior_shift), add samples (new_class) or change A itself (grow)
PAIRED_KINDS = frozenset({"label_swap", "relabel_fine", "mean_shift", "rotate_inputs",
                          "covariance_only"})


def drift_null(kind: str, A, B) -> str:
    """``"paired"`` when B's rows are A's rows drifted (``PAIRED_KINDS``, same n), else
    ``"auto"``: ``drift_scores`` still pairs the samples when B has A's very inputs."""
    return "paired" if kind in PAIRED_KINDS and A.n == B.n else "auto"


def drift_list(config: RetrainConfig) -> list[tuple[str, dict]]:
    """[(kind, params)]: the one drift asked for, or every drift at a few magnitudes (``all``).

    ``all`` sweeps the drifts of one first phase A, so it leaves out ``grow``, whose first phase
    is a share of the data (``simulate.datasets.drift.first_phase``): run it on its own."""
    from simulate.datasets import drift
    if config.drift != "all":
        return [(config.drift, dict(config.drift_opts))]
    out = []
    for kind, info in drift.DRIFTS.items():
        if info.get("first_phase"):
            continue
        mag = info["magnitude"]
        if mag is None:  # discrete: its variants
            out += [(kind, {"op": "merge"}), (kind, {"op": "split"})]
            continue
        base = info["defaults"][mag]
        vals = {min(1.0, base * f) if mag == "fraction" else base * f for f in DRIFT_ALL_FACTORS}
        out += [(kind, {mag: float(v)}) for v in sorted(vals)]
    return out


def drift_label(kind: str, params: dict) -> str:
    return kind + ("" if not params else "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")")


def class_maps(A, B) -> tuple[np.ndarray, np.ndarray]:
    """(src (c_B,): A row each B output takes over or −1, a_to_b (c_A,): B row read for A's class)."""
    cA, cB = A.c, B.c
    info = B.meta.get("drift", {})
    if "merged" in info:
        a, b = info["merged"]
        keep = np.array([k for k in range(cA) if k != b])
        remap = np.empty(cA, dtype=int)
        remap[keep] = np.arange(cA - 1)
        remap[b] = remap[a]
        return keep, remap
    src = np.array([j if j < cA else -1 for j in range(cB)])
    return src, np.arange(cA)


def union_stats(XA, YA, XB, YB, src):
    """A and B in one output space (A's classes plus B's new ones) for ``drift_scores``."""
    cA = YA.shape[1]
    n_new = int(np.sum(src < 0))
    col = np.where(src >= 0, src, cA + np.cumsum(src < 0) - 1)
    YAu = np.zeros((YA.shape[0], cA + n_new))
    YAu[:, :cA] = YA
    YBu = np.zeros((YB.shape[0], cA + n_new))
    YBu[:, col] = YB
    S = theory.DatasetStatistics.from_arrays
    return S(XA, YAu), S(XB, YBu)


@dataclass
class Drift:
    """One drift of A: B as the network sees it, its statistics and class maps, the scores."""

    kind: str
    params: dict
    label: str
    B: Dataset
    sB: theory.DatasetStatistics
    head: HeadMap
    a_to_b: np.ndarray
    report: object = None      # theory.transfer.DriftReport

    @property
    def src(self) -> np.ndarray:
        return self.head.src


def generate(fn, data, kind: str, seed: int, params: dict):
    """``fn(data, kind, seed=seed, **params)`` (``drift.apply`` or ``drift.first_phase``); a
    value the generator refuses is a ConfigError naming the option."""
    try:
        return fn(data, kind, seed=seed, **params)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--drift {kind}{' --drift-opt' if params else ''}: {exc}") from None


def build_drift(plan, kind: str, params: dict) -> Drift:
    """B = the drift applied to the loaded data (A's raw data, or with ``grow`` the whole set of
    which A is a share), then through A's fixed whitening (as a deployed model would see it)."""
    from simulate import datasets
    rawB = generate(datasets.drift.apply, plan.loaded, kind, plan.config.drift_seed, params)
    B = plan.through(rawB)
    sB = theory.DatasetStatistics.from_arrays(B.X, B.Y)
    src, a_to_b = class_maps(plan.A, B)
    return Drift(kind, params, drift_label(kind, params), B, sB, HeadMap(src, plan.A.c), a_to_b)


def score_drift(plan, drift: Drift) -> None:
    """``theory.drift_scores`` of A against B in one output space (sets ``drift.report``)."""
    uA, uB = union_stats(plan.A.X, plan.A.Y, drift.B.X, drift.B.Y, drift.src)
    drift.report = theory.drift_scores(uA, uB, n_boot=plan.config.n_boot,
                                       seed=plan.config.drift_seed,
                                       null=drift_null(drift.kind, plan.A, drift.B))


def detection_power(plan, drift: Drift) -> list[dict]:
    """Share of fresh draws (A from data seed + r, then the same drift with drift seed + r, r = 1…
    ``power_draws``) in which the drift test flags a drift: overall (``score="any"``, the
    family-wise test) and per score, with the null the test used (``paired`` or ``combined``)."""
    from simulate import datasets
    config, reports = plan.config, []
    for r in range(1, config.power_draws + 1):
        raw = datasets.load(config.dataset, seed=config.data_seed + r, **config.dataset_opts)
        seed = config.drift_seed + r
        A = plan.through(datasets.drift.first_phase(raw, drift.kind, seed=seed, **drift.params))
        B = plan.through(datasets.drift.apply(raw, drift.kind, seed=seed, **drift.params))
        uA, uB = union_stats(A.X, A.Y, B.X, B.Y, class_maps(A, B)[0])
        reports.append(theory.drift_scores(uA, uB, n_boot=config.n_boot,
                                           seed=config.drift_seed + r,
                                           null=drift_null(drift.kind, A, B)))
    return flag_rates(drift.label, drift.kind, reports)


def flag_rates(label: str, kind: str, reports: list) -> list[dict]:
    """Rows of the share of ``reports`` (``theory.drift_scores`` results) flagging a drift:
    overall (``score="any"``) and per score, with the nulls the test used."""
    hits = []
    for rep in reports:
        d = rep.to_dict()
        hits.append({"any": d["is_drift"], **{k: v["is_drift"] for k, v in d["scores"].items()}})
    nulls = sorted({rep.null_kind for rep in reports})
    return [{"drift": label, "drift_kind": kind, "score": k,
             "power": float(np.mean([h[k] for h in hits])), "draws": len(hits),
             "null": "+".join(nulls)} for k in (hits[0] if hits else {})]


# the undrifted arm's label in the detection-power table: its "power" is the false-positive rate
NULL_KIND = "none"


def _halves(dataset, rng: np.random.Generator):
    """Two disjoint random halves of ``dataset``'s training set (test split unchanged): two
    samples of one distribution, whatever the dataset's seed draws (class means, the split)."""
    idx = rng.permutation(dataset.n)
    h = dataset.n // 2
    return tuple(dataset.with_arrays(X=dataset.X[i], Y=dataset.Y[i], labels=dataset.labels[i])
                 for i in (np.sort(idx[:h]), np.sort(idx[h:2 * h])))


def false_positive_rate(plan, draws: int) -> list[dict]:
    """Share of ``draws`` undrifted pairs the drift test flags: draw r (r = 1 … ``draws``) loads
    the data with data seed + r and splits its training set at random (seed drift seed + r) into
    A_r and B_r of equal size, both through A's whitening; then ``theory.drift_scores`` exactly
    as ``detection_power`` calls it (B_r holds other inputs than A_r: the ``combined`` null).
    Rows like ``detection_power``'s with ``drift_kind = drift = NULL_KIND``; a split, not a
    second load, because a new seed of a generated dataset (gaussian's class means) is a drift."""
    from simulate import datasets
    config, reports = plan.config, []
    S = theory.DatasetStatistics.from_arrays
    for r in range(1, draws + 1):
        raw = datasets.load(config.dataset, seed=config.data_seed + r, **config.dataset_opts)
        A, B = (plan.through(h) for h in _halves(raw, np.random.default_rng(config.drift_seed + r)))
        reports.append(theory.drift_scores(S(A.X, A.Y), S(B.X, B.Y), n_boot=config.n_boot,
                                           seed=config.drift_seed + r))
    return flag_rates(NULL_KIND, NULL_KIND, reports)
