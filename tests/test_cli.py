"""The command line as a finance user meets it: check, explain, run --send, send."""
from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket

import pytest

from builders import contract, kpis, readings, workbook
from conftest import EXAMPLES
from perfsettle.cli import main

PORTFOLIO = EXAMPLES / "portfolio-basic" / "step-1" / "inbox" / "portfolio.xlsx"
READINGS = EXAMPLES / "portfolio-basic" / "step-2" / "inbox" / "readings-2026-11.xlsx"


def test_check_prints_each_finding_cell_first_and_exits_1_on_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    k = kpis()
    k[1]["weight"] = 0.5
    p = workbook(tmp_path / "book.xlsx", contracts=[contract(variable_share=0.6)], kpis=k, readings=readings())
    assert main(["check", str(p), "--lang", "en"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "Contracts!I2 (book.xlsx): warning [share-band] variable share 60 % is outside the usual PME band " \
           "(30–40 %)" in lines
    assert any(line.startswith("KPIs!K2 (book.xlsx): error [weights-sum]") for line in lines)
    assert not (tmp_path / "perfsettle.sqlite").exists()


def test_check_validates_a_readings_only_workbook_against_the_store(ws, capsys):
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10") == 0
    capsys.readouterr()
    assert main(["check", "--store", str(ws.store), str(READINGS)]) == 0
    assert capsys.readouterr().out == ""
    bad = workbook(ws.root / "bad.xlsx", readings=[{"contract_id": "C-PME-01", "kpi_id": "ghost",
                                                    "month": "2026-11", "value": 1}])
    assert main(["check", "--store", str(ws.store), str(bad), "--lang", "en"]) == 1
    assert "Readings!B2 (bad.xlsx): error [unknown-kpi]" in capsys.readouterr().out


def test_check_writes_annotated_copies_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    k = kpis()
    k[0]["weight"] = "x"
    p = workbook(tmp_path / "book.xlsx", contracts=[contract()], kpis=k)
    assert main(["check", str(p), "--annotate", str(tmp_path / "notes")]) == 1
    import openpyxl
    wb = openpyxl.load_workbook(tmp_path / "notes" / "book.annotated.xlsx")
    assert wb["KPIs"]["K2"].comment is not None


def test_explain_tells_why_a_month_was_paid(ws, capsys):
    ws.drop(PORTFOLIO)
    ws.run("2026-10")
    capsys.readouterr()
    assert main(["explain", "C-PME-01", "--store", str(ws.store), "--month", "2026-09", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "2026-09" in out or "September 2026" in out
    assert "1,400.00" in out or "1400.00" in out          # the detection pool, held for the dispute
    assert main(["explain", "C-NOPE", "--store", str(ws.store)]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_send_then_send_again_delivers_each_statement_once(ws):
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    port = _free_port()
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        (ws.root / "perfsettle.toml").write_text(
            'sender = "cloture@agence.example"\nfinance_recipients = ["daf@agence.example"]\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')
        ws.drop(PORTFOLIO)
        assert ws.run("2026-10", "--send") == 0
        to = sorted(str(m["To"]) for m in received)
        assert to == ["daf@agence.example", "daf@valmont.example, achats@valmont.example",
                      "finance@martin.example"]
        assert all(m.get_content_type() == "multipart/alternative" for m in received)
        assert main(["send", "2026-10", "--outbox", str(ws.outbox), "--store", str(ws.store)]) == 0
        assert len(received) == 3
    finally:
        controller.stop()


def test_template_command_writes_a_workbook_that_checks_clean(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["template", str(tmp_path / "blank.xlsx"), "--lang", "en"]) == 0
    capsys.readouterr()
    assert main(["check", str(tmp_path / "blank.xlsx")]) == 0
    assert capsys.readouterr().out == ""
    shutil.rmtree(tmp_path / "inbox", ignore_errors=True)


def test_run_timings_report_every_phase_with_its_peak_memory(ws, capsys):
    ws.drop(*sorted((EXAMPLES / "portfolio-basic" / "step-1" / "inbox").iterdir()))
    assert ws.run("2026-10", "--timings") == 0
    line = [x for x in capsys.readouterr().err.splitlines() if x.startswith("timings {")][-1]
    said = json.loads(line[len("timings "):])
    assert {"read", "validate", "settle", "render", "store", "publish", "csv", "workbooks", "html"} \
        <= set(said["seconds"])
    assert all(said["peak_rss_mib"][p] > 0 for p in ("read", "validate", "settle", "render", "store"))
    assert said["peak_rss_mib"]["store"] >= said["peak_rss_mib"]["read"]
