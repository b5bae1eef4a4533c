"""pipeline.run shows the plan of a close: its steps named, in order, in well under a screen;
the totals of a close computed once for every output that shows them."""
from __future__ import annotations

import inspect
from decimal import Decimal

from builders import contract, kpis, readings, workbook
from perfsettle import pipeline
from perfsettle.core import totals


def test_run_reads_top_to_bottom_in_well_under_a_screen_its_steps_named():
    source = inspect.getsource(pipeline.run)
    assert len(source.splitlines()) <= 25, source
    steps = ["intake(", "validate(", "close_period(", "render_outputs(", "store_run(", "deliver("]
    at = [source.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), dict(zip(steps, at))
    assert source.count("known") == 0          # one name, one thing: no more `known` for two


def test_the_totals_are_computed_once_for_the_manifest_log_summary_workbook_and_cli(ws, monkeypatch):
    calls = []
    real = totals.per_currency

    def counted(period, results):
        calls.append(period)
        return real(period, results)
    monkeypatch.setattr(totals, "per_currency", counted)
    monkeypatch.setattr(pipeline, "usable_cores", lambda: 1)   # every render job in this process
    workbook(ws.inbox / "terms.xlsx", contracts=[contract(), contract(contract_id="C2", currency="USD")],
             kpis=kpis() + kpis("C2"), readings=readings() + readings("C2"))
    assert ws.run("2026-01") == 0
    assert calls == ["2026-01"]


def test_totals_per_currency_split_the_period_month_from_adjustments():
    from perfsettle.core.model import ContractResult, ExitResult, MonthResult

    def month(m, now, in_term=True):
        z = Decimal(0)
        return MonthResult("C1", m, "EUR", z, z, Decimal(100), Decimal(60), z, z, Decimal(40), "none", z, z,
                           Decimal(60), z, Decimal(now), in_term=in_term)
    r = ContractResult("C1", "settled", "EUR", ExitResult("ok"),
                       (month("2026-01", "-20.00"), month("2026-02", "60.00"), month("2026-03", "0")))
    [(ccy, t)] = totals.per_currency("2026-02", [r]).items()
    assert (ccy, t.settled, t.months, t.lines) == ("EUR", 1, 3, 2)
    assert (t.period_month, t.adjustments, t.period_lines, t.earlier_lines) == (60, -20, 60, -20)
    assert t.amounts["invoice_now"] == 40 and t.period["pool"] == 100
