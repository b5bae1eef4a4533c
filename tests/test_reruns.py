"""Reruns, sending and nothing silent (SPEC §5, §6, §7).

Two contracts closed for January 2026, then the same period run again: with nothing new, with a
reading withdrawn for one of them, and sent over a local SMTP server.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import socket
import sqlite3
import time

import pytest

from builders import contract, kpis, readings, workbook
from perfsettle.cli import main

aiosmtpd = pytest.importorskip("aiosmtpd.controller")


def tree(folder) -> dict[str, str]:
    """Every file under ``folder`` and its sha256, ``runs/`` left out."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] != "runs"}


def two_contracts(ws, c2_email="compta@deux.example"):
    workbook(ws.inbox / "terms.xlsx",
             contracts=[contract(contact_email="compta@un.example"),
                        contract(contract_id="C2", client="Deux SARL", contact_email=c2_email)],
             kpis=kpis() + kpis("C2"), readings=readings() + readings("C2"))


def withdraw_c1(ws):
    workbook(ws.inbox / "void.xlsx", readings=[{"contract_id": "C1", "kpi_id": "detection", "month": "2026-01",
                                                "status": "annulé", "comment": "relevé retiré"}])


def read_eml(path):
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


@pytest.fixture
def mailbox(ws):
    """A local SMTP server; ``configure(sender=...)`` writes perfsettle.toml to use it."""
    class Inbox(list):
        configure = None
    received = Inbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()

    def configure(sender='cloture@agence.example', host="127.0.0.1", language="fr"):
        lines = [f'language = "{language}"'] + ([f'sender = "{sender}"'] if sender else [])
        lines += ["[smtp]", f'host = "{host}"', f"port = {port}", 'security = "none"'] if host else []
        (ws.root / "perfsettle.toml").write_text("\n".join(lines) + "\n")
    received.configure = configure
    yield received
    controller.stop()


def send(ws, period="2026-01") -> int:
    return main(["send", period, "--outbox", str(ws.outbox), "--store", str(ws.store)])


# --------------------------------------------------------------------------- reruns

def test_a_rerun_with_nothing_new_leaves_the_outbox_as_it_was_and_sends_nothing(ws, mailbox, capsys):
    mailbox.configure()
    two_contracts(ws)
    assert ws.run("2026-01", "--send") == 0
    assert len(mailbox) == 2
    before = tree(ws.outbox / "2026-01")
    capsys.readouterr()

    assert ws.run("2026-01", "--send") == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "rien n'a changé" in out and "rien envoyé" in out
    assert tree(ws.outbox / "2026-01") == before
    [record] = (ws.outbox / "2026-01" / "runs").iterdir()
    assert sorted(p.name for p in record.iterdir()) == ["manifest.json", "run.log"]
    assert json.loads((record / "manifest.json").read_text())["run_id"] == record.name
    first = json.loads((ws.outbox / "2026-01" / "manifest.json").read_text())["run_id"]
    # nothing new since that close: its results stand, nothing was settled again
    assert f"nothing new since the close {first}: its results stand" in (record / "run.log").read_text()
    assert len(mailbox) == 2
    db = sqlite3.connect(ws.store)
    assert db.execute("SELECT count(*), min(state) FROM runs").fetchone() == (2, "done")


def test_a_rerun_after_the_credit_of_a_month_outside_the_term_changes_nothing(ws, capsys):
    # C1 ended in February; March had been invoiced before perfsettle. The first close credits
    # March (a row with every amount 0); once credited, March has no row any more (SPEC §4),
    # which is no change: the rerun leaves the outbox as it was.
    workbook(ws.inbox / "terms.xlsx", contracts=[contract()], kpis=kpis(),
             readings=readings(months=("2026-01", "2026-02")),
             invoiced=[{"contract_id": "C1", "month": "2026-03", "amount": 10000}],
             events=[{"contract_id": "C1", "event": "terminated", "month": "2026-02", "reason": "accord"}])
    assert ws.run("2026-03") == 0
    [march] = [r for r in ws.csv("2026-03", "settlement.csv") if r["month"] == "2026-03"]
    assert (march["due"], march["bonus_malus"], march["invoiced_before"], march["invoice_now"]) == \
        ("0.00", "n/a", "10000.00", "-10000.00")
    before = tree(ws.outbox / "2026-03")
    capsys.readouterr()

    assert ws.run("2026-03") == 0
    assert "rien n'a changé" in capsys.readouterr().out
    assert tree(ws.outbox / "2026-03") == before


