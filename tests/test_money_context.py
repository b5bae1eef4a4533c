"""Money does not depend on the ambient decimal context: a close settled under a hostile
global context (3 digits, rounding down, every signal trapped) is the close settled under the
default one, to the cent."""
from __future__ import annotations

import decimal
from contextlib import contextmanager
from decimal import Decimal as D

import pytest

from perfsettle.core import money
from perfsettle.core.close import Known, close
from perfsettle.core.model import Contract, Intake, Kpi, Reading, Source, Terms
from perfsettle.core.settle import settle, split_pool


@contextmanager
def hostile_context():
    """The thread's global context as a careless library might leave it."""
    ctx = decimal.getcontext()
    saved = ctx.copy()
    ctx.prec = 3
    ctx.rounding = decimal.ROUND_DOWN
    for signal in (decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.DivisionByZero,
                   decimal.Overflow, decimal.Underflow, decimal.Subnormal, decimal.Clamped):
        ctx.traps[signal] = True
    try:
        yield ctx
    finally:
        decimal.setcontext(saved)


def portfolio():
    """Two contracts whose products do not fit in 3 digits: fee × (1 − share), earned × rate,
    a floor's linear payout, a three-way pool split with leftover cents."""
    a = Contract("C-A", "Client A", "Agence", "PME", "EUR", "2026-01", 12, D("12345.67"), D("0.355"),
                 bonus_kpi="roi", bonus_target=D("0.25"), bonus_rate=D("0.125"), malus_rate=D("0.075"))
    a_kpis = (Kpi("C-A", "detect", "Détection", "operational", "higher", "relative", D("0.15"), D("0.3333"),
                  baseline=D("0.7"), floor=D("0.05")),
              Kpi("C-A", "stable", "Stabilité", "robustness", "higher", "absolute", D("0.98"), D("0.3333")),
              Kpi("C-A", "roi", "ROI", "financial", "higher", "absolute", D("0.3"), D("0.3334")))
    b = Contract("C-B", "Client B", "Agence", "ETI", "JPY", "2026-02", 6, D("987654"), D("0.47"),
                 bonus_kpi="cost", bonus_target=D("1200.5"), bonus_rate=D("0.1"), malus_rate=D("0.1"))
    b_kpis = (Kpi("C-B", "cost", "Coût", "financial", "lower", "points", D("-150.25"), D("0.55"),
                  baseline=D("1400.75"), floor=D("-40")),
              Kpi("C-B", "uptime", "Disponibilité", "robustness", "higher", "absolute", D("0.995"), D("0.45")))
    readings = []
    for i, m in enumerate(("2026-01", "2026-02", "2026-03", "2026-04")):
        readings += [Reading("C-A", "detect", m, D("0.7731") + D(i) / 1000, "verified"),
                     Reading("C-A", "stable", m, D("0.981"), "verified"),
                     Reading("C-A", "roi", m, D("0.2741") - D(i) / 100, "verified"),
                     Reading("C-B", "cost", m, D("1301.37") - D(i * 7), "verified"),
                     Reading("C-B", "uptime", m, D("0.9962"), "provisional" if i == 2 else "verified")]
    ledger = {("C-A", "2026-01"): D("10555.55"), ("C-B", "2026-02"): D("700001")}
    return [Terms(a, a_kpis), Terms(b, b_kpis)], readings, ledger


def test_a_close_is_the_same_under_a_hostile_global_context():
    terms, readings, ledger = portfolio()
    expected = settle(terms, readings, ledger, "2026-04")
    assert any(m.bonus or m.malus for r in expected for m in r.months)   # the products are exercised
    with hostile_context() as ctx:
        got = settle(terms, readings, ledger, "2026-04")
        assert decimal.getcontext() is ctx and ctx.prec == 3           # the caller's context is left as it was
    assert got == expected
    a = expected[0].months[0]
    assert a.fixed == D("7962.96")            # 12345.67 × 0.645 = 7962.95715, half up
    assert a.pool == D("4382.71")


def test_the_close_and_the_money_helpers_are_the_same_under_a_hostile_global_context():
    terms, readings, ledger = portfolio()
    known = Known({t.contract.contract_id: t.contract for t in terms},
                  {t.contract.contract_id: {k.kpi_id: k for k in t.kpis} for t in terms},
                  {(r.contract_id, r.kpi_id, r.month): r for r in readings}, dict(ledger), {})
    intake = Intake(invoiced={("C-A", "2025-12"): (D("123.45"), Source("opening.xlsx"))})
    args = dict(run_id="r1", started="2026-05-01T00:00:00Z", files=[])
    expected = close(known, intake, "2026-04", **args)
    helpers = lambda: (money.round_money(D("1234567890.125"), "EUR"), money.to_minor(D("1234567890.12"), "EUR"),  # noqa: E731
                       money.from_minor(123456789012, "EUR"), money.has_minor_precision(D("98765.4321"), "EUR"),
                       money.decimal_from_cell(123456789.0), money.round_product("EUR", D("12345.67"), D("0.645")),
                       split_pool(terms[0]))
    before = helpers()
    with hostile_context():
        got = close(known, intake, "2026-04", **args)
        after = helpers()
    assert got.results == expected.results and after == before
    assert before[0] == D("1234567890.13") and before[5] == D("7962.96")


def test_the_hostile_context_is_hostile():
    """Without the pinned context, the same product is wrong or refused."""
    with hostile_context(), pytest.raises(decimal.Inexact):
        D("12345.67") * (1 - D("0.355"))
