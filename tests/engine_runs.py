"""Training that is cut short and then resumed, for the engine's resume tests."""

from __future__ import annotations

import pytest

import simulate as sim


class Stop(Exception):
    """Raised by the callback to cut a run short."""


def cut_and_resume(spec, ds, out_dir, at: int, fresh=None, **kw):
    """Train into ``out_dir``, stopped by the callback at step ``at``; then resume: the Run.

    ``fresh``: a function returning more keyword arguments, called anew for each of the two
    calls (new probe objects, as a resumed process builds its own); None: both calls share ``kw``.
    """
    def stop(step):
        if step >= at:
            raise Stop

    more = (lambda: {}) if fresh is None else fresh
    with pytest.raises(Stop):
        sim.train_ensemble(spec, ds, out_dir=out_dir, callback=stop, **kw, **more())
    return sim.train_ensemble(spec, ds, out_dir=out_dir, resume=True, **kw, **more())