def test_a_rerun_that_changes_one_contract_shows_the_whole_period_and_keeps_the_other_statement(ws, mailbox):
    mailbox.configure()
    two_contracts(ws)
    assert ws.run("2026-01", "--send") == 0
    statements = ws.outbox / "2026-01" / "statements"
    c2 = {p.name: p.read_bytes() for p in statements.glob("C2.*")}
    sent_ids = sorted(str(m["Message-ID"]) for m in mailbox)

    withdraw_c1(ws)
    assert ws.run("2026-01", "--send") == 0
    [c1] = [r for r in ws.csv("2026-01", "settlement.csv") if r["contract_id"] == "C1"]
    assert (c1["invoiced_before"], c1["invoice_now"]) == ("10000.00", "-2100.00")
    # C2 did not change: the same files, the same Message-ID, not sent again.
    assert {p.name: p.read_bytes() for p in statements.glob("C2.*")} == c2
    assert [str(m["To"]) for m in mailbox[2:]] == ["compta@un.example"]
    assert str(mailbox[2]["Message-ID"]) not in sent_ids
    # C1's statement shows the period: what the first close invoiced, what this one credits, why.
    text = read_eml(statements / "C1.eml").get_body(("plain",)).get_content()
    text = text.replace("\r\n", "\n").replace("\u00a0", " ").replace("\u202f", " ")
    assert "TOTAL DE LA PÉRIODE JANVIER 2026 : 7 900,00 €" in text
    assert "Déjà facturé par la clôture précédente de janvier 2026 : 10 000,00 €" in text
    assert "Crédité par cette clôture : -2 100,00 €" in text
    assert "Motif de la nouvelle clôture : « Détection », janvier 2026 : 80,5 % (vérifié) → annulé" in text

    summary = ws.text("2026-01", "summary.html").replace("&nbsp;", " ").replace("\u202f", " ")
    assert "Déjà facturé par la clôture précédente de janvier 2026" in summary
    assert "20 000,00 €" in summary and "17 900,00 €" in summary        # the earlier close, the period
        # send after the rerun sends nothing: every statement's content has been sent already
    assert send(ws) == 0
    assert len(mailbox) == 3


def test_send_after_a_rerun_never_sends_a_version_already_sent(ws, mailbox, capsys):
    mailbox.configure()
    two_contracts(ws)
    assert ws.run("2026-01", "--send") == 0
    assert ws.run("2026-01") == 0                      # "run it again to be sure"
    capsys.readouterr()
    assert send(ws) == 0
    assert len(mailbox) == 2
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == [
        "non renvoyé (déjà envoyé à compta@deux.example) : Relevé de performance janvier 2026 — Deux SARL (C2)",
        "non renvoyé (déjà envoyé à compta@un.example) : Relevé de performance janvier 2026 — Client SA (C1)"]


# --------------------------------------------------------------------------- sending

@pytest.mark.parametrize("config, says", [
    (dict(host=""), "[smtp]"), (dict(sender=""), "sender"), (dict(host="bad host"), "SMTP")])
