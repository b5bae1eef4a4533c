"""Killed at any instant and run again, the outcome equals one complete run (SPEC §6).

A run is traced to list its fault-injection points; then, for every point, a fresh copy of
the same situation is run in a child process that SIGKILLs itself at that point, and run
again. The store, the ledger, the outbox and the inbox folders must then equal those of one
uninterrupted run: the CSVs and the manifest's totals byte for byte, statements, summary and
e-mails once the run id and times are set aside, workbooks cell by cell. On SQLite and on
PostgreSQL (each copy of the situation a copy of its database: CREATE DATABASE … TEMPLATE).
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import signal
from pathlib import Path

import openpyxl
import pytest

from builders import contract, kpis, workbook
from conftest import EXAMPLES, database_name, query
from perfsettle.infra import faults
from perfsettle.cli import main

STEP1 = EXAMPLES / "portfolio-basic" / "step-1" / "inbox" / "portfolio.xlsx"
STEP2 = EXAMPLES / "portfolio-basic" / "step-2" / "inbox" / "readings-2026-11.xlsx"
GIRARD = EXAMPLES / "opening-balance" / "step-1" / "inbox" / "girard.xlsx"
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


BOTH_STORES = True

STORES: dict[Path, str] = {}   # a site folder -> its PostgreSQL database, when it has one


def store_of(root: Path):
    return STORES.get(root, root / "store.sqlite")


def args(root: Path) -> list[str]:
    return ["run", "--period", "2026-10", "--min-age", "0", "--inbox", str(root / "inbox"),
            "--outbox", str(root / "outbox"), "--store", str(store_of(root))]


def copy_site(pg, baseline: Path, root: Path) -> Path:
    """A fresh copy of a site: its folders, and its database when on PostgreSQL."""
    shutil.copytree(baseline, root)
    if baseline in STORES:
        STORES[root] = pg.new_database(template=database_name(STORES[baseline]))
    return root


def situation(root: Path, store: str | None = None) -> Path:
    """A store with one close of 2026-10 done, and new files dropped for a rerun of it."""
    (root / "inbox").mkdir(parents=True)
    if store:
        STORES[root] = store
    shutil.copy(STEP1, root / "inbox")
    assert main(args(root)) == 0
    for p in (STEP2, GIRARD):
        shutil.copy(p, root / "inbox")
    (root / "inbox" / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    bad = kpis("C-BAD")
    bad[0]["weight"] = 0.7
    workbook(root / "inbox" / "mixed.xlsx", contracts=[contract(contract_id="C-OK"), contract(contract_id="C-BAD")],
             kpis=kpis("C-OK") + bad)
    for i, p in enumerate(sorted((root / "inbox").glob("*.xlsx"))):
        os.utime(p, (1_700_000_000 + i, 1_700_000_000 + i))
    return root


def snapshot(root: Path) -> dict:
    q = lambda sql: sorted(query(store_of(root), sql))  # noqa: E731
    store = {
        "contracts": q("SELECT contract_id, data FROM contracts"),
        "kpis": q("SELECT contract_id, kpi_id, data FROM kpis"),
        "readings": q("SELECT contract_id, kpi_id, month, value, status FROM readings"),
        "reading_versions": q("SELECT contract_id, kpi_id, month, value, status, file FROM reading_versions"),
        "opening": q("SELECT contract_id, month, amount FROM opening"),
        "ledger": q("SELECT period, contract_id, month, amount FROM ledger"),
        "runs": q("SELECT period, state, exit_code FROM runs"),
        "run_files": q("SELECT name, outcome, errors, warnings FROM run_files"),
    }
    outbox = {RUN_ID.sub("RUN", str(p.relative_to(root / "outbox"))): content(p)
              for p in sorted((root / "outbox").rglob("*")) if p.is_file()}
    inbox = {str(p.relative_to(root / "inbox")): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((root / "inbox").rglob("*")) if p.is_file()}
    return {"store": store, "outbox": outbox, "inbox": inbox}


WHEN = re.compile(r"\d{1,2}(er)? \w+ \d{4} (à|at) \d{2}:\d{2}( UTC)?|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[^\s\"<]*")
VOLATILE = ("run_id", "started_at", "finished_at", "timings", "peak_rss_mib")


def normal(text: str) -> str:
    """Text with the run id and the times of a run replaced: what differs between two equal runs."""
    return WHEN.sub("WHEN", RUN_ID.sub("RUN", text))


def content(path: Path):
    """What a complete run and a crashed-then-rerun one must have alike in one output file."""
    if path.suffix == ".csv":
        return path.read_text(encoding="utf-8")                     # byte for byte
    if path.name == "manifest.json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in VOLATILE:
            data.pop(key)
        data["outputs"] = [{"name": RUN_ID.sub("RUN", o["name"]), **({"sha256": o["sha256"]} if o["name"].endswith(
            ".csv") else {})} for o in data["outputs"]]
        return data                                                 # totals, inputs, exit code as they are
    if path.suffix == ".eml":
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        heads = {k: str(v) for k, v in msg.items() if k not in ("Date", "Message-ID", "Content-Type")}
        return heads, [normal(part.get_content()) for part in msg.iter_parts()]
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            return {ws.title: [[normal(v) if isinstance(v, str) else v for v in row]
                               for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
        finally:
            wb.close()
    if path.name == "run.log":
        return [normal(line) for line in path.read_text(encoding="utf-8").splitlines()
                if not line.startswith("timings: ")]
    return normal(path.read_text(encoding="utf-8"))                 # statements, summary


def run_killed_at(root: Path, point: int) -> int | None:
    """Run in a forked child that kills itself at ``point``; returns the signal, if any."""
    pid = os.fork()
    if pid == 0:  # child
        code = 99
        try:
            os.environ["PERFSETTLE_CRASH_AT"] = str(point)
            faults._count = 0
            code = main(args(root))
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


@pytest.fixture
def baseline(tmp_path_factory, store_kind, request):
    store = request.getfixturevalue("pg").new_database() if store_kind == "postgresql" else None
    root = situation(tmp_path_factory.mktemp("baseline") / "site", store)
    return root


def test_crash_at_every_point_then_rerun_equals_one_complete_run(baseline, tmp_path, monkeypatch, request):
    pg = request.getfixturevalue("pg") if baseline in STORES else None
    monkeypatch.chdir(tmp_path)
    reference = copy_site(pg, baseline, tmp_path / "reference")
    trace = tmp_path / "points.txt"
    monkeypatch.setenv("PERFSETTLE_TRACE_POINTS", str(trace))
    faults._count = 0
    assert main(args(reference)) == 1
    monkeypatch.delenv("PERFSETTLE_TRACE_POINTS")
    faults._count = 0
    points = trace.read_text().splitlines()
    assert len(points) >= 50, points
    expected = snapshot(reference)
    assert expected["store"]["runs"] == [("2026-10", "done", 0), ("2026-10", "done", 1)]

    for n, line in enumerate(points, start=1):
        root = copy_site(pg, baseline, tmp_path / f"crash-{n}")
        assert run_killed_at(root, n) == signal.SIGKILL, f"point {line} was not reached"
        code = main(args(root))
        assert code == 1, f"after a crash at {line}: exit {code}"
        got = snapshot(root)
        assert got == expected, f"after a crash at point {line}"
        assert not list((root / "outbox").glob(".old-*"))
        assert not any((root / "outbox" / ".staging").iterdir()) if (root / "outbox" / ".staging").exists() else True
        shutil.rmtree(root)
