"""The settlement of contract months (SPEC §3–§4): pure functions, no I/O, no clock.

``settle(terms, readings, ledger, period)`` recomputes every month of every contract from
everything known now, and invoices the difference with what the ledger says was invoiced.
Every term is read from the terms in force in the month where it is used (``core.terms``);
the KPI evaluations are ``core.evaluation``'s, the bonus blocks ``core.bonus``'s and the exit
right ``core.exit``'s. Amounts are Decimal; attainments are exact fractions, rounded once per
named result. The results are facts (problem months, due months, deemed outcomes, earned-back
months, leftover units); the outputs put them in words.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from perfsettle.core import months
from perfsettle.core.bonus import settle_bonus
from perfsettle.core.evaluation import ALL, NONE, Evaluation, attainment, evaluate, fraction
from perfsettle.core.exit import exit_status as _exit_status
from perfsettle.core.model import (ChronicRight, ContractResult, ExitResult, Kpi, KpiResult, MonthResult, Reading,
                                   Terms)
from perfsettle.core.money import exact, from_minor, pinned, round_money, round_product, to_minor
from perfsettle.core.terms import Schedule

ZERO = Decimal(0)

__all__ = ["settle", "settle_contract", "split_pool", "attainment", "exit_status", "Contract"]


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


class Contract:
    """One contract's settlement context: its schedule of terms, L, and every evaluation made
    (each KPI-month is evaluated once, whether for its own month, a due month, an earnback
    or the chronic-failure rule)."""
    __slots__ = ("terms", "schedule", "readings", "period", "start", "last", "end", "p", "_evals", "_basis",
                 "_kpis", "_fixed")

    def __init__(self, terms: Terms, readings: Mapping[tuple[str, str], Reading], period: str):
        self.terms = terms
        self.schedule = Schedule(terms)
        self.readings = readings
        self.period = period
        self.start = terms.contract.start_month
        self.last = months.contract_month(self.start, terms.last_month)        # L
        self.p = months.contract_month(self.start, period)                    # P's contract month
        self.end = min(self.p, self.last)
        self._evals: dict = {}
        self._basis: dict = {}
        self._kpis: dict = {}      # id(terms) -> {kpi_id: (kpi, (target level, floor level))}
        self._fixed = terms if not terms.amendments else None   # one set of terms for every month

    def month(self, m: int) -> str:
        return months.calendar_month(self.start, m)

    def at(self, m: int) -> Terms:
        return self._fixed or self.schedule.at(self.month(m))

    def kpi_at(self, terms: Terms, kpi_id: str):
        """(kpi, levels) of ``kpi_id`` in ``terms`` (levels computed once per set of terms)."""
        known = self._kpis.get(id(terms))
        if known is None:
            known = self._kpis[id(terms)] = {k.kpi_id: (k, (k.target_level, k.floor_level)) for k in terms.kpis}
        return known[kpi_id]

    def evaluation(self, kpi_id: str, t: int, hold: bool = True) -> Evaluation:
        """``kpi_id`` at contract month t with the terms in force at t (hold limit when ``hold``)."""
        key = (kpi_id, t, hold)
        ev = self._evals.get(key)
        if ev is None:
            terms = self.at(t)
            c = terms.contract
            kpi, levels = self.kpi_at(terms, kpi_id)
            limit = (c.hold_limit_months, c.deemed_outcome) if hold and c.hold_limit_months else None
            ev = self._evals[key] = evaluate(kpi, self.start, c.requires_verified, self.readings, t, limit,
                                             self.period, levels)
        return ev

    def basis(self, terms: Terms) -> "_Basis":
        b = self._basis.get(id(terms))
        if b is None:
            b = self._basis[id(terms)] = _Basis(terms)
        return b


@pinned
def settle_contract(terms: Terms, readings: Mapping[tuple[str, str], Reading],
                    invoiced: Mapping[str, Decimal], period: str) -> ContractResult:
    """One contract: every month 1..min(period, L), plus credits for invoiced months up to
    ``period`` that do not belong to the term 1..L."""
    c = terms.contract
    last = terms.last_month
    ctx = Contract(terms, readings, period)
    if period < c.start_month:
        return ContractResult(c.contract_id, "not_started", c.currency, _exit_status(ctx), (), terms,
                              last_month=last)
    rows = [settle_month(ctx, m, invoiced.get(ctx.month(m), ZERO)) for m in range(1, ctx.end + 1)]
    rows = settle_bonus(ctx, rows)
    settled = {r.month: r for r in rows}
    for month, amount in invoiced.items():
        if month <= period and month not in settled and amount != 0:
            settled[month] = _out_of_term(terms, month, amount)
    ordered = tuple(settled[month] for month in sorted(settled))
    return ContractResult(c.contract_id, "settled", c.currency, _exit_status(ctx), ordered, terms,
                          last_month=last, chronic=chronic_rights(ctx))


@pinned
def exit_status(terms: Terms, readings: Mapping[tuple[str, str], Reading], period: str) -> ExitResult:
    """The client's early-exit right (SPEC §3) at close ``period``."""
    return _exit_status(Contract(terms, readings, period))