def test_run_send_without_a_way_to_send_is_a_configuration_error_before_anything_is_stored(
        ws, mailbox, capsys, config, says):
    mailbox.configure(**{"language": "en", **config})
    two_contracts(ws)
    assert ws.run("2026-01", "--send") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err
    assert not ws.store.exists() or sqlite3.connect(ws.store).execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert sorted(p.name for p in ws.inbox.iterdir()) == ["terms.xlsx"] and not ws.outbox.exists()
    assert send(ws) == 2


def test_the_sender_is_the_one_configured_when_sending_with_reply_to(ws, mailbox, capsys):
    two_contracts(ws)
    assert ws.run("2026-01") == 0                      # no sender yet: nothing written names one
    eml = (ws.outbox / "2026-01" / "statements" / "C1.eml").read_bytes()
    assert b"localhost.localdomain" not in eml and b"From:" not in eml
    mailbox.configure(sender="Clôture <cloture@agence.example>")
    capsys.readouterr()
    assert send(ws) == 0
    assert [m["From"].addresses[0].addr_spec for m in mailbox] == ["cloture@agence.example"] * 2
    assert [m["Reply-To"].addresses[0].addr_spec for m in mailbox] == ["cloture@agence.example"] * 2
    assert sorted(capsys.readouterr().out.splitlines()) == [
        "envoyé à compta@deux.example : Relevé de performance janvier 2026 — Deux SARL (C2)",
        "envoyé à compta@un.example : Relevé de performance janvier 2026 — Client SA (C1)"]


def test_a_statement_with_no_valid_contact_email_is_a_draft_listed_in_the_summary(ws, mailbox, capsys):
    mailbox.configure(language="en")
    two_contracts(ws, c2_email="compta@")
    assert ws.run("2026-01", "--send") == 0            # a warning: C2 is settled
    assert {r["contract_id"]: r["status"] for r in ws.csv("2026-01", "contracts.csv")} == {
        "C1": "settled", "C2": "settled"}
    draft = read_eml(ws.outbox / "2026-01" / "statements" / "C2.eml")
    assert draft["X-Unsent"] == "1" and draft["To"] is None
    assert [str(m["To"]) for m in mailbox] == ["compta@un.example"]
    summary = ws.text("2026-01", "summary.html")
    assert "Statements not e-mailed" in summary and "C2" in summary.split("Statements not e-mailed")[1]
    capsys.readouterr()
    assert send(ws) == 0
    assert "not sent (a draft with no recipient: no valid contact_email): C2.eml" in capsys.readouterr().out


# --------------------------------------------------------------------------- nothing silent

def test_a_file_too_recent_is_named_with_why(ws, capsys):
    two_contracts(ws)
    os.utime(ws.inbox / "terms.xlsx", (time.time() - 3600,) * 2)
    workbook(ws.inbox / "late.xlsx", readings=readings("C2", months=("2026-02",)))
    assert main(["run", "--period", "2026-01", "--min-age", "600", "--inbox", str(ws.inbox),
                 "--outbox", str(ws.outbox), "--store", str(ws.store)]) == 0
    assert "late.xlsx: laissé pour une prochaine clôture : modifié il y a" in capsys.readouterr().err
    assert "late.xlsx" in ws.text("2026-01", "summary.html")
    assert "skipped late.xlsx  [file-too-recent]" in ws.text("2026-01", "run.log")
    manifest = json.loads(ws.text("2026-01", "manifest.json"))
    assert [(s["name"], s["code"]) for s in manifest["skipped"]] == [("late.xlsx", "file-too-recent")]
    assert (ws.inbox / "late.xlsx").exists()


