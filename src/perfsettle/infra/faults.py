"""Deterministic fault-injection points for the crash tests.

``checkpoint(name)`` counts the points a run passes. With ``PERFSETTLE_CRASH_AT=N`` in the
environment the process kills itself (SIGKILL) at the N-th point; with
``PERFSETTLE_TRACE_POINTS=FILE`` each point's number and name is appended to FILE. Neither
is set in normal use, and then a checkpoint costs one dictionary lookup.
"""
from __future__ import annotations

import os
import signal

_count = 0


def checkpoint(name: str) -> None:
    global _count
    crash_at = os.environ.get("PERFSETTLE_CRASH_AT")
    trace = os.environ.get("PERFSETTLE_TRACE_POINTS")
    if crash_at is None and trace is None:
        return
    _count += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(f"{_count} {name}\n")
    if crash_at is not None and int(crash_at) == _count:
        os.kill(os.getpid(), signal.SIGKILL)