class _Basis:
    """What every month under one set of terms shares: fee, fixed part, the pool split, the
    paying KPIs in kpi_id order."""
    __slots__ = ("fee", "fixed", "zero", "pools", "leftover", "paying")

    def __init__(self, terms: Terms):
        c = terms.contract
        self.fee = round_money(c.monthly_fee, c.currency)
        self.fixed = round_product(c.currency, c.monthly_fee, 1 - exact(c.variable_share))
        self.zero = round_money(ZERO, c.currency)
        self.pools, self.leftover = _split(terms)
        self.paying = sorted((k for k in terms.kpis if k.weight > 0), key=lambda k: k.kpi_id)


def _out_of_term(terms: Terms, month: str, before: Decimal) -> MonthResult:
    c = terms.contract
    z = round_money(ZERO, c.currency)
    return MonthResult(c.contract_id, month, c.currency, z, z, z, z, z, z, z, "n/a", z, z, z, before, z - before,
                       (), in_term=False)


@pinned
def split_pool(terms: Terms) -> dict[str, Decimal]:
    """Largest-remainder split of the variable pool over the paying KPIs, in minor units;
    leftover units go one each by largest fractional part, ties by kpi_id ascending."""
    return _split(terms)[0]


def _split(terms: Terms) -> tuple[dict[str, Decimal], frozenset[str]]:
    c = terms.contract
    fixed = round_product(c.currency, c.monthly_fee, 1 - exact(c.variable_share))
    pool_units = to_minor(c.monthly_fee - fixed, c.currency)
    paying = sorted((k for k in terms.kpis if k.weight > 0), key=lambda k: k.kpi_id)
    weights = _whole_weights(tuple(k.weight for k in paying))
    total = sum(weights)
    # quota = pool_units × weight / total: its whole units and, over the same denominator, its rest
    units, rests = {}, {}
    for k, w in zip(paying, weights):
        units[k.kpi_id], rests[k.kpi_id] = divmod(pool_units * w, total)
    leftover = pool_units - sum(units.values())
    order = sorted(rests, key=lambda kid: (-rests[kid], kid))
    for kid in order[:leftover]:
        units[kid] += 1
    return {kid: from_minor(u, c.currency) for kid, u in units.items()}, frozenset(order[:leftover])


@lru_cache(maxsize=4096)
def _whole_weights(weights: tuple[Decimal, ...]) -> tuple[int, ...]:
    """Integers in the exact ratios of ``weights`` (a few sets of weights serve every contract)."""
    exact_weights = [Fraction(w) for w in weights]
    scale = math.lcm(*(f.denominator for f in exact_weights)) if exact_weights else 1
    return tuple(int(f * scale) for f in exact_weights)


