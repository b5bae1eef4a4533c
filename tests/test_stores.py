"""The two stores (SPEC §6 "Stores"): one schema written once, the same data, the same guarantees.

SQLite and PostgreSQL: the same tables and columns; a migration written once serves both; a
newer schema or a bad configuration is one line and exit 2; readers during a close see the
state before it; a connection dropped inside the store transaction loses nothing and the rerun
equals one complete run; ``store copy`` there and back gives the same digests and closes.
"""
from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, Workspace, database_name, query
from perfsettle.cli import main
from perfsettle.store import Store, is_url, sql
from perfsettle.store.postgres import translate
from test_crash import STORES, args, copy_site, situation, snapshot

BOTH_STORES = True

STEP1 = EXAMPLES / "portfolio-basic" / "step-1" / "inbox" / "portfolio.xlsx"
STEP2 = EXAMPLES / "portfolio-basic" / "step-2" / "inbox" / "readings-2026-11.xlsx"
GIRARD = EXAMPLES / "opening-balance" / "step-1" / "inbox" / "girard.xlsx"


def perfsettle(*argv, env=None, cwd=None, wait=True):
    exe = Path(sys.executable).with_name("perfsettle")
    cmd = [str(exe), *map(str, argv)]
    if not wait:
        return subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until a paused run has written its pause file (or has ended, which fails the test)."""
    deadline = time.monotonic() + 120   # a guard against a hung test, not a measurement
    while not path.exists():
        assert proc.poll() is None, f"the run ended before its pause point: {proc.communicate()}"
        assert time.monotonic() < deadline, "the run never reached its pause point"
        time.sleep(0.02)


# --------------------------------------------------------------------------- one schema

def test_both_stores_have_the_same_tables_and_columns(pg, tmp_path):
    url = pg.new_database()
    with Store(tmp_path / "s.sqlite") as lite, Store(url) as post:
        assert lite.table_names() == post.table_names()
        assert len(lite.table_names()) >= 12
        for table in lite.table_names():
            assert lite.columns(table) == post.columns(table), table
        assert lite.schema_version() == post.schema_version() == sql.SCHEMA_VERSION
    # PostgreSQL's one extra column per table is SQLite's implicit rowid
    extra = query(url, "SELECT DISTINCT column_name FROM information_schema.columns WHERE table_schema = "
                       "current_schema() AND table_name <> 'schema_version' AND column_name = 'rowid'")
    assert extra == [("rowid",)]


def test_a_migration_written_once_in_sqlite_style_serves_both_stores(pg, tmp_path, monkeypatch):
    url = pg.new_database()
    Store(tmp_path / "s.sqlite").close()          # both at version 1 first: then upgraded
    Store(url).close()
    monkeypatch.setitem(sql.MIGRATIONS, sql.SCHEMA_VERSION + 1, """
        CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
                            score REAL, raw BLOB, n INTEGER);
        ALTER TABLE sent_messages ADD COLUMN channel TEXT;
        UPDATE sent_messages SET channel = 'smtp'
    """)
    monkeypatch.setattr(sql, "SCHEMA_VERSION", sql.SCHEMA_VERSION + 1)
    seen = {}
    for location in (tmp_path / "s.sqlite", url):
        with Store(location) as store:
            assert store.schema_version() == sql.SCHEMA_VERSION
            with store.write() as db:
                db.execute("INSERT INTO notes (key, score, raw, n) VALUES (?, ?, ?, ?)", ("a", 0.5, b"\x00\x01", 2 ** 40))
                db.execute("INSERT INTO notes (key, score) VALUES (?, ?)", ("b 100%", None))
                assert db.execute("INSERT OR REPLACE INTO notes (key) VALUES (?) RETURNING id", ("c",)).fetchone() == (3,)
                db.execute("DELETE FROM notes WHERE key = ?", ("c",))
                db.execute("INSERT INTO sent_messages VALUES (?,?,?,?,?)", ("<m1>", "x@y.fr", "s", "", "smtp"))
                db.execute("INSERT OR IGNORE INTO sent_messages VALUES (?,?,?,?,?)", ("<m1>", "z", "z", "", "z"))
            seen[store.__class__.__module__] = (
                [store.digest(t) for t in store.table_names()],
                [tuple(r) for r in store.db.execute("SELECT id, key, score, raw, n FROM notes ORDER BY id")])
    [(lite_digests, lite_rows), (post_digests, post_rows)] = seen.values()
    assert lite_digests == post_digests
    assert [r[:3] + (bytes(r[3]) if r[3] is not None else None, r[4]) for r in post_rows] == \
        [(1, "a", 0.5, b"\x00\x01", 2 ** 40), (2, "b 100%", None, None, None)] == lite_rows


def test_sqlite_style_statements_are_translated_for_postgresql():
    info = {"t": (["k", "v", "w"], ["k"])}.__getitem__
    assert translate("INSERT OR REPLACE INTO t VALUES (?,?,?)", info) == (
        "INSERT INTO t (k, v, w) VALUES (%s,%s,%s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, w = EXCLUDED.w, "
        "rowid = DEFAULT")
    assert translate("INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)", info).endswith(
        "DO UPDATE SET v = EXCLUDED.v, w = DEFAULT, rowid = DEFAULT")   # a replaced row: unnamed columns reset
    assert translate("INSERT OR IGNORE INTO t VALUES (?,?,?)", info).endswith("ON CONFLICT DO NOTHING")
    assert translate("INSERT OR REPLACE INTO t (k, v, w) VALUES (?,?,?) RETURNING rowid", info).endswith(
        "w = EXCLUDED.w, rowid = DEFAULT RETURNING rowid")
    assert translate("SELECT '?%' || v FROM t WHERE k LIKE ?", info) == "SELECT '?%%' || v FROM t WHERE k LIKE %s"
    assert translate("BEGIN IMMEDIATE", info, with_params=False) == "BEGIN"


# --------------------------------------------------------------------------- bad configuration

def _one_line_exit_2(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_store_of_a_newer_schema_is_refused_in_one_line(ws, capsys):
    Store(ws.store).close()
    if ws.kind == "sqlite":
        import sqlite3
        with sqlite3.connect(ws.store) as db:
            db.execute("PRAGMA user_version = 99")
    else:
        with Store(ws.store) as s:
            s.db.execute("UPDATE schema_version SET version = 99")
    for command in (["history"], ["run", "--period", "2026-10", "--inbox", str(ws.inbox), "--outbox", str(ws.outbox)],
                    ["explain", "C1"]):
        err = _one_line_exit_2([*command, "--store", str(ws.store)], capsys)
        assert "schema version 99" in err and "newer" in err


def test_an_unreachable_server_a_wrong_password_or_no_database_is_one_line_exit_2(pg, ws, capsys, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]    # nothing listens there once closed
    err = _one_line_exit_2(["history", "--store", f"postgresql://nobody@127.0.0.1:{closed_port}/db"], capsys)
    assert "cannot connect to the store" in err
    url = pg.new_database()
    assert main(["history", "--store", url]) == 0
    capsys.readouterr()
    err = _one_line_exit_2(["history", "--store", url.rsplit("/", 1)[0] + "/no_such_database"], capsys)
    assert "no_such_database" in err
    monkeypatch.setenv("PGPASSWORD", "not the password")
    err = _one_line_exit_2(["run", "--period", "2026-10", "--store", url], capsys)
    assert "password authentication failed" in err and "not the password" not in err


def test_a_password_in_perfsettle_toml_is_a_configuration_error(ws, capsys):
    (ws.root / "perfsettle.toml").write_text('store = "postgresql://team:s3cret@db.example/close"\n')
    err = _one_line_exit_2(["history"], capsys)
    assert "PGPASSWORD" in err and "s3cret" not in err


# --------------------------------------------------------------------------- readers during a close

@pytest.mark.parametrize("point", ["store transaction", "close workbook 2026-11"])
def test_check_explain_and_history_during_a_close_see_the_state_before_it(ws, tmp_path, point):
    """Paused while its data is written, or later, while its outputs are made: the run's
    transaction is open from the first write until its record is written."""
    ws.drop(STEP1)
    assert ws.run("2026-10") == 0
    before = perfsettle("explain", "C-PME-01", "--store", ws.store, "--lang", "en")
    assert before.returncode == 0
    ws.drop(STEP2)
    flag = tmp_path / "paused"
    close = perfsettle("run", "--period", "2026-11", "--min-age", "0", "--inbox", ws.inbox, "--outbox", ws.outbox,
                       "--store", ws.store, env={"PERFSETTLE_PAUSE_AT": point,
                                                 "PERFSETTLE_PAUSE_FILE": str(flag)}, wait=False)
    try:
        wait_for(flag, close)    # the close is inside its store transaction, contracts written
        during = perfsettle("explain", "C-PME-01", "--store", ws.store, "--lang", "en")
        check = perfsettle("check", "--store", ws.store, STEP2)
        history = perfsettle("history", "--store", ws.store)
        if not is_url(ws.store):   # SQLite: the close holds the store's write lock
            db = sqlite3.connect(ws.store, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                db.execute("BEGIN IMMEDIATE")
            db.close()
    finally:
        flag.unlink(missing_ok=True)
        out, err = close.communicate(timeout=300)
    assert close.returncode == 0, err
    assert (during.returncode, during.stdout) == (0, before.stdout)
    assert check.returncode == 0, check.stdout + check.stderr
    assert history.returncode == 0 and "2026-10" in history.stdout and "2026-11" not in history.stdout
    after = perfsettle("history", "--store", ws.store)
    assert "2026-11" in after.stdout
    assert perfsettle("explain", "C-PME-01", "--store", ws.store, "--lang", "en").stdout != before.stdout


# --------------------------------------------------------------------------- a dropped connection

@pytest.mark.parametrize("point", ["store transaction", "close workbook 2026-10"])
def test_the_connection_dropped_inside_the_store_transaction_then_a_rerun_equals_one_complete_run(pg, tmp_path,
                                                                                                  point):
    """Dropped while the data is written, or later, while the outputs are made (the transaction
    is open from the first until the run's record is written)."""
    baseline = situation(tmp_path / "baseline", pg.new_database())
    reference = copy_site(pg, baseline, tmp_path / "reference")
    assert main(args(reference)) == 1
    expected = snapshot(reference)

    root = copy_site(pg, baseline, tmp_path / "dropped")
    flag = tmp_path / "paused"
    run = perfsettle(*args(root), env={"PERFSETTLE_PAUSE_AT": point, "PERFSETTLE_PAUSE_FILE": str(flag)}, wait=False)
    try:
        wait_for(flag, run)
        terminated = query(pg.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? "
                                   "AND state LIKE 'idle in transaction%'", (database_name(STORES[root]),))
        assert terminated == [(True,)]
    finally:
        flag.unlink(missing_ok=True)
        out, err = run.communicate(timeout=300)
    assert run.returncode == 4, err
    assert "connection to the store" in err and "was lost" in err and "Traceback" not in err
    assert query(STORES[root], "SELECT period, state FROM runs") == [("2026-10", "done")]   # nothing half-stored
    assert main(args(root)) == 1
    assert snapshot(root) == expected


# --------------------------------------------------------------------------- store copy

def _digests(text: str) -> list[str]:
    return [line for line in text.splitlines() if " rows  sha256 " in line]


def test_store_copy_there_and_back_keeps_every_digest_and_every_close(pg, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first = Workspace(tmp_path / "first")
    first.drop(STEP1)
    assert first.run("2026-10") == 0
    first.drop(STEP2)
    assert first.run("2026-11") == 0
    capsys.readouterr()
    url = pg.new_database()
    assert main(["store", "copy", str(first.store), url]) == 0
    there = capsys.readouterr().out
    back = tmp_path / "back" / "store.sqlite"
    assert main(["store", "copy", url, str(back)]) == 0
    again = capsys.readouterr().out
    assert len(_digests(there)) >= 12 and all(line.endswith("same") for line in _digests(there))
    assert _digests(there) == _digests(again)
    assert "ledger" in there and " 0 rows" not in [line for line in _digests(there) if "ledger" in line][0]

    # a non-empty target is refused, and left as it was
    assert main(["store", "copy", str(first.store), url]) == 2
    assert "not empty" in capsys.readouterr().err

    # the same next close on the original, its copy on PostgreSQL and the copy of the copy
    sites = [first, Workspace(tmp_path / "pgsite", url), Workspace(tmp_path / "back", back)]
    csvs = []
    for site in sites:
        site.drop(GIRARD)
        assert site.run("2026-11") == 0
        csvs.append([site.text("2026-11", n) for n in ("settlement.csv", "kpi_results.csv", "contracts.csv")])
    assert csvs[0] == csvs[1] == csvs[2]
    assert query(url, "SELECT count(*) FROM runs") == query(back, "SELECT count(*) FROM runs") == [(3,)]


def test_store_copy_refuses_a_missing_source_and_the_same_store(tmp_path, capsys):
    err = _one_line_exit_2(["store", "copy", str(tmp_path / "none.sqlite"), str(tmp_path / "new.sqlite")], capsys)
    assert "no store at" in err and not (tmp_path / "new.sqlite").exists()
    Store(tmp_path / "a.sqlite").close()
    err = _one_line_exit_2(["store", "copy", str(tmp_path / "a.sqlite"), str(tmp_path / "a.sqlite")], capsys)
    assert "the same store" in err


def test_a_contract_and_a_kpi_are_stored_as_the_same_json_as_every_earlier_version_wrote():
    # Stores written before keep being read: the JSON of a record is its fields, keys sorted,
    # Decimals as {"$d": text}, exactly what json.dumps(asdict(record), sort_keys=True) gave.
    import json
    from dataclasses import asdict
    from decimal import Decimal
    from perfsettle.core.model import Contract, Kpi
    contract = Contract("C-1", "Client « Ô » SA", "Agence", "PME", "EUR", "2026-01", 12, Decimal("10000.50"),
                        Decimal("0.35"), exit_threshold=Decimal("0.7"), requires_verified=True)
    kpi = Kpi("C-1", "detection", "Détection", "operational", "higher", "relative", Decimal("0.15"),
              Decimal("0.6"), baseline=Decimal("0.70"), window_months=3)
    for record in (contract, kpi):
        earlier = json.dumps({k: sql._enc(v) for k, v in asdict(record).items()}, ensure_ascii=False, sort_keys=True)
        assert sql._to_json(record) == earlier
        assert sql._from_json(type(record), sql._to_json(record)) == record


def test_rows_written_a_batch_at_a_time_store_the_same_as_all_at_once(tmp_path, monkeypatch):
    assert [len(b) for b in sql._batches(range(7), 3)] == [3, 3, 1] and list(sql._batches([], 3)) == []
    sites = {}
    for batch in (sql._BATCH, 3):   # STEP1 has more readings and KPIs than 3
        monkeypatch.setattr(sql, "_BATCH", batch)
        root = tmp_path / f"batch-{batch}"
        (root / "inbox").mkdir(parents=True)
        shutil.copy(STEP1, root / "inbox")
        assert main(args(root)) == 0
        # every column but the last two (run_id, recorded_at), which differ from run to run
        sites[batch] = {table: sorted(row[:-2] for row in query(root / "store.sqlite", f"SELECT * FROM {table}"))
                        for table in ("kpis", "kpi_versions", "readings", "reading_versions")}
    assert len(sites[3]["readings"]) > 3 and len(sites[3]["kpis"]) > 3
    assert len(sites[3]["reading_versions"]) == len(sites[3]["readings"])
    assert sites[3] == sites[sql._BATCH]
