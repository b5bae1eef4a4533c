"""Invariants over random contracts and readings (hypothesis).

- fee = fixed + earned + held + deferred + forfeited, to the cent, in every contract month;
- due = fixed + earned + bonus − malus;
- a second close with no new data invoices nothing;
- shuffling the rows of the workbooks changes no output.
"""
from __future__ import annotations

import random
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import workbook
from perfsettle.core import months
from perfsettle.core.model import Contract, Kpi, Reading, Terms
from perfsettle.core.settle import settle

CURRENCIES = ["EUR", "JPY", "BHD", "USD"]


@st.composite
def portfolios(draw):
    ccy = draw(st.sampled_from(CURRENCIES))
    digits = {"EUR": 2, "USD": 2, "JPY": 0, "BHD": 3}[ccy]
    fee = D(draw(st.integers(1, 10 ** (6 + digits)))).scaleb(-digits)
    share = D(draw(st.integers(1, 100))) / 100
    duration = draw(st.integers(1, 14))
    n = draw(st.integers(2, 5))
    raw_weights = [draw(st.integers(0, 20)) for _ in range(n)]
    raw_weights[0] = max(raw_weights[0], 1)
    raw_weights[1] = max(raw_weights[1], 1)
    total = sum(raw_weights)
    weights = [D(w) / D(total) for w in raw_weights]
    kpis = []
    for i, w in enumerate(weights):
        direction = draw(st.sampled_from(["higher", "lower"]))
        target = D(draw(st.integers(1, 100))) / 100
        floor = None
        if draw(st.booleans()):
            gap = D(draw(st.integers(1, 50))) / 100
            floor = target - gap if direction == "higher" else target + gap
        kpis.append(Kpi("C", f"k{i}", f"k{i}", "operational", direction, "absolute", target, w, floor=floor,
                        window_months=draw(st.integers(1, 3)),
                        due_month=draw(st.one_of(st.none(), st.integers(1, duration)))))
    bonus = draw(st.booleans())
    contract = Contract("C", "c", "p", "PME", ccy, "2026-01", duration, fee, share,
                        requires_verified=draw(st.booleans()),
                        bonus_kpi="k0" if bonus else None, bonus_target=D("0.5") if bonus else None,
                        bonus_rate=D(draw(st.integers(0, 30))) / 100, malus_rate=D(draw(st.integers(0, 30))) / 100)
    readings = []
    for k in kpis:
        for m in range(duration):
            status = draw(st.sampled_from(["verified", "verified", "provisional", "disputed", "void", None]))
            if status is None:
                continue
            value = D(draw(st.integers(0, 100))) / 100
            readings.append(Reading("C", k.kpi_id, months.add("2026-01", m), value, status))
    period = months.add("2026-01", draw(st.integers(0, duration + 2)))
    return Terms(contract, tuple(kpis)), readings, period


@settings(max_examples=150, deadline=None)
@given(portfolios())
def test_conservation_and_due_in_every_contract_month(case):
    terms, readings, period = case
    (result,) = settle([terms], readings, {}, period)
    for m in result.months:
        assert m.fee == m.fixed + m.earned + m.held + m.deferred + m.forfeited
        assert m.due == m.fixed + m.earned + m.bonus - m.malus
        assert m.pool == sum((k.pool_k for k in m.kpis), D(0))
        for k in m.kpis:
            assert k.pool_k == k.earned_k + k.forfeited_k + k.held_k + k.deferred_k
            assert k.earned_k >= 0 and k.forfeited_k >= 0


@settings(max_examples=100, deadline=None)
@given(portfolios(), st.integers(0, 2 ** 31))
def test_a_second_close_with_no_new_data_invoices_nothing(case, seed):
    terms, readings, period = case
    rng = random.Random(seed)
    opening = {("C", months.add("2026-01", i)): D(rng.randint(-100, 10 ** 6)) for i in range(rng.randint(0, 3))}
    (first,) = settle([terms], readings, opening, period)
    ledger = dict(opening)
    for m in first.months:
        ledger[("C", m.month)] = ledger.get(("C", m.month), D(0)) + m.invoice_now
    (second,) = settle([terms], readings, ledger, period)
    assert all(m.invoice_now == 0 for m in second.months)
    assert [m.due for m in first.months if m.in_term] == [m.due for m in second.months if m.in_term]
    # A month outside the term, once credited back to zero, has no row any more (SPEC §4).
    assert not any(not m.in_term for m in second.months)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2 ** 31))
def test_shuffling_workbook_rows_changes_no_output(tmp_path_factory, seed):
    from perfsettle.cli import main
    rng = random.Random(seed)
    contracts = [{"contract_id": f"C{i}", "client": f"Client {i}", "provider": "Agence", "company_size": "PME",
                  "start_month": "2026-01", "duration_months": 6, "monthly_fee": 1000 + i, "variable_share": 0.35}
                 for i in range(3)]
    kpis, readings = [], []
    for c in contracts:
        cid = c["contract_id"]
        kpis += [{"contract_id": cid, "kpi_id": "a", "name": "A", "category": "operational", "direction": "higher",
                  "target_mode": "absolute", "target": 0.8, "floor": 0.5, "weight": 0.7},
                 {"contract_id": cid, "kpi_id": "b", "name": "B", "category": "robustness", "direction": "lower",
                  "target_mode": "absolute", "target": 0.1, "weight": 0.3, "window_months": 2}]
        for m in ("2026-01", "2026-02", "2026-03"):
            for kid in ("a", "b"):
                if rng.random() < 0.9:
                    readings.append({"contract_id": cid, "kpi_id": kid, "month": m,
                                     "value": round(rng.random(), 3),
                                     "status": rng.choice(["verified", "provisional", "disputed"])})
    outputs = []
    for shuffle in (False, True):
        root = tmp_path_factory.mktemp("shuffle")
        rows = [list(contracts), list(kpis), list(readings)]
        if shuffle:
            for r in rows:
                rng.shuffle(r)
        (root / "inbox").mkdir()
        workbook(root / "inbox" / "p.xlsx", contracts=rows[0], kpis=rows[1], readings=rows[2])
        code = main(["run", "--period", "2026-03", "--min-age", "0", "--inbox", str(root / "inbox"),
                     "--outbox", str(root / "outbox"), "--store", str(root / "s.sqlite")])
        assert code == 0
        outputs.append([(root / "outbox" / "2026-03" / n).read_text() for n in
                        ("settlement.csv", "kpi_results.csv", "contracts.csv")])
    assert outputs[0] == outputs[1]
