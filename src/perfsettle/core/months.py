"""Calendar months as 'YYYY-MM' strings (they sort in calendar order) and contract months."""
from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache

_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_FR = re.compile(r"^\s*(\d{1,2})/(\d{4})\s*$")


def make(year: int, month: int) -> str:
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        raise ValueError(f"no such month: {year}-{month}")
    return f"{year:04d}-{month:02d}"


def parse(text: str) -> str | None:
    """'2026-03' or '03/2026' (also '2026-3', '3/2026') as 'YYYY-MM'; None when not a month."""
    m = _ISO.match(text)
    if m:
        y, mo = int(m.group(1)), int(m.group(2))
    else:
        m = _FR.match(text)
        if not m:
            return None
        mo, y = int(m.group(1)), int(m.group(2))
    try:
        return make(y, mo)
    except ValueError:
        return None


def from_date(value: _dt.date) -> str:
    return make(value.year, value.month)


def index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def from_index(i: int) -> str:
    return make(i // 12, i % 12 + 1)


def add(month: str, n: int) -> str:
    return from_index(index(month) + n)


@lru_cache(maxsize=1 << 16)
def diff(a: str, b: str) -> int:
    """Number of months from b to a (a − b)."""
    return index(a) - index(b)


def contract_month(start: str, month: str) -> int:
    """Contract month number of a calendar month (start_month is 1)."""
    return diff(month, start) + 1


@lru_cache(maxsize=1 << 16)   # a few thousand start months × contract lengths: called per KPI-month
def calendar_month(start: str, number: int) -> str:
    return add(start, number - 1)


def previous(today: _dt.date) -> str:
    return add(from_date(today), -1)
