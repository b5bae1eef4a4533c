"""Worker processes that never outlive the run that started them."""
from __future__ import annotations

import ctypes
import gc
import os
import signal
from collections import deque
from typing import Callable, Iterable, Iterator, TypeVar

_PR_SET_PDEATHSIG = 1

T = TypeVar("T")
R = TypeVar("R")


def die_with_parent(parent_pid: int) -> None:
    """In a child process: be killed when the parent dies (a killed run leaves no orphan
    holding its files or pipes). Linux only; elsewhere a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:     # the parent died before the request took effect
        os._exit(1)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or ``taskset``
    narrows; ``os.cpu_count()`` counts the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int,
                initializer: Callable[[], None] | None = None) -> Iterator[R]:
    """``fn(item)`` for each item, yielded in the items' order as soon as each is ready,
    computed by ``workers`` forked processes (in this process when ``workers`` < 2).

    The pool is started once: each worker runs ``initializer`` once (what every call would
    otherwise set up again) and then takes one item at a time, so the workers finish together
    whatever each item costs. At most a few items per worker are handed out ahead of the one
    the caller waits for: the results held in memory stay bounded however many items there
    are. ``fn`` and its items go to the workers pickled (``fn`` a module-level function); an
    exception raised by ``fn`` is raised here, and the workers not yet started are cancelled.
    The workers are killed if this process dies (``die_with_parent``). Objects that exist
    when the workers are forked are frozen out of the collector's scans meanwhile, so that
    the workers share this process's memory instead of copying each page the collector would
    touch.
    """
    if workers < 2:
        if initializer is not None:
            initializer()
        yield from map(fn, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    pending: deque = deque()
    todo = iter(items)
    gc.freeze()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(os.getpid(), initializer))
    try:
        for item in _take(todo, 4 * workers):
            pending.append(pool.submit(fn, item))
        while pending:
            result = pending.popleft().result()
            for item in _take(todo, 1):
                pending.append(pool.submit(fn, item))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()


def _take(items: Iterator[T], n: int) -> Iterator[T]:
    for _ in range(n):
        try:
            yield next(items)
        except StopIteration:
            return


def _start_worker(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer()
