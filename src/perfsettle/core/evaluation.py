"""The evaluation of a KPI at one contract month (SPEC §3 steps 2–4).

A window of readings gives a value (its worst reading, or the exact mean of its payable
months) or, with too few payable months, a list of problem months; the hold limit turns a
long-held evaluation into a deemed outcome; the value's attainment is an exact fraction.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from perfsettle.core import months
from perfsettle.core.model import Kpi, Problem, Reading

NONE, ALL = Fraction(0), Fraction(1)   # attainments shared by every KPI-month at 0 % or 100 %


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A KPI's window at month t: ``value`` (None when held or deemed) and ``attainment``
    (None when held)."""
    month: str                          # calendar month t
    window: tuple[str, ...]
    value: Decimal | Fraction | None
    problems: tuple[Problem, ...]
    attainment: Fraction | None
    target_level: Decimal
    floor_level: Decimal | None
    deemed: str = ""                    # missed | met

    @property
    def held(self) -> bool:
        return self.attainment is None

    @property
    def met(self) -> bool:
        return self.attainment is not None and self.attainment >= 1


@lru_cache(maxsize=1 << 16)
def window_months(start: str, t: int, length: int) -> tuple[str, ...]:
    """The calendar months of the window of contract month t (one tuple shared by all users)."""
    return tuple(months.calendar_month(start, n) for n in range(max(1, t - length + 1), t + 1))


def window_value(kpi: Kpi, start: str, strict: bool, readings: Mapping[tuple[str, str], Reading], t: int):
    """(value, problems, window) of ``kpi`` at contract month t; value None when the window
    has fewer payable months than it needs."""
    window = window_months(start, t, kpi.window_months)
    kid, higher = kpi.kpi_id, kpi.direction == "higher"
    values, problems = [], []
    for month in window:
        r = readings.get((kid, month))
        if r is None or r.status == "void" or r.value is None:
            problems.append(Problem(month, "missing"))
        elif r.status == "disputed":
            problems.append(Problem(month, "disputed"))
        elif strict and r.status != "verified":
            problems.append(Problem(month, "unverified"))
        else:
            values.append(r.value)
    needed = min(kpi.coverage, len(window))
    if len(values) < needed or not values:
        return None, tuple(problems), window
    if kpi.window_agg == "mean":
        total = sum((Fraction(v) for v in values), Fraction(0))
        value = total / len(values)      # exact: printed rounded to 6 places
    else:
        value = min(values) if higher else max(values)
    return value, tuple(problems), window


def evaluate(kpi: Kpi, start: str, strict: bool, readings: Mapping[tuple[str, str], Reading], t: int,
             hold: tuple[int, str] | None = None, period: str = "", levels: tuple | None = None) -> Evaluation:
    """``kpi`` evaluated at contract month t; ``hold`` = (hold_limit_months, deemed_outcome)
    applies the hold limit against ``period``; ``levels`` = (target, floor level) when known."""
    value, problems, window = window_value(kpi, start, strict, readings, t)
    month = months.calendar_month(start, t)
    target, floor = levels or (kpi.target_level, kpi.floor_level)
    if value is None:
        if hold is not None and hold[0] is not None and period and months.diff(period, month) >= hold[0]:
            a = ALL if hold[1] == "met" else NONE
            return Evaluation(month, window, None, problems, a, target, floor, hold[1])
        return Evaluation(month, window, None, problems, None, target, floor)
    return Evaluation(month, window, value, problems, attainment(kpi, value, (target, floor)), target, floor)


def _exact(x) -> Fraction:
    return x if isinstance(x, Fraction) else fraction(x)


@lru_cache(maxsize=1 << 16)
def fraction(d: Decimal) -> Fraction:
    """Fraction(d) for the levels and pools every month of a KPI shares (computed once)."""
    return Fraction(d)


def attainment(kpi: Kpi, value, levels: tuple | None = None) -> Fraction:
    """Share of the pool earned at ``value``; ``levels`` = (target level, floor level) when
    the caller has them already."""
    target, floor = levels or (kpi.target_level, kpi.floor_level)
    if isinstance(value, Fraction):
        target, floor = fraction(target), None if floor is None else fraction(floor)
    if floor is None:
        return ALL if not kpi.better(target, value) else NONE
    if not kpi.better(target, value):
        return ALL              # at or beyond the target
    if not kpi.better(value, floor):
        return NONE             # at or short of the floor
    a = (_exact(value) - _exact(floor)) / (_exact(target) - _exact(floor))
    return ALL if a >= 1 else NONE if a <= 0 else a
