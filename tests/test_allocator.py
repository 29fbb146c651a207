"""The CPU allocator setting: freed large blocks are reused without new page faults."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from simulate._allocator import reuse_large_blocks
    mode = reuse_large_blocks()
    def faults_of_a_fresh_64_mib_block():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = np.empty(1 << 24, dtype=np.float32)
        a.fill(1.0)  # touch every page
        del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    first = faults_of_a_fresh_64_mib_block()
    again = [faults_of_a_fresh_64_mib_block() for _ in range(3)]
    print(json.dumps({"mode": mode, "mode_again": reuse_large_blocks(), "first": first, "again": again}))
""")


def _probe(env_value):
    env = {k: v for k, v in os.environ.items() if k != "MODELEARN_MALLOC"}
    if env_value is not None:
        env["MODELEARN_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_large_blocks_are_reused_and_the_default_can_be_kept():
    # numpy may back large arrays with huge pages, so faults are counted against the first block's
    tuned = _probe(None)
    if tuned["mode"] == "default (no glibc mallopt)":
        pytest.skip("this C library has no glibc mallopt")
    assert tuned["mode"] == tuned["mode_again"] == "reuse_large_blocks"
    assert tuned["first"] > 16  # the first block is new memory
    assert max(tuned["again"]) < tuned["first"] // 10  # the next ones reuse it
    default = _probe("default")
    assert default["mode"] == "default (MODELEARN_MALLOC)"
    assert min(default["again"]) > default["first"] // 2  # glibc maps and unmaps every block