def settle_month(ctx: Contract, m: int, before: Decimal = ZERO) -> MonthResult:
    """Contract month ``m`` before its bonus-malus; ``before`` is what the ledger says was
    invoiced for it."""
    terms = ctx.at(m)
    c = terms.contract
    month = ctx.month(m)
    basis = ctx.basis(terms)
    zero = basis.zero
    kpi_rows = [_settle_kpi(ctx, kpi, basis.pools[kpi.kpi_id], m, month, zero, kpi.kpi_id in basis.leftover)
                for kpi in basis.paying]
    earned = held = deferred = forfeited = zero
    for k in kpi_rows:
        earned += k.earned_k
        held += k.held_k
        deferred += k.deferred_k
        forfeited += k.forfeited_k
    fee, fixed = basis.fee, basis.fixed
    due = fixed + earned
    return MonthResult(c.contract_id, month, c.currency, fee, fixed, fee - fixed, earned, held, deferred, forfeited,
                       "n/a", zero, zero, due, before, due - before, tuple(kpi_rows),
                       amendments=ctx.schedule.amendments_at(month))


def _settle_kpi(ctx: Contract, kpi: Kpi, pool_k: Decimal, m: int, month: str, zero: Decimal,
                leftover: bool) -> KpiResult:
    cid = ctx.terms.contract.contract_id
    kid = kpi.kpi_id
    t = m
    if kpi.due_month is not None and m < kpi.due_month:
        t = min(kpi.due_month, ctx.last)
        due_cal = ctx.month(t)
        if due_cal > ctx.period:
            later = ctx.at(t).kpi(kid)
            return KpiResult(cid, month, kid, "deferred", None, later.target_level, later.floor_level,
                             None, pool_k, zero, zero, zero, pool_k, (), due_cal, due_month=due_cal,
                             leftover_unit=leftover)
    ev = ctx.evaluation(kid, t)
    if ev.held:
        return KpiResult(cid, month, kid, "held", None, ev.target_level, ev.floor_level, None, pool_k, zero, zero,
                         pool_k, zero, ev.problems, ev.month, ev.window, leftover_unit=leftover)
    a = ev.attainment
    earned_k, lost = _earned(pool_k, a, zero, ctx.terms.contract.currency)
    row = KpiResult(cid, month, kid, "earned", ev.value, ev.target_level, ev.floor_level, a, pool_k, earned_k,
                    lost, zero, zero, ev.problems if ev.deemed else (), ev.month, ev.window,
                    deemed=ev.deemed, earned_back_k=zero, leftover_unit=leftover)
    n = kpi.earnback_months
    own = kpi.due_month is None or m >= kpi.due_month     # evaluated at m itself, not through D
    if n and own and a < 1 and m + n <= ctx.end:
        if all(ctx.evaluation(kid, j).met for j in range(m + 1, m + n + 1)):
            row = replace(row, earned_k=pool_k, forfeited_k=zero, earned_back_k=pool_k - earned_k,
                          earned_back=(ctx.month(m + 1), ctx.month(m + n)))
    return row


def _earned(pool_k: Decimal, a: Fraction, zero: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    if a is ALL or a == 1:
        return pool_k, zero
    if a is NONE or a == 0:
        return zero, pool_k
    earned_k = round_money(fraction(pool_k) * a, currency)
    return earned_k, pool_k - earned_k


def chronic_rights(ctx: Contract) -> tuple[ChronicRight, ...]:
    """The KPIs missed in at least chronic_misses of the last chronic_months months (SPEC §3)."""
    out = []
    q = ctx.end
    for kpi in sorted(ctx.terms.kpis, key=lambda k: k.kpi_id):
        if not kpi.chronic_misses or not kpi.chronic_months or q < 1:
            continue
        window = range(max(1, q - kpi.chronic_months + 1), q + 1)
        missed = []
        for j in window:
            if kpi.due_month is not None and j < kpi.due_month:
                continue
            ev = ctx.evaluation(kpi.kpi_id, j)
            if not ev.held and ev.attainment < 1:
                missed.append(ctx.month(j))
        if len(missed) >= kpi.chronic_misses:
            out.append(ChronicRight(kpi.kpi_id, tuple(missed), tuple(ctx.month(j) for j in window),
                                    kpi.chronic_misses))
    return tuple(out)
