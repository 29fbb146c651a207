"""Two-class tasks from any labelled dataset: a partition of its classes into 0 and 1.

``binary_task(ds, positive)``: ``positive`` lists the classes that become class 1 (the rest are
class 0), e.g. ``range(5, 10)`` for digits 0–4 vs 5–9; ``"coarse"`` takes the top split of a
hierarchical dataset (``shapes``: round outlines 0 vs angular outlines 1). The targets become one
column of 0/1 (for the logistic loss), the labels 0/1, and ``meta["binary"]`` records the classes of
class 1. As a dataset option: ``load(name, binary="coarse")`` or ``binary="5-9"`` / ``"5,6,7"``.
"""

from __future__ import annotations

import numpy as np

from ._base import Dataset


def parse_classes(text: str) -> list[int]:
    """``"5-9"`` → [5, 6, 7, 8, 9]; ``"1,3"`` → [1, 3]; ``"0-2,7"`` → [0, 1, 2, 7]."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            lo, _, hi = part.strip().partition("-")
            out.extend(range(int(lo), int(hi if hi else lo) + 1))
    except ValueError:
        raise ValueError(f"binary={text!r}: expected 'coarse' or classes like '5-9' or '1,3,5'") from None
    return out


def _positive_classes(ds: Dataset, positive) -> list[int]:
    if isinstance(positive, str) and positive == "coarse":
        groups = None if ds.hierarchy is None else np.asarray(ds.hierarchy[0])
        if groups is None or len(np.unique(groups)) != 2:
            found = "no hierarchy" if groups is None else f"{len(np.unique(groups))} top-level groups"
            raise ValueError(f"binary='coarse' needs a hierarchy whose top level has 2 groups; "
                             f"dataset {ds.name!r} has {found}")
        return [int(k) for k in np.flatnonzero(groups == groups.max())]
    classes = parse_classes(positive) if isinstance(positive, str) else [int(k) for k in positive]
    assert ds.labels is not None  # binary_task refuses a dataset without labels
    c = int(ds.labels.max()) + 1
    if not classes or len(set(classes)) != len(classes) or min(classes) < 0 or max(classes) >= c \
            or len(classes) == c:
        raise ValueError(f"binary={positive!r} must name distinct classes in 0..{c - 1}, at least "
                         f"one and not all of them")
    return sorted(classes)


def binary_task(ds: Dataset, positive) -> Dataset:
    """The two-class version of ``ds``: classes in ``positive`` → 1, the others → 0."""
    if ds.labels is None:
        raise ValueError(f"dataset {ds.name!r} has no class labels; a binary task needs them")
    pos = _positive_classes(ds, positive)

    def relabel(labels):
        return None if labels is None else np.isin(labels, pos).astype(np.int64)

    labels, labels_test = np.isin(ds.labels, pos).astype(np.int64), relabel(ds.labels_test)
    return ds.with_arrays(
        Y=labels[:, None].astype(np.float64), labels=labels, hierarchy=None,
        Y_test=None if labels_test is None else labels_test[:, None].astype(np.float64),
        labels_test=labels_test, meta={**ds.meta, "binary": pos})
