"""infra.procs.ordered_map: results in order, computed in worker processes, errors raised."""
from __future__ import annotations

import os

import pytest

from perfsettle.infra.procs import ordered_map


def _square_and_pid(n: int) -> tuple[int, int]:
    return n * n, os.getpid()


def _fails_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("three")
    return n


def test_results_come_in_the_items_order_from_worker_processes():
    results = list(ordered_map(_square_and_pid, range(40), workers=2))
    assert [r for r, _ in results] == [n * n for n in range(40)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_one_worker_computes_in_this_process():
    assert {pid for _, pid in ordered_map(_square_and_pid, range(5), workers=1)} == {os.getpid()}


def test_an_error_in_a_worker_is_raised_in_the_caller_after_the_results_before_it():
    seen = []
    with pytest.raises(ValueError, match="three"):
        for n in ordered_map(_fails_on_three, range(100), workers=2):
            seen.append(n)
    assert seen == [0, 1, 2]
