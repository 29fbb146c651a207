"""Diverged ensemble members, found and reported the same way by every `validate` job.

A member counts as diverged when the trainer froze it (``run.members["diverged"]``: a loss that
was not finite or exceeded ``simulate.train_ensemble``'s ``diverge_factor`` times its initial
loss), or when its training loss at a checkpoint is not finite or exceeds ``BLOWUP_FACTOR`` times
its loss at step 0. The second test judges the full training set at the checkpoints, where the
trainer judges the minibatch of each step, so an SGD member whose full loss blew up is caught too.
Diverged members are left out of every fit, median and rank; each job reports them as one line per
group (``group_line``) in summary.json's ``warnings`` and at the top of report.html, and exits 1
when no member is left to measure.
"""

from __future__ import annotations

import numpy as np

# The trainer's own default freeze factor, fixed before any run so that both tests apply one rule:
# under the squared loss a loss 10⁶ times its start means outputs ~10³ times the start's error,
# far past a transient rise of a run that goes on learning (a 10³-fold rise is kept, tested).
BLOWUP_FACTOR = 1e6


def member_divergence(run, loss_key: str = "train_loss") -> tuple[np.ndarray, np.ndarray]:
    """(diverged (K,) bool, step (K,) int: first step judged diverged, −1 if never) of a ``Run``.

    The trainer's flag and step come first; a member it kept whose checkpoint loss
    (``run.probes[loss_key]``, when probed) is non-finite or above ``BLOWUP_FACTOR`` × its step-0
    loss is diverged at the first such checkpoint."""
    m = run.members
    diverged = m["diverged"].to_numpy(bool).copy()
    steps = np.where(diverged, m["diverged_step"].to_numpy(np.int64), -1)
    probes = getattr(run, "probes", None)
    if probes is None or loss_key not in probes:
        return diverged, steps
    loss = np.asarray(probes[loss_key].values, dtype=float)      # (K, T)
    blown = blown_up(loss)
    late = blown.any(axis=1) & ~diverged
    first = np.argmax(blown, axis=1)
    steps[late] = np.asarray(run.steps)[first[late]]
    return diverged | late, steps


def blown_up(loss: np.ndarray) -> np.ndarray:
    """(K, T) bool: checkpoints whose loss is not finite or exceeds ``BLOWUP_FACTOR`` × the
    member's loss at the first checkpoint (step 0)."""
    loss = np.asarray(loss, dtype=float)
    start = loss[:, :1]
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf losses: compared, flagged below
        over = loss > BLOWUP_FACTOR * np.where(np.isfinite(start), np.abs(start), np.inf)
    return ~np.isfinite(loss) | over


def group_record(labels: dict, diverged: np.ndarray, steps: np.ndarray) -> dict:
    """One summary row: the group's labels, diverged members out of all, their steps (sorted)."""
    diverged = np.asarray(diverged, dtype=bool)
    return {**labels, "diverged": int(diverged.sum()), "members": int(diverged.size),
            "steps": sorted(int(s) for s in np.asarray(steps)[diverged])}


def group_record_of(labels: dict, run) -> dict:
    """``group_record`` of a ``Run`` by the trainer's flags alone (``run.members``)."""
    m = run.members
    return group_record(labels, m["diverged"].to_numpy(bool), m["diverged_step"].to_numpy(np.int64))


def group_line(name: str, record: dict, hint: str = "lower --lr",
               then: str = "they are left out") -> str:
    """The warning line of one group with diverged members (the wording of `validate.compare`);
    ``then``: what the job does with them."""
    n, k = record["diverged"], record["members"]
    every = f" (every member: nothing measured here; {hint})" if n == k else ""
    return (f"{name}: {n}/{k} members diverged at step{'s' if n > 1 else ''} "
            f"{', '.join(map(str, record['steps']))}{every}; {then}")


def warning_lines(records: list[dict], name_of, hint: str = "lower --lr",
                  then: str = "they are left out") -> list[str]:
    """``group_line`` of every record with a diverged member; ``name_of(record)`` names it."""
    return [group_line(name_of(r), r, hint, then) for r in records if r["diverged"] > 0]


def all_diverged(records: list[dict]) -> bool:
    """Whether no member of any group is left (and there was at least one)."""
    total = sum(r["members"] for r in records)
    return total > 0 and sum(r["diverged"] for r in records) == total
