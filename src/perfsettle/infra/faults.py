"""Deterministic fault-injection points for the crash tests.

``checkpoint(name)`` counts the points a run passes. With ``PERFSETTLE_CRASH_AT=N`` in the
environment the process kills itself (SIGKILL) at the N-th point; with
``PERFSETTLE_TRACE_POINTS=FILE`` each point's number and name is appended to FILE. Neither
is set in normal use, and then a checkpoint costs a few dictionary lookups.

With ``PERFSETTLE_PAUSE_AT=NAME`` and ``PERFSETTLE_PAUSE_FILE=FILE``, the process pauses at the
first point of that name: it creates FILE and waits until FILE is removed (a test then acts
on the paused run: reads the store, drops its connection).
"""
from __future__ import annotations

import os
import signal
import time

_count = 0
_paused = False


def checkpoint(name: str) -> None:
    global _count
    crash_at = os.environ.get("PERFSETTLE_CRASH_AT")
    trace = os.environ.get("PERFSETTLE_TRACE_POINTS")
    if crash_at is None and trace is None:
        if "PERFSETTLE_PAUSE_AT" in os.environ:
            _pause(name)
        return
    _count += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(f"{_count} {name}\n")
    if crash_at is not None and int(crash_at) == _count:
        os.kill(os.getpid(), signal.SIGKILL)


def _pause(name: str) -> None:
    global _paused
    flag = os.environ.get("PERFSETTLE_PAUSE_FILE")
    if _paused or not flag or name != os.environ["PERFSETTLE_PAUSE_AT"]:
        return
    _paused = True
    with open(flag, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {name}\n")
    deadline = time.monotonic() + float(os.environ.get("PERFSETTLE_PAUSE_SECONDS", "300"))
    while os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)
