"""The settlement of contract months (SPEC §3–§4): pure functions, no I/O, no clock.

``settle(terms, readings, ledger, period)`` recomputes every month of every contract from
everything known now, and invoices the difference with what the ledger says was invoiced.
Amounts are Decimal; attainments are exact fractions, rounded once per named result.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from perfsettle.core import months
from perfsettle.core.model import ContractResult, ExitResult, Kpi, KpiResult, MonthResult, Reading, Terms
from perfsettle.core.money import exact, from_minor, pinned, round_money, round_product, to_minor

ZERO = Decimal(0)
NONE, ALL = Fraction(0), Fraction(1)   # attainments shared by every KPI-month at 0 % or 100 %


@pinned
def settle(terms: Iterable[Terms], readings: Iterable[Reading], ledger: Mapping[tuple[str, str], Decimal],
           period: str, excluded: Iterable[str] = ()) -> tuple[ContractResult, ...]:
    """Settle every contract up to ``period``.

    ``ledger`` maps (contract_id, month) to what was invoiced before (opening entry plus
    earlier closes). Contracts in ``excluded`` get status ``excluded`` and no months.
    """
    by_contract: dict[str, dict[tuple[str, str], Reading]] = {}
    for r in readings:
        by_contract.setdefault(r.contract_id, {})[(r.kpi_id, r.month)] = r
    invoiced: dict[str, dict[str, Decimal]] = {}
    for (cid, month), amount in ledger.items():
        invoiced.setdefault(cid, {})[month] = amount
    skip = set(excluded)
    out = []
    for t in sorted(terms, key=lambda t: t.contract.contract_id):
        cid = t.contract.contract_id
        if cid in skip:
            out.append(ContractResult(cid, "excluded", t.contract.currency, ExitResult(""), (), t))
        else:
            out.append(settle_contract(t, by_contract.get(cid, {}), invoiced.get(cid, {}), period))
    return tuple(out)


@pinned
def settle_contract(terms: Terms, readings: Mapping[tuple[str, str], Reading],
                    invoiced: Mapping[str, Decimal], period: str) -> ContractResult:
    """One contract: every month 1..min(period, last month), plus credits for invoiced months
    up to ``period`` that no longer belong to the term."""
    c = terms.contract
    if period < c.start_month:
        return ContractResult(c.contract_id, "not_started", c.currency, exit_status(terms, readings, period), (), terms)
    last = min(period, c.last_month)
    basis = _Basis(terms)
    settled = {}
    for i in range(months.diff(last, c.start_month) + 1):
        m = i + 1
        month = months.calendar_month(c.start_month, m)
        settled[month] = settle_month(terms, basis, readings, m, period, invoiced.get(month, ZERO))
    for month, amount in invoiced.items():
        if month <= period and month not in settled:
            settled[month] = _out_of_term(terms, month, amount)
    rows = tuple(settled[month] for month in sorted(settled))
    return ContractResult(c.contract_id, "settled", c.currency, exit_status(terms, readings, period), rows, terms)


class _Basis:
    """What every month of one contract shares: fee, fixed part, the pool split, the paying
    KPIs in kpi_id order, the bonus KPI (computed once per contract, not per month)."""
    __slots__ = ("fee", "fixed", "zero", "pools", "paying", "levels", "bonus_kpi")

    def __init__(self, terms: Terms):
        c = terms.contract
        self.fee = round_money(c.monthly_fee, c.currency)
        self.fixed = round_product(c.currency, c.monthly_fee, 1 - exact(c.variable_share))
        self.zero = round_money(ZERO, c.currency)
        self.pools = split_pool(terms)
        self.paying = sorted((k for k in terms.kpis if k.weight > 0), key=lambda k: k.kpi_id)
        self.levels = {k.kpi_id: (k.target_level, k.floor_level) for k in self.paying}
        self.bonus_kpi = terms.kpi(c.bonus_kpi) if c.bonus_kpi else None


def _out_of_term(terms: Terms, month: str, before: Decimal) -> MonthResult:
    c = terms.contract
    z = round_money(ZERO, c.currency)
    return MonthResult(c.contract_id, month, c.currency, z, z, z, z, z, z, z, "n/a", z, z, z, before, z - before,
                       (), in_term=False)


@pinned
def split_pool(terms: Terms) -> dict[str, Decimal]:
    """Largest-remainder split of the variable pool over the paying KPIs, in minor units;
    leftover units go one each by largest fractional part, ties by kpi_id ascending."""
    c = terms.contract
    fixed = round_product(c.currency, c.monthly_fee, 1 - exact(c.variable_share))
    pool_units = to_minor(c.monthly_fee - fixed, c.currency)
    paying = sorted((k for k in terms.kpis if k.weight > 0), key=lambda k: k.kpi_id)
    total = sum((Fraction(k.weight) for k in paying), Fraction(0))
    quotas = {k.kpi_id: pool_units * Fraction(k.weight) / total for k in paying}
    units = {kid: q.numerator // q.denominator for kid, q in quotas.items()}
    leftover = pool_units - sum(units.values())
    order = sorted(quotas, key=lambda kid: (-(quotas[kid] - units[kid]), kid))
    for kid in order[:leftover]:
        units[kid] += 1
    return {kid: from_minor(u, c.currency) for kid, u in units.items()}


def evaluate(kpi: Kpi, terms: Terms, readings: Mapping[tuple[str, str], Reading], t: int):
    """Evaluate a KPI at contract month t over its window.

    Returns (value, problems, window): value is the worst payable reading of the window, or
    None when any window month is missing, disputed or (under requires_verified) unverified;
    problems lists those months with their reason.
    """
    c = terms.contract
    window = _window(c.start_month, t, kpi.window_months)
    kid, higher, strict = kpi.kpi_id, kpi.direction == "higher", c.requires_verified
    worst, problems = None, []
    for month in window:
        r = readings.get((kid, month))
        if r is None or r.status == "void" or r.value is None:
            problems.append(f"{month} missing")
        elif r.status == "disputed":
            problems.append(f"{month} disputed")
        elif strict and r.status != "verified":
            problems.append(f"{month} unverified")
        elif worst is None or (r.value < worst if higher else r.value > worst):
            worst = r.value
    if problems:
        return None, problems, window
    return worst, problems, window


@lru_cache(maxsize=1 << 16)
def _fraction(d: Decimal) -> Fraction:
    """Fraction(d) for the levels and pools every month of a KPI shares (computed once)."""
    return Fraction(d)


@lru_cache(maxsize=1 << 16)
def _window(start: str, t: int, length: int) -> tuple[str, ...]:
    """The calendar months of the window of contract month t (one tuple shared by all users)."""
    return tuple(months.calendar_month(start, n) for n in range(max(1, t - length + 1), t + 1))


def attainment(kpi: Kpi, value: Decimal, levels: tuple | None = None) -> Fraction:
    """Share of the pool earned at ``value``; ``levels`` = (target level, floor level) when
    the caller has them already."""
    target, floor = levels or (kpi.target_level, kpi.floor_level)
    if floor is None:
        return ALL if not kpi.better(target, value) else NONE
    if not kpi.better(target, value):
        return ALL              # at or beyond the target
    if not kpi.better(value, floor):
        return NONE             # at or short of the floor
    a = (Fraction(value) - _fraction(floor)) / (_fraction(target) - _fraction(floor))
    return ALL if a >= 1 else NONE if a <= 0 else a


@pinned
def settle_month(terms: Terms, basis: _Basis, readings: Mapping[tuple[str, str], Reading],
                 m: int, period: str, before: Decimal = ZERO) -> MonthResult:
    """Contract month ``m``; ``before`` is what the ledger says was invoiced for it."""
    c = terms.contract
    ccy = c.currency
    month = months.calendar_month(c.start_month, m)
    zero = basis.zero
    kpi_rows = [_settle_kpi(terms, kpi, basis.pools[kpi.kpi_id], readings, m, month, period, zero,
                            basis.levels[kpi.kpi_id]) for kpi in basis.paying]
    earned = held = deferred = forfeited = zero
    for k in kpi_rows:
        earned += k.earned_k
        held += k.held_k
        deferred += k.deferred_k
        forfeited += k.forfeited_k
    bonus_malus, bonus, malus, bonus_value, bonus_reason = "n/a", zero, zero, None, ""
    bkpi = basis.bonus_kpi
    if bkpi is not None:
        v, problems, _ = evaluate(bkpi, terms, readings, m)
        bonus_value = v
        if v is None:
            bonus_malus, bonus_reason = "held", "; ".join(problems)
        elif bkpi.better(v, c.bonus_target):
            bonus_malus, bonus = "bonus", round_product(ccy, earned, c.bonus_rate)
        elif bkpi.better(c.bonus_target, v):
            bonus_malus, malus = "malus", round_product(ccy, earned, c.malus_rate)
        else:
            bonus_malus = "none"
    fee, fixed = basis.fee, basis.fixed
    due = fixed + earned + bonus - malus
    return MonthResult(c.contract_id, month, ccy, fee, fixed, fee - fixed, earned, held, deferred, forfeited,
                       bonus_malus, bonus, malus, due, before, due - before, tuple(kpi_rows), bonus_value,
                       bonus_reason)


def _settle_kpi(terms, kpi: Kpi, pool_k, readings, m, month, period, zero, levels=None) -> KpiResult:
    c = terms.contract
    target, floor = levels or (kpi.target_level, kpi.floor_level)
    t = m
    if kpi.due_month is not None and m < kpi.due_month:
        t = kpi.due_month
        due_cal = months.calendar_month(c.start_month, t)
        if due_cal > period:
            return KpiResult(c.contract_id, month, kpi.kpi_id, "deferred", None, target, floor,
                             None, pool_k, zero, zero, zero, pool_k, f"due {due_cal}", due_cal)
    value, problems, window = evaluate(kpi, terms, readings, t)
    evaluated = months.calendar_month(c.start_month, t)
    if value is None:
        return KpiResult(c.contract_id, month, kpi.kpi_id, "held", None, target, floor,
                         None, pool_k, zero, zero, pool_k, zero, "; ".join(problems), evaluated, window)
    a = attainment(kpi, value, (target, floor))
    if a is ALL:
        earned_k, lost = pool_k, zero
    elif a is NONE:
        earned_k, lost = zero, pool_k
    else:
        earned_k = round_money(_fraction(pool_k) * a, c.currency)
        lost = pool_k - earned_k
    return KpiResult(c.contract_id, month, kpi.kpi_id, "earned", value, target, floor,
                     a, pool_k, earned_k, lost, zero, zero, "", evaluated, window)


@pinned
def exit_status(terms: Terms, readings: Mapping[tuple[str, str], Reading], period: str) -> ExitResult:
    """The client's early-exit right (SPEC §3)."""
    c = terms.contract
    kpi = terms.kpi(c.exit_kpi) if c.exit_kpi else None
    if kpi is None:
        return ExitResult("n/a")
    e = c.effective_exit_month
    e_month = months.calendar_month(c.start_month, e)
    threshold = c.exit_threshold
    if e_month <= period:
        v, problems, _ = evaluate(kpi, terms, readings, e)
        if v is None:
            return ExitResult("undetermined", e_month, e_month, None, threshold, "; ".join(problems))
        status = "exit_right" if kpi.better(threshold, v) else "ok"
        return ExitResult(status, e_month, e_month, v, threshold)
    if period < c.start_month:
        return ExitResult("ok", e_month, "", None, threshold, "not started")
    p = months.contract_month(c.start_month, period)
    v, problems, _ = evaluate(kpi, terms, readings, p)
    if v is not None and kpi.better(threshold, v):
        return ExitResult("watch", e_month, period, v, threshold)
    return ExitResult("ok", e_month, period, v, threshold, "; ".join(problems))
