"""Amendments and events through the CLI and the store: kept with every version, replaced by a
later drop of the same key, withdrawn by ``void`` or a blank month; nothing stored from an
excluded contract; and a close that uses them."""
from __future__ import annotations

import sqlite3
from decimal import Decimal as D

from builders import contract, kpis, readings, workbook
from perfsettle.store import Store


def amendment(value, month="2026-03", cid="C1", field="monthly_fee", kpi_id=None):
    return {"contract_id": cid, "kpi_id": kpi_id, "field": field, "value": value, "effective_month": month,
            "reason": "Avenant", "reference": "AV-1"}


def rows(ws, sql):
    db = sqlite3.connect(ws.store)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_amendments_and_events_are_stored_replaced_and_withdrawn_with_every_version(ws, tmp_path):
    months = ("2026-01", "2026-02", "2026-03")
    ws.drop(workbook(tmp_path / "a.xlsx", contracts=[contract(), contract(contract_id="C2")],
                     kpis=kpis() + kpis("C2"), readings=readings(months=months) + readings("C2", months=months),
                     amendments=[amendment(12000), amendment(0.9, cid="C2", field="weight", kpi_id="detection")]))
    assert ws.run("2026-03") == 1                                    # C2's amendment breaks its weights
    with Store(ws.store) as store:
        assert {k: a.value for k, a in store.amendments().items()} == {("C1", "", "monthly_fee", "2026-03"): D("12000")}
    fees = {(r["contract_id"], r["month"]): r["fee"] for r in ws.csv("2026-03", "settlement.csv")}
    assert fees == {("C1", "2026-01"): "10000.00", ("C1", "2026-02"): "10000.00", ("C1", "2026-03"): "12000.00"}

    ws.drop(workbook(tmp_path / "b.xlsx", amendments=[amendment(11000)],
                     events=[{"contract_id": "C1", "event": "terminated", "month": "2026-02", "reason": "mutual"}]))
    assert ws.run("2026-03") == 0
    with Store(ws.store) as store:
        assert [a.value for a in store.amendments().values()] == [D("11000")]
        assert [(e.month, e.reason) for e in store.events().values()] == [("2026-02", "mutual")]
    march = [r for r in ws.csv("2026-03", "settlement.csv") if r["month"] == "2026-03"]
    assert [(r["fee"], r["invoice_now"]) for r in march] == [("0.00", "-12000.00")]   # credited back
    assert [r["last_month"] for r in ws.csv("2026-03", "contracts.csv")] == ["2026-02"]

    ws.drop(workbook(tmp_path / "c.xlsx", amendments=[amendment("void")],
                     events=[{"contract_id": "C1", "event": "terminated", "month": None}]))
    assert ws.run("2026-03") == 0
    with Store(ws.store) as store:
        assert store.amendments() == {} and store.events() == {}
    assert rows(ws, "SELECT value, withdrawn FROM amendment_versions ORDER BY rowid") == [
        ('{"$d": "12000"}', 0), ('{"$d": "11000"}', 0), (None, 1)]
    assert rows(ws, "SELECT month FROM event_versions ORDER BY rowid") == [("2026-02",), (None,)]
    assert not rows(ws, "SELECT * FROM amendments WHERE contract_id = 'C2'")
    march = [r for r in ws.csv("2026-03", "settlement.csv") if r["month"] == "2026-03"]
    assert [(r["fee"], r["invoice_now"]) for r in march] == [("10000.00", "10000.00")]


def test_a_store_of_schema_1_is_migrated_to_the_latest(ws):
    db = sqlite3.connect(ws.store)
    from perfsettle.store import sql
    db.executescript(sql.MIGRATIONS[1] + "; PRAGMA user_version = 1;")
    db.close()
    with Store(ws.store) as store:
        assert store.amendments() == {} and store.events() == {}
    assert rows(ws, "PRAGMA user_version") == [(sql.SCHEMA_VERSION,)]


def test_a_corrected_contract_row_warns_and_the_summary_lists_the_restatement(ws, tmp_path):
    months = ("2026-01", "2026-02")
    ws.drop(workbook(tmp_path / "a.xlsx", contracts=[contract()], kpis=kpis(), readings=readings(months=months)))
    assert ws.run("2026-02") == 0
    ws.drop(workbook(tmp_path / "b.xlsx", contracts=[contract(monthly_fee=10100)]))
    assert ws.run("2026-02") == 0
    (row,) = ws.csv("2026-02", "contracts.csv")
    assert (row["warnings"], row["invoice_now"]) == ("1", "200.00")
    import json
    manifest = json.loads(ws.text("2026-02", "manifest.json"))
    (finding,) = [f for i in manifest["inputs"] for f in i["findings"]]
    assert (finding["code"], finding["cell"]) == ("terms-restated", "Contracts!H2")
    summary = ws.text("2026-02", "summary.html").replace("&nbsp;", " ").replace("\u202f", " ")
    assert "Termes corrigés" in summary and "200,00 €" in summary


def test_an_adjustment_names_the_corrected_term_that_moved_it(ws, tmp_path):
    months = ("2026-01", "2026-02")
    ws.drop(workbook(tmp_path / "a.xlsx", contracts=[contract()], kpis=kpis(), readings=readings(months=months)))
    assert ws.run("2026-02") == 0
    ws.drop(workbook(tmp_path / "b.xlsx", contracts=[contract(monthly_fee=10100)],
                     readings=readings(months=("2026-03",))))
    assert ws.run("2026-03") == 0
    statement = ws.text("2026-03", "statements/C1.html")
    assert statement.count("monthly_fee : 10000 → 10100") == 2     # January and February, each restated
