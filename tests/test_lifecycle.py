"""Run lifecycle (SPEC §6): inbox moves, lock, exit codes, incomplete files, reruns, config."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builders import contract, kpis, readings, workbook
from conftest import EXAMPLES, query
from perfsettle.cli import main

BOTH_STORES = True   # every test here runs on SQLite and on PostgreSQL

PORTFOLIO = EXAMPLES / "portfolio-basic" / "step-1" / "inbox" / "portfolio.xlsx"

# Another perfsettle holding the run lock of a store, as a run does, until killed.
HOLDER = ("import sys, time\nfrom perfsettle.store import run_lock\nwith run_lock(sys.argv[1]):\n"
          "    print('locked', flush=True)\n    time.sleep(120)\n")


def hold_lock(store) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def perfsettle(*args, env=None, cwd=None):
    exe = Path(sys.executable).with_name("perfsettle")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=cwd, timeout=300)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- exit codes

def test_exit_0_when_everything_is_accepted_and_inputs_move_to_processed(ws):
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10") == 0
    assert files_under(ws.inbox) == ["processed/2026-10/portfolio.xlsx"]
    assert (ws.inbox / "processed/2026-10/portfolio.xlsx").read_bytes() == PORTFOLIO.read_bytes()


def test_exit_1_when_a_workbook_is_rejected_and_the_rest_goes_on(ws):
    ws.drop(PORTFOLIO)
    (ws.inbox / "notes.xlsx").write_text("this is not a workbook")
    assert ws.run("2026-10") == 1
    assert "rejected/2026-10/notes.xlsx" in files_under(ws.inbox)
    assert (ws.inbox / "rejected/2026-10/notes.xlsx").read_text() == "this is not a workbook"
    assert {r["contract_id"] for r in ws.csv("2026-10", "settlement.csv")} == {"C-PME-01", "C-ETI-02"}


def test_exit_1_when_a_contract_is_excluded(ws, tmp_path):
    bad = kpis("C2")
    bad[0]["weight"] = 0.9
    workbook(ws.inbox / "two.xlsx", contracts=[contract(), contract(contract_id="C2")], kpis=kpis() + bad,
             readings=readings())
    assert ws.run("2026-01") == 1
    rows = {r["contract_id"]: r for r in ws.csv("2026-01", "contracts.csv")}
    assert rows["C2"]["status"] == "excluded" and int(rows["C2"]["errors"]) >= 1 and rows["C2"]["exit_status"] == ""
    assert rows["C1"]["status"] == "settled"
    assert files_under(ws.inbox) == ["processed/2026-01/two.xlsx"]


def test_exit_2_for_usage_and_configuration_errors(ws, capsys):
    for bad in ("octobre", "2026-13"):
        with pytest.raises(SystemExit) as e:
            main(["run", "--period", bad])
        assert e.value.code == 2
    (ws.root / "perfsettle.toml").write_text('inbox = "in"\ncolour = "blue"\n')
    assert main(["run", "--period", "2026-10"]) == 2
    assert "colour" in capsys.readouterr().err
    (ws.root / "perfsettle.toml").write_text('min_age = "soon"\n')
    assert main(["run", "--period", "2026-10"]) == 2
    assert "min_age" in capsys.readouterr().err
    (ws.root / "perfsettle.toml").write_text('[limits]\nmax_rowz = 10\n')
    assert main(["run", "--period", "2026-10"]) == 2
    assert "max_rowz" in capsys.readouterr().err
    (ws.root / "perfsettle.toml").write_text('[smtp]\nsecurity = "tls9"\n')
    assert main(["run", "--period", "2026-10"]) == 2
    assert "smtp.security" in capsys.readouterr().err


def test_exit_2_for_a_period_before_the_latest_close(ws, capsys):
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10") == 0
    assert ws.run("2026-09") == 2
    assert "2026-10" in capsys.readouterr().err


def test_exit_3_when_another_run_holds_the_lock(ws, capsys):
    ws.drop(PORTFOLIO)
    if ws.kind == "sqlite":   # the lock file as any process may hold it
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, sys, time\n"
             "f = open(sys.argv[1], 'a+'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
             str(ws.root / "store.sqlite.lock")], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
    else:
        holder = hold_lock(ws.store)
    try:
        assert ws.run("2026-10", "--lang", "en") == 3
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "another run holds the lock" in err and "nothing done" in err
    if ws.kind == "postgresql":   # the holder is named, as the server tells it
        assert f"perfsettle run on {os.uname().nodename}"[:40] in err and f"pid {holder.pid}" in err
        assert "password" not in err.lower()
    assert files_under(ws.inbox) == ["portfolio.xlsx"] and not ws.outbox.exists()
    assert ws.query("SELECT count(*) FROM runs") == [(0,)]


def test_exit_4_on_an_internal_error_without_a_traceback(ws, monkeypatch, capsys):
    import perfsettle.core.close as close

    def broken(*a, **k):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(close, "settle", broken)
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10", "--lang", "en") == 4
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err
    assert "Traceback" in (ws.root / "perfsettle-error.log").read_text()
    assert files_under(ws.inbox) == ["portfolio.xlsx"]


# --------------------------------------------------------------------------- inbox

def test_lock_files_hidden_files_symlinks_folders_and_fresh_files_are_left_alone(ws):
    shutil.copy(PORTFOLIO, ws.inbox / "~$portfolio.xlsx")
    shutil.copy(PORTFOLIO, ws.inbox / ".hidden.xlsx")
    (ws.inbox / "folder.xlsx").mkdir()
    os.symlink(PORTFOLIO, ws.inbox / "link.xlsx")
    shutil.copy(PORTFOLIO, ws.inbox / "fresh.xlsx")
    code = main(["run", "--period", "2026-10", "--min-age", "60", "--inbox", str(ws.inbox), "--outbox",
                 str(ws.outbox), "--store", str(ws.store)])
    assert code == 0
    assert sorted(p.name for p in ws.inbox.iterdir()) == [".hidden.xlsx", "folder.xlsx", "fresh.xlsx", "link.xlsx",
                                                         "~$portfolio.xlsx"]
    assert ws.csv("2026-10", "settlement.csv") == []


def test_a_workbook_still_being_copied_is_skipped_then_taken(ws):
    data = PORTFOLIO.read_bytes()
    (ws.inbox / "portfolio.xlsx").write_bytes(data[: len(data) // 2])
    assert ws.run("2026-10") == 0
    assert files_under(ws.inbox) == ["portfolio.xlsx"]
    (ws.inbox / "portfolio.xlsx").write_bytes(data)
    assert ws.run("2026-10") == 0
    assert files_under(ws.inbox) == ["processed/2026-10/portfolio.xlsx"]
    assert len(ws.csv("2026-10", "settlement.csv")) == 18


def test_the_same_content_dropped_again_is_taken_and_changes_nothing(ws):
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10") == 0
    shutil.copy(PORTFOLIO, ws.inbox / "portfolio.xlsx")
    assert ws.run("2026-10") == 0
    assert files_under(ws.inbox) == ["processed/2026-10/portfolio (2).xlsx", "processed/2026-10/portfolio.xlsx"]
    import json
    [record] = (ws.outbox / "2026-10" / "runs").iterdir()
    manifest = json.loads((record / "manifest.json").read_text())
    assert [f["outcome"] for f in manifest["inputs"]] == ["accepted"]
    assert all(r["invoice_now"] == r["due"] for r in ws.csv("2026-10", "settlement.csv"))   # the first close's


def test_the_original_dropped_again_after_a_correction_wins_again(ws):
    """SPEC §2: the later drop of a key replaces the stored row, even when that drop is the
    very content taken before (the sender takes back a mistaken correction)."""
    def detection(value):
        return [r for r in readings(detection=value) if r["kpi_id"] == "detection"]

    def dated(path, seconds_ago):
        os.utime(path, (time.time() - seconds_ago,) * 2)
        return path

    workbook(ws.inbox / "terms.xlsx", contracts=[contract()], kpis=kpis(),
             readings=[r for r in readings() if r["kpi_id"] == "stability"])
    original = workbook(ws.root / "readings.xlsx", readings=detection(0.805)).read_bytes()
    dated(ws.inbox / "terms.xlsx", 60)
    (ws.inbox / "readings.xlsx").write_bytes(original)
    assert ws.run("2026-01") == 0
    first = ws.csv("2026-01", "kpi_results.csv")
    assert [r["value"] for r in first if r["kpi_id"] == "detection"] == ["0.805"]
    workbook(ws.inbox / "correction.xlsx", readings=detection(0.1))
    assert ws.run("2026-01") == 0
    assert [r["value"] for r in ws.csv("2026-01", "kpi_results.csv") if r["kpi_id"] == "detection"] == ["0.1"]
    (ws.inbox / "readings.xlsx").write_bytes(original)          # across runs
    assert ws.run("2026-01") == 0
    assert ws.csv("2026-01", "kpi_results.csv") == first
    dated(workbook(ws.inbox / "wrong.xlsx", readings=detection(0.1)), 20)   # within one run
    (ws.inbox / "readings again.xlsx").write_bytes(original)
    dated(ws.inbox / "readings again.xlsx", 10)
    assert ws.run("2026-01") == 0
    assert ws.csv("2026-01", "kpi_results.csv") == first


def test_a_rerun_that_changes_something_moves_earlier_outputs_to_superseded(ws):
    workbook(ws.inbox / "terms.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    assert ws.run("2026-01") == 0
    first = ws.text("2026-01", "settlement.csv")
    assert ws.run("2026-01") == 0                                   # nothing new: a record only
    void = [{"contract_id": "C1", "kpi_id": "detection", "month": "2026-01", "status": "annulé"}]
    workbook(ws.inbox / "void.xlsx", readings=void)
    assert ws.run("2026-01") == 0
    superseded = list((ws.outbox / "2026-01" / "superseded").iterdir())
    assert len(superseded) == 1 and (superseded[0] / "settlement.csv").read_text() == first
    assert len(list((ws.outbox / "2026-01" / "runs").iterdir())) == 1    # the record stays at the top
    workbook(ws.inbox / "back.xlsx", readings=readings())
    assert ws.run("2026-01") == 0
    assert len(list((ws.outbox / "2026-01" / "superseded").iterdir())) == 2


def test_dry_run_changes_nothing(ws):
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10", "--dry-run") == 0
    assert files_under(ws.inbox) == ["portfolio.xlsx"]
    assert (ws.outbox / "dry-run" / "2026-10" / "settlement.csv").exists()
    assert not (ws.outbox / "2026-10").exists()
    assert ws.query("SELECT count(*) FROM contracts") == [(0,)]
    assert ws.query("SELECT count(*) FROM ledger") == [(0,)]


def test_config_file_sets_folders_and_flags_override(ws):
    if ws.kind == "postgresql":
        (ws.root / "perfsettle.toml").write_text(f'inbox = "drop"\noutbox = "out"\nstore = "{ws.store}"\nmin_age = 0\n')
        (ws.root / "drop").mkdir()
        shutil.copy(PORTFOLIO, ws.root / "drop")
        assert main(["run", "--period", "2026-10"]) == 0
        assert (ws.root / "out" / "2026-10" / "settlement.csv").exists()
        assert ws.query("SELECT count(*) FROM runs") == [(1,)] and not list(ws.root.glob("*.sqlite"))
        return
    (ws.root / "perfsettle.toml").write_text('inbox = "drop"\noutbox = "out"\nstore = "db/close.sqlite"\n'
                                             'min_age = 0\nlanguage = "en"\n')
    (ws.root / "drop").mkdir()
    shutil.copy(PORTFOLIO, ws.root / "drop")
    assert main(["run", "--period", "2026-10"]) == 0
    assert (ws.root / "out" / "2026-10" / "settlement.csv").exists()
    assert (ws.root / "db" / "close.sqlite").exists()
    assert (ws.root / "drop" / "processed" / "2026-10" / "portfolio.xlsx").exists()


def test_history_lists_runs(ws, capsys):
    ws.drop(PORTFOLIO)
    ws.run("2026-10")
    capsys.readouterr()
    assert main(["history", "--store", str(ws.store), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "2026-10" in out and "portfolio.xlsx" in out and "accepted" in out


# --------------------------------------------------------------------------- concurrency

def test_two_runs_started_together_one_closes_the_other_exits_3(tmp_path, store_kind, request):
    (tmp_path / "inbox").mkdir()
    shutil.copy(PORTFOLIO, tmp_path / "inbox")
    store = tmp_path / "perfsettle.sqlite"
    if store_kind == "postgresql":   # two machines would name the same database
        store = request.getfixturevalue("pg").new_database()
        (tmp_path / "perfsettle.toml").write_text(f'store = "{store}"\n')
    args = ["run", "--period", "2026-10", "--min-age", "0", "--lang", "en"]
    exe = Path(sys.executable).with_name("perfsettle")
    env = {**os.environ, "PERFSETTLE_HOLD_LOCK_SECONDS": "3"}
    procs = [subprocess.Popen([str(exe), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = [p.wait(timeout=120) for p in procs]
    assert sorted(codes) == [0, 3]
    loser = procs[codes.index(3)].stderr.read()
    assert "another run holds the lock" in loser and "Traceback" not in loser
    assert query(store, "SELECT count(*) FROM runs") == [(1,)]
    # nothing invoiced twice: the ledger holds one close's lines, one per contract month
    assert query(store, "SELECT count(*), count(DISTINCT contract_id || month) FROM ledger") == [(18, 18)]


def test_a_bug_met_on_one_file_costs_that_file_only(ws, monkeypatch, capsys):
    import perfsettle.pipeline as pipeline
    real = pipeline.parse_workbook

    def fragile(name, raw):
        if name == "odd.xlsx":
            raise KeyError("unexpected shape")
        return real(name, raw)
    monkeypatch.setattr(pipeline, "parse_workbook", fragile)
    ws.drop(PORTFOLIO)
    workbook(ws.inbox / "odd.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    assert ws.run("2026-10") == 1
    err = capsys.readouterr().err
    assert "odd.xlsx" in err and "Traceback" not in err
    log = ws.text("2026-10", "run.log")
    assert "file-internal-error" in log and "Traceback" in log and "KeyError" in log
    assert files_under(ws.inbox) == ["processed/2026-10/portfolio.xlsx", "rejected/2026-10/odd.xlsx"]
    assert {r["contract_id"] for r in ws.csv("2026-10", "contracts.csv")} == {"C-ETI-02", "C-PME-01", "C-TPE-03"}


def test_a_lock_left_by_a_dead_run_does_not_block(ws):
    if ws.kind == "sqlite":
        (ws.root / "store.sqlite.lock").write_text("12345\n")
    holder = hold_lock(ws.store)
    holder.send_signal(signal.SIGKILL)   # a run killed while holding the lock
    holder.wait()
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10") == 0


def test_a_reading_voided_later_is_withdrawn_and_the_month_credited(ws):
    workbook(ws.inbox / "terms.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    assert ws.run("2026-01") == 0
    [jan] = ws.csv("2026-01", "settlement.csv")
    assert jan["invoice_now"] == "10000.00"
    workbook(ws.inbox / "void.xlsx", readings=[{"contract_id": "C1", "kpi_id": "detection", "month": "2026-01",
                                                "status": "annulé", "comment": "relevé retiré"}])
    assert ws.run("2026-01") == 0
    [jan] = ws.csv("2026-01", "settlement.csv")
    assert (jan["held"], jan["invoiced_before"], jan["invoice_now"]) == ("2100.00", "10000.00", "-2100.00")
    [det] = [k for k in ws.csv("2026-01", "kpi_results.csv") if k["kpi_id"] == "detection"]
    assert (det["status"], det["reason"]) == ("held", "2026-01 missing")
    versions = ws.query("SELECT status, file FROM reading_versions WHERE kpi_id='detection' ORDER BY rowid")
    assert versions == [("verified", "terms.xlsx"), ("void", "void.xlsx")]