def test_an_incomplete_or_changing_file_is_named_with_why(ws, capsys, monkeypatch):
    two_contracts(ws)
    data = (ws.inbox / "terms.xlsx").read_bytes()
    (ws.inbox / "half.xlsx").write_bytes(data[: len(data) // 2])
    import perfsettle.pipeline as pipeline
    real = pipeline.read_workbook

    def touched(path, settings, last=True):
        out = real(path, settings, last)
        if path.name == "terms.xlsx":
            os.utime(path, (1_700_000_000, 1_700_000_000))
        return out
    monkeypatch.setattr(pipeline, "read_workbook", touched)
    assert ws.run("2026-01") == 0
    err = capsys.readouterr().err
    assert "half.xlsx: laissé pour une prochaine clôture : le fichier semble incomplet" in err
    assert "terms.xlsx: laissé pour une prochaine clôture : il a changé pendant sa lecture" in err
    manifest = json.loads(ws.text("2026-01", "manifest.json"))
    assert sorted((s["name"], s["code"]) for s in manifest["skipped"]) == [
        ("half.xlsx", "file-incomplete"), ("terms.xlsx", "file-changed")]
    summary = ws.text("2026-01", "summary.html")
    assert "half.xlsx" in summary and "terms.xlsx" in summary


def test_a_rerun_that_changes_nothing_killed_at_any_point_then_run_again_leaves_the_outbox_alone(ws, monkeypatch):
    import shutil
    import signal

    from perfsettle.infra import faults
    two_contracts(ws)
    assert ws.run("2026-01") == 0
    before = tree(ws.outbox / "2026-01")
    base = ws.root / "base"
    shutil.copytree(ws.root, base, ignore=shutil.ignore_patterns("base"))
    trace = ws.root / "points.txt"
    monkeypatch.setenv("PERFSETTLE_TRACE_POINTS", str(trace))
    faults._count = 0
    assert ws.run("2026-01") == 0
    monkeypatch.delenv("PERFSETTLE_TRACE_POINTS")
    points = trace.read_text().splitlines()
    assert any(p.endswith(" committed") for p in points) and any("record" in p for p in points)
    for n, line in enumerate(points, start=1):
        root = ws.root / f"crash-{n}"
        shutil.copytree(base, root)
        args = ["run", "--period", "2026-01", "--min-age", "0", "--inbox", str(root / "inbox"),
                "--outbox", str(root / "outbox"), "--store", str(root / "store.sqlite")]
        pid = os.fork()
        if pid == 0:
            try:
                os.environ["PERFSETTLE_CRASH_AT"] = str(n)
                faults._count = 0
                main(args)
            finally:
                os._exit(99)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"{line} not reached"
        main(args)
        assert tree(root / "outbox" / "2026-01") == before, f"after a crash at {line}"
        records = list((root / "outbox" / "2026-01" / "runs").iterdir())
        assert len(records) == 1 and sorted(p.name for p in records[0].iterdir()) == ["manifest.json", "run.log"]
        db = sqlite3.connect(root / "store.sqlite")
        assert db.execute("SELECT count(*), min(state) FROM runs").fetchone() == (2, "done"), line
        assert db.execute("SELECT count(*) FROM ledger").fetchone() == (2,)
        shutil.rmtree(root)


def test_the_summary_of_a_rerun_lists_the_adjustments_of_every_close_of_the_period(ws):
    two_contracts(ws)
    assert ws.run("2026-01") == 0
    withdraw_c1(ws)                           # the February close credits C1's January
    assert ws.run("2026-02") == 0
    workbook(ws.inbox / "void-c2.xlsx", readings=[{"contract_id": "C2", "kpi_id": "detection", "month": "2026-01",
                                                   "status": "annulé", "comment": "relevé retiré"}])
    assert ws.run("2026-02") == 0             # February again: now C2's January too
    [c1] = [r for r in ws.csv("2026-02", "settlement.csv") if r["contract_id"] == "C1" and r["month"] == "2026-01"]
    assert c1["invoice_now"] == "0.00"        # this run did not move C1 again
    summary = ws.text("2026-02", "summary.html").replace("&nbsp;", " ").replace("\u202f", " ")
    explained = summary.split("Ajustements expliqués")[1]
    c1_part, c2_part = explained.split("C1 ·")[1].split("C2 ·")
    assert "dont -2 100,00 € par la clôture précédente de février 2026" in c1_part
    assert "→ annulé — relevé retiré" in c2_part and "clôture précédente" not in c2_part


def test_the_rows_a_close_compares_are_the_rows_its_csvs_read_back(ws):
    # A rerun compares this close's rows, never written, with the earlier close's CSVs as read
    # back: texts that need quoting (commas, quotes, line breaks, a leading '=') compare equal.
    from perfsettle.config import Settings
    from perfsettle.delivery import reruns
    from perfsettle.outputs import exports
    from perfsettle.pipeline import run
    workbook(ws.inbox / "terms.xlsx",
             contracts=[contract(client='Dupont, "Fils" & Cie\nAtelier', provider="=Agence+IA"),
                        contract(contract_id="C2", client="Deux SARL", currency="JPY", monthly_fee=1200000)],
             kpis=kpis() + kpis("C2"), readings=readings(status="provisional") + readings("C2"))
    settings = Settings(inbox=ws.inbox, outbox=ws.outbox, store=ws.store, min_age=0)
    report = run(settings, "2026-01", dry_run=True).report
    texts = {"settlement.csv": exports.settlement_csv(report), "kpi_results.csv": exports.kpi_results_csv(report),
             "contracts.csv": exports.contracts_csv(report)}
    assert '"Dupont, ""Fils"" & Cie\nAtelier"' in texts["contracts.csv"]
    read_back = reruns.contents(texts)
    assert read_back == reruns.digests(exports.tables(report)) and set(read_back) == {"C1", "C2"}
    # and a changed amount is a changed digest
    texts["settlement.csv"] = texts["settlement.csv"].replace("C2,2026-01,JPY,1200000", "C2,2026-01,JPY,1200001")
    changed = reruns.contents(texts)
    assert changed["C2"] != read_back["C2"] and changed["C1"] == read_back["C1"]


def test_a_rerun_settles_again_when_the_published_close_is_not_the_latest_the_store_recorded(ws, capsys):
    # The period was closed again into another outbox: the close published here is stale, so a
    # rerun with nothing new settles again and publishes what the store holds now.
    two_contracts(ws)
    assert ws.run("2026-01") == 0
    other = ws.root / "elsewhere"
    withdraw_c1(ws)
    assert main(["run", "--period", "2026-01", "--min-age", "0", "--inbox", str(ws.inbox), "--outbox", str(other),
                 "--store", str(ws.store)]) == 0
    capsys.readouterr()
    assert ws.run("2026-01") == 0
    assert "rien n'a changé" not in capsys.readouterr().out
    assert not (ws.outbox / "2026-01" / "runs").exists()
    [c1] = [r for r in ws.csv("2026-01", "settlement.csv") if r["contract_id"] == "C1"]
    [elsewhere] = [r for r in csv_rows(other / "2026-01" / "settlement.csv") if r["contract_id"] == "C1"]
    assert c1["due"] == elsewhere["due"] == "7900.00"        # the reading withdrawn there counts here too
    assert (c1["invoiced_before"], c1["invoice_now"]) == ("7900.00", "0.00")   # and so does its credit


def test_a_rerun_after_a_close_with_findings_or_of_another_version_compares_everything_again(ws, capsys):
    two_contracts(ws)
    assert ws.run("2026-01") == 0
    manifest = ws.outbox / "2026-01" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(data, version="0.0.1")))   # made by another perfsettle
    before = tree(ws.outbox / "2026-01")
    assert ws.run("2026-01") == 0
    assert "rien n'a changé" in capsys.readouterr().out       # settled again, compared: the same
    [record] = (ws.outbox / "2026-01" / "runs").iterdir()
    log = (record / "run.log").read_text()
    assert "its results stand" not in log and "contract C1  settled" in log
    assert tree(ws.outbox / "2026-01") == before


def csv_rows(path) -> list[dict]:
    import csv
    return list(csv.DictReader(path.open(encoding="utf-8")))
