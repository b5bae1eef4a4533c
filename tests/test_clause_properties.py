"""Invariants of the clause options, amendments and terminations over random contracts
(hypothesis):

- fee = fixed + earned + held + deferred + forfeited in every month, whatever the options,
  amendments and events;
- with every option at its default, the results are the seed's rules (an independent oracle);
- amendments effective after P change no month ≤ P;
- a terminated contract is never invoiced after its last month, and what was invoiced after it
  is credited exactly once;
- a rerun with no new data invoices nothing.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from perfsettle.core import months
from perfsettle.core.model import Amendment, Contract, Event, Kpi, Reading, Terms
from perfsettle.core.money import round_money
from perfsettle.core.settle import attainment, settle, split_pool

START = "2026-01"


@st.composite
def contracts(draw, options=True):
    ccy = draw(st.sampled_from(["EUR", "JPY", "BHD"]))
    digits = {"EUR": 2, "JPY": 0, "BHD": 3}[ccy]
    fee = D(draw(st.integers(1, 10 ** (5 + digits)))).scaleb(-digits)
    duration = draw(st.integers(1, 12))
    n = draw(st.integers(2, 4))
    raw = [max(draw(st.integers(0, 9)), 1 if i < 2 else 0) for i in range(n)]
    weights = [D(w) / D(sum(raw)) for w in raw]
    opt = (lambda strategy, default: draw(strategy)) if options else (lambda strategy, default: default)
    kpis = []
    for i, w in enumerate(weights):
        direction = draw(st.sampled_from(["higher", "lower"]))
        target = D(draw(st.integers(1, 100))) / 100
        floor = None
        if draw(st.booleans()):
            gap = D(draw(st.integers(1, 50))) / 100
            floor = target - gap if direction == "higher" else target + gap
        window = draw(st.integers(1, 3))
        misses = opt(st.one_of(st.none(), st.integers(1, 3)), None)
        kpis.append(Kpi("C", f"k{i}", f"k{i}", "operational", direction, "absolute", target, w, floor=floor,
                        window_months=window, due_month=draw(st.one_of(st.none(), st.integers(1, duration))),
                        window_agg=opt(st.sampled_from(["worst", "mean"]), "worst"),
                        min_coverage=opt(st.one_of(st.none(), st.integers(1, window)), None),
                        earnback_months=opt(st.one_of(st.none(), st.integers(1, 3)), None),
                        chronic_misses=misses, chronic_months=None if misses is None else misses + draw(st.integers(0, 2))))
    bonus = draw(st.booleans())
    c = Contract("C", "c", "p", "PME", ccy, START, duration, fee, D(draw(st.integers(1, 100))) / 100,
                 requires_verified=draw(st.booleans()), bonus_kpi="k0" if bonus else None,
                 bonus_target=D("0.5") if bonus else None, bonus_rate=D(draw(st.integers(0, 30))) / 100,
                 malus_rate=D(draw(st.integers(0, 30))) / 100,
                 exit_kpi="k1" if draw(st.booleans()) else None, exit_threshold=D("0.5"),
                 bonus_base=opt(st.sampled_from(["earned", "pool"]), "earned"),
                 bonus_every=opt(st.integers(1, 4), 1),
                 bonus_band=opt(st.sampled_from([D(0), D("0.05")]), D(0)),
                 exit_window_months=opt(st.one_of(st.none(), st.integers(1, 3)), None),
                 hold_limit_months=opt(st.one_of(st.none(), st.integers(1, 3)), None),
                 deemed_outcome=opt(st.sampled_from(["missed", "met"]), "missed"))
    readings = []
    for k in kpis:
        for m in range(duration + 2):
            status = draw(st.sampled_from(["verified", "verified", "provisional", "disputed", "void", None]))
            if status is not None:
                readings.append(Reading("C", k.kpi_id, months.add(START, m), D(draw(st.integers(0, 100))) / 100,
                                        status))
    period = months.add(START, draw(st.integers(0, duration + 2)))
    return Terms(c, tuple(kpis)), readings, period


@st.composite
def amended(draw):
    terms, readings, period = draw(contracts())
    c = terms.contract
    amendments = []
    for _ in range(draw(st.integers(0, 3))):
        month = months.add(START, draw(st.integers(0, c.duration_months - 1)))
        kind = draw(st.sampled_from(["fee", "share", "target", "weights", "window", "verified", "band"]))
        if kind == "fee":
            amendments.append(Amendment("C", "", "monthly_fee", c.monthly_fee + D(draw(st.integers(0, 999))), month))
        elif kind == "share":
            amendments.append(Amendment("C", "", "variable_share", D(draw(st.integers(1, 100))) / 100, month))
        elif kind == "verified":
            amendments.append(Amendment("C", "", "requires_verified", draw(st.booleans()), month))
        elif kind == "band":
            amendments.append(Amendment("C", "", "bonus_band", D(draw(st.integers(0, 10))) / 100, month))
        elif kind == "target":
            k = draw(st.sampled_from(terms.kpis))
            if k.floor is None:
                amendments.append(Amendment("C", k.kpi_id, "target", D(draw(st.integers(1, 100))) / 100, month))
        elif kind == "window":
            k = draw(st.sampled_from(terms.kpis))
            if k.min_coverage is None:
                amendments.append(Amendment("C", k.kpi_id, "window_months", draw(st.integers(1, 3)), month))
        else:
            raw = [max(draw(st.integers(0, 9)), 1 if i < 2 else 0) for i in range(len(terms.kpis))]
            for k, w in zip(terms.kpis, raw):
                amendments.append(Amendment("C", k.kpi_id, "weight", D(w) / D(sum(raw)), month))
    unique = {a.key: a for a in amendments}
    events = ()
    if draw(st.booleans()):
        events = (Event("C", "terminated", months.add(START, draw(st.integers(0, c.duration_months))), "mutual"),)
    return replace(terms, amendments=tuple(sorted(unique.values(), key=lambda a: a.key)), events=events), readings, period


@settings(max_examples=150, deadline=None)
@given(amended())
def test_conservation_in_every_month_under_options_amendments_and_events(case):
    terms, readings, period = case
    (r,) = settle([terms], readings, {}, period)
    for m in r.months:
        assert m.fee == m.fixed + m.earned + m.held + m.deferred + m.forfeited
        assert m.due == m.fixed + m.earned + m.bonus - m.malus
        assert m.pool == sum((k.pool_k for k in m.kpis), D(0))
        for k in m.kpis:
            assert k.pool_k == k.earned_k + k.forfeited_k + k.held_k + k.deferred_k
            assert k.earned_back_k == 0 or k.earned_k == k.pool_k
    assert all(m.month <= terms.last_month for m in r.months)


def seed_rules(terms: Terms, readings: list[Reading], period: str) -> list[tuple]:
    """The settlement as the seed defined it (worst reading, every window month payable, a
    monthly bonus-malus on the earned variable): an oracle independent of the engine."""
    c = terms.contract
    by_key = {(r.kpi_id, r.month): r for r in readings}

    def window_value(k, t):
        values = []
        for n in range(max(1, t - k.window_months + 1), t + 1):
            r = by_key.get((k.kpi_id, months.calendar_month(START, n)))
            if r is None or r.value is None or r.status in ("void", "disputed") or (
                    c.requires_verified and r.status != "verified"):
                return None
            values.append(r.value)
        return min(values) if k.direction == "higher" else max(values)

    out = []
    fixed = round_money(c.monthly_fee * (1 - c.variable_share), c.currency)
    pools = split_pool(terms)
    for m in range(1, min(months.contract_month(START, period), c.duration_months) + 1):
        earned = held = deferred = forfeited = D(0)
        for k in terms.kpis:
            if k.weight == 0:
                continue
            t = k.due_month if k.due_month and m < k.due_month else m
            if months.calendar_month(START, t) > period:
                deferred += pools[k.kpi_id]
                continue
            v = window_value(k, t)
            if v is None:
                held += pools[k.kpi_id]
                continue
            e = round_money(Fraction(pools[k.kpi_id]) * attainment(k, v), c.currency)
            earned, forfeited = earned + e, forfeited + pools[k.kpi_id] - e
        status, bonus, malus = "n/a", D(0), D(0)
        if c.bonus_kpi:
            bk = terms.kpi(c.bonus_kpi)
            v = window_value(bk, m)
            if v is None:
                status = "held"
            elif bk.better(v, c.bonus_target):
                status, bonus = "bonus", round_money(earned * c.bonus_rate, c.currency)
            elif bk.better(c.bonus_target, v):
                status, malus = "malus", round_money(earned * c.malus_rate, c.currency)
            else:
                status = "none"
        out.append((months.calendar_month(START, m), fixed, earned, held, deferred, forfeited, status, bonus, malus,
                    fixed + earned + bonus - malus))
    return out


@settings(max_examples=150, deadline=None)
@given(contracts(options=False))
def test_with_every_option_at_its_default_the_results_are_the_seed_rules(case):
    terms, readings, period = case
    (r,) = settle([terms], readings, {}, period)
    got = [(m.month, m.fixed, m.earned, m.held, m.deferred, m.forfeited, m.bonus_malus, m.bonus, m.malus, m.due)
           for m in r.months]
    assert got == seed_rules(terms, readings, period)
    assert all(k.earned_back_k == 0 and not k.deemed for m in r.months for k in m.kpis)


@settings(max_examples=100, deadline=None)
@given(amended())
def test_amendments_effective_after_the_period_change_no_month_up_to_it(case):
    terms, readings, period = case
    later = tuple(replace(a, effective_month=months.add(period, 1 + i)) for i, a in enumerate(terms.amendments))
    (plain,) = settle([replace(terms, amendments=())], readings, {}, period)
    (amended_later,) = settle([replace(terms, amendments=later)], readings, {}, period)

    def amounts(result):
        # A deferred row prints the levels of its due month as known now (SPEC §3): only those may differ.
        return [replace(m, kpis=tuple(replace(k, target_level=None, floor_level=None) if k.status == "deferred" else k
                                      for k in m.kpis)) for m in result.months]
    assert amounts(plain) == amounts(amended_later)


@settings(max_examples=100, deadline=None)
@given(amended(), st.lists(st.integers(-500, 5000), min_size=1, max_size=4))
def test_a_terminated_contract_is_credited_once_for_what_was_invoiced_after_its_last_month(case, amounts):
    terms, readings, period = case
    c = terms.contract
    last = months.add(START, min(c.duration_months - 1, 1))
    terms = replace(terms, events=(Event("C", "terminated", last, "exit_right"),))
    ledger = {("C", months.add(last, 1 + i)): D(a) for i, a in enumerate(amounts)}
    period = max(period, max(m for _, m in ledger))
    (first,) = settle([terms], readings, ledger, period)
    assert all(m.due == 0 and not m.kpis for m in first.months if m.month > last)
    for m in first.months:
        ledger[("C", m.month)] = ledger.get(("C", m.month), D(0)) + m.invoice_now
    assert all(ledger[("C", m)] == 0 for m in (months.add(last, 1 + i) for i in range(len(amounts))))
    (second,) = settle([terms], readings, ledger, period)
    assert all(m.month <= last for m in second.months) and second.invoice_now == 0
    (later,) = settle([terms], readings, ledger, months.add(period, 3))
    assert all(m.month <= last for m in later.months)


@settings(max_examples=100, deadline=None)
@given(amended())
def test_a_rerun_with_no_new_data_invoices_nothing(case):
    terms, readings, period = case
    (first,) = settle([terms], readings, {}, period)
    ledger = {("C", m.month): m.invoice_now for m in first.months}
    (second,) = settle([terms], readings, ledger, period)
    assert all(m.invoice_now == 0 for m in second.months)
