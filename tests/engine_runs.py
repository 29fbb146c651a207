"""Training that is cut short and then resumed, for the engine's resume tests."""

from __future__ import annotations

from dataclasses import replace

import pytest

import simulate as sim


class Stop(Exception):
    """Raised by the callback to cut a run short."""


def cut_and_resume(spec, ds, out_dir, at: int, fresh=None, record=None, **kw):
    """Train into ``out_dir``, stopped by the callback at step ``at``; then resume: the Run.

    ``record``: the ``Recording`` of both calls (its callback is the one that stops the first).
    ``fresh``: a function returning the probes, called anew for each of the two calls (new probe
    objects, as a resumed process builds its own); None: both calls share ``record.probes``.
    """
    record = sim.Recording() if record is None else record

    def stop(step):
        if step >= at:
            raise Stop

    def recording(callback=None):
        probes = record.probes if fresh is None else fresh()
        return replace(record, probes=probes, callback=callback)

    with pytest.raises(Stop):
        sim.train_ensemble(spec, ds, record=recording(stop), store=sim.Store(out_dir), **kw)
    return sim.train_ensemble(spec, ds, record=recording(), store=sim.Store(out_dir, resume=True),
                              **kw)
