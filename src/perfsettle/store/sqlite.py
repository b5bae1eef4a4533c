"""The SQLite store: contract terms, KPIs, readings (every version kept), the ledger, runs.

One connection per run; everything a run stores, and its ledger lines, are written in one
transaction (``commit_run``). Decimals are stored as text, exactly.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, fields
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from sys import intern

from perfsettle.infra.faults import checkpoint
from perfsettle.core.model import Contract, Kpi, Reading

SCHEMA_VERSION = 3

_MIGRATIONS = {
    1: """
    CREATE TABLE contracts (
        contract_id TEXT PRIMARY KEY, data TEXT NOT NULL,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    CREATE TABLE contract_versions (
        contract_id TEXT NOT NULL, data TEXT NOT NULL, file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    CREATE TABLE kpis (
        contract_id TEXT NOT NULL, kpi_id TEXT NOT NULL, data TEXT NOT NULL,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT, PRIMARY KEY (contract_id, kpi_id));
    CREATE TABLE kpi_versions (
        contract_id TEXT NOT NULL, kpi_id TEXT NOT NULL, data TEXT NOT NULL,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    CREATE TABLE readings (
        contract_id TEXT NOT NULL, kpi_id TEXT NOT NULL, month TEXT NOT NULL,
        value TEXT, status TEXT NOT NULL, comment TEXT,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT,
        PRIMARY KEY (contract_id, kpi_id, month));
    CREATE TABLE reading_versions (
        contract_id TEXT NOT NULL, kpi_id TEXT NOT NULL, month TEXT NOT NULL,
        value TEXT, status TEXT NOT NULL, comment TEXT,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    CREATE INDEX reading_versions_key ON reading_versions (contract_id, kpi_id, month);
    CREATE TABLE opening (
        contract_id TEXT NOT NULL, month TEXT NOT NULL, amount TEXT NOT NULL,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT, PRIMARY KEY (contract_id, month));
    CREATE TABLE opening_versions (
        contract_id TEXT NOT NULL, month TEXT NOT NULL, amount TEXT NOT NULL,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, period TEXT NOT NULL,
        contract_id TEXT NOT NULL, month TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,
        recorded_at TEXT);
    CREATE INDEX ledger_key ON ledger (contract_id, month);
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, period TEXT NOT NULL, started_at TEXT, finished_at TEXT,
        exit_code INTEGER, state TEXT NOT NULL, staging TEXT, plan TEXT, totals TEXT);
    CREATE TABLE run_files (
        run_id TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, outcome TEXT NOT NULL,
        errors INTEGER, warnings INTEGER);
    CREATE INDEX run_files_sha ON run_files (sha256);
    CREATE TABLE sent_messages (
        message_id TEXT PRIMARY KEY, recipients TEXT, subject TEXT, sent_at TEXT);
    """,
}


# Migration 3: the document register of SPEC §8 (invoices and credit notes), the ledger lines
# each document holds, and the invoice numbers of opening entries. Version 2 (amendments and
# events) may be defined elsewhere; until then it is an empty step.
_MIGRATIONS.setdefault(2, "")
_MIGRATIONS[3] = """
    CREATE TABLE opening_invoices (
        contract_id TEXT NOT NULL, month TEXT NOT NULL, invoice_number TEXT NOT NULL, invoice_date TEXT NOT NULL,
        run_id TEXT, recorded_at TEXT, PRIMARY KEY (contract_id, month));
    CREATE TABLE documents (
        number TEXT PRIMARY KEY, series TEXT NOT NULL, year INTEGER NOT NULL, seq INTEGER NOT NULL,
        type TEXT NOT NULL, type_code TEXT NOT NULL, issue_date TEXT NOT NULL, due_date TEXT NOT NULL,
        contract_id TEXT NOT NULL, currency TEXT NOT NULL, base TEXT NOT NULL, vat_rate TEXT NOT NULL,
        vat_category TEXT NOT NULL, vat TEXT NOT NULL, total TEXT NOT NULL, period TEXT NOT NULL,
        finalize_id TEXT NOT NULL, data TEXT NOT NULL, xml_sha256 TEXT, pdf_sha256 TEXT, recorded_at TEXT,
        UNIQUE (series, year, seq));
    CREATE TABLE document_lines (
        number TEXT NOT NULL, line_no INTEGER NOT NULL, contract_id TEXT NOT NULL, month TEXT NOT NULL,
        amount TEXT NOT NULL, label_en TEXT, label_fr TEXT, PRIMARY KEY (number, line_no));
    CREATE INDEX document_lines_month ON document_lines (contract_id, month);
    CREATE TABLE document_refs (
        number TEXT NOT NULL, month TEXT NOT NULL, cited_number TEXT NOT NULL, cited_date TEXT);
    CREATE TABLE ledger_documents (
        ledger_id INTEGER PRIMARY KEY, number TEXT, finalize_id TEXT NOT NULL);
    CREATE TABLE finalizes (
        finalize_id TEXT PRIMARY KEY, period TEXT NOT NULL, issue_date TEXT NOT NULL, started_at TEXT,
        finished_at TEXT, state TEXT NOT NULL, staging TEXT, outdir TEXT, exit_code INTEGER);
    """


def _enc(value):
    if isinstance(value, Decimal):
        return {"$d": format(value, "f")}
    return value


def _dec(value):
    if isinstance(value, dict) and "$d" in value:
        return Decimal(value["$d"])
    return value


def _to_json(record) -> str:
    return json.dumps({k: _enc(v) for k, v in asdict(record).items()}, ensure_ascii=False, sort_keys=True)


def _from_json(cls, text: str):
    names = _field_names(cls)
    return cls(**{k: _dec(v) for k, v in json.loads(text).items() if k in names})


@lru_cache(maxsize=None)
def _field_names(cls) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _d(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- schema
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"store {self.path} has schema version {version}, newer than this perfsettle ({SCHEMA_VERSION})")
        for v in range(version + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[v].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {v}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # ----------------------------------------------------------------- reads
    def contracts(self) -> dict[str, Contract]:
        return {cid: _from_json(Contract, data) for cid, data in self.db.execute("SELECT contract_id, data FROM contracts")}

    def kpis(self) -> dict[str, dict[str, Kpi]]:
        out: dict[str, dict[str, Kpi]] = {}
        for cid, kid, data in self.db.execute("SELECT contract_id, kpi_id, data FROM kpis"):
            out.setdefault(cid, {})[kid] = _from_json(Kpi, data)
        return out

    def readings(self) -> list[Reading]:
        return [Reading(intern(cid), intern(kid), intern(month), _d(value), intern(status), comment or "")
                for cid, kid, month, value, status, comment in self.db.execute(
                    "SELECT contract_id, kpi_id, month, value, status, comment FROM readings")]

    def opening(self) -> dict[tuple[str, str], Decimal]:
        """Opening entries: what was invoiced outside perfsettle, per (contract, month)."""
        return {(cid, month): Decimal(amount)
                for cid, month, amount in self.db.execute("SELECT contract_id, month, amount FROM opening")}

    def closed(self, since: str = "") -> dict[tuple[str, str], Decimal]:
        """What closes invoiced, per (contract, month); with ``since``, only closes of that period or later."""
        out: dict[tuple[str, str], Decimal] = {}
        for cid, month, amount in self.db.execute("SELECT contract_id, month, amount FROM ledger WHERE period >= ?",
                                                  (since,)):
            out[(cid, month)] = out.get((cid, month), Decimal(0)) + Decimal(amount)
        return out

    def latest_closed_period(self) -> str | None:
        row = self.db.execute("SELECT max(period) FROM runs WHERE state IN ('committed', 'done')").fetchone()
        return row[0]

    def known_sha256(self) -> set[str]:
        return {sha for (sha,) in self.db.execute(
            "SELECT sha256 FROM run_files f JOIN runs r USING (run_id) WHERE r.state IN ('committed', 'done') "
            "AND f.outcome IN ('accepted', 'partially_accepted')")}

    def runs(self) -> list[dict]:
        cols = ("run_id", "period", "started_at", "finished_at", "exit_code", "state", "totals")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY started_at, run_id").fetchall()
        out = []
        for row in rows:
            item = dict(zip(cols, row))
            item["files"] = [dict(zip(("name", "sha256", "outcome", "errors", "warnings"), f)) for f in self.db.execute(
                "SELECT name, sha256, outcome, errors, warnings FROM run_files WHERE run_id=? ORDER BY rowid",
                (item["run_id"],))]
            out.append(item)
        return out

    def pending_runs(self) -> list[tuple[str, str, str, str]]:
        """Runs committed but not finished: (run_id, period, staging, plan json, exit code)."""
        return self.db.execute("SELECT run_id, period, staging, plan, exit_code FROM runs WHERE state='committed' "
                               "ORDER BY started_at").fetchall()

    # ----------------------------------------------------------------- the run transaction
    def commit_run(self, *, run_id: str, period: str, started_at: str, now: str, intake, ledger_lines,
                   files, staging: str, plan: dict, totals: dict, exit_code: int) -> None:
        """Store a run's accepted data, its ledger lines and its record, atomically."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for cid, (contract, src) in intake.contracts.items():
                data = _to_json(contract)
                db.execute("INSERT OR REPLACE INTO contracts VALUES (?,?,?,?,?,?)",
                           (cid, data, src.file, src.cell, run_id, now))
                db.execute("INSERT INTO contract_versions VALUES (?,?,?,?,?,?)", (cid, data, src.file, src.cell, run_id, now))
            checkpoint("store transaction")
            for (cid, kid), (kpi, src) in intake.kpis.items():
                data = _to_json(kpi)
                db.execute("INSERT OR REPLACE INTO kpis VALUES (?,?,?,?,?,?,?)",
                           (cid, kid, data, src.file, src.cell, run_id, now))
                db.execute("INSERT INTO kpi_versions VALUES (?,?,?,?,?,?,?)", (cid, kid, data, src.file, src.cell, run_id, now))
            checkpoint("store transaction")
            rows = [(r.contract_id, r.kpi_id, r.month, None if r.value is None else format(r.value, "f"), r.status,
                     r.comment, src.file, src.cell, run_id, now) for r, src in intake.readings.values()]
            db.executemany("INSERT OR REPLACE INTO readings VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO reading_versions VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            checkpoint("store transaction")
            rows = [(cid, month, format(amount, "f"), src.file, src.cell, run_id, now)
                    for (cid, month), (amount, src) in intake.invoiced.items()]
            db.executemany("INSERT OR REPLACE INTO opening VALUES (?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO opening_versions VALUES (?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT OR REPLACE INTO opening_invoices VALUES (?,?,?,?,?,?)",
                           [(cid, month, number, date, run_id, now)
                            for (cid, month), (number, date) in getattr(intake, "invoice_refs", {}).items()])
            checkpoint("store transaction")
            db.executemany("INSERT INTO ledger (run_id, period, contract_id, month, amount, currency, recorded_at) "
                           "VALUES (?,?,?,?,?,?,?)",
                           [(run_id, period, cid, month, format(amount, "f"), ccy, now)
                            for cid, month, amount, ccy in ledger_lines])
            checkpoint("store transaction")
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                       (run_id, period, started_at, None, exit_code, "committed", staging,
                        json.dumps(plan), json.dumps(totals)))
            checkpoint("store transaction")
            db.executemany("INSERT INTO run_files VALUES (?,?,?,?,?,?)",
                           [(run_id, f.name, f.sha256, f.outcome, f.errors, f.warnings) for f in files])
            checkpoint("store transaction")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def finish_run(self, run_id: str, finished_at: str) -> None:
        self.db.execute("UPDATE runs SET state='done', finished_at=? WHERE run_id=?", (finished_at, run_id))

    # ----------------------------------------------------------------- documents (SPEC §8)
    def undocumented_lines(self) -> list[tuple[int, str, str, Decimal, str, str]]:
        """Ledger lines of closes on no document yet: (id, contract, month, amount, currency, period)."""
        return [(i, cid, month, Decimal(amount), ccy, period) for i, cid, month, amount, ccy, period in self.db.execute(
            "SELECT l.id, l.contract_id, l.month, l.amount, l.currency, l.period FROM ledger l "
            "LEFT JOIN ledger_documents d ON d.ledger_id = l.id WHERE d.ledger_id IS NULL ORDER BY l.id")]

    def opening_invoices(self) -> dict[tuple[str, str], tuple[Decimal, str, str]]:
        """Opening entries with the invoice that invoiced them: (amount, invoice_number, invoice_date)."""
        return {(cid, month): (Decimal(amount), number or "", date or "")
                for cid, month, amount, number, date in self.db.execute(
                    "SELECT o.contract_id, o.month, o.amount, i.invoice_number, i.invoice_date FROM opening o "
                    "LEFT JOIN opening_invoices i ON i.contract_id = o.contract_id AND i.month = o.month")}

    def document_months(self) -> list[tuple[str, str, str, str, str]]:
        """Every document line: (contract, month, number, type, issue_date), in number order."""
        return self.db.execute(
            "SELECT l.contract_id, l.month, d.number, d.type, d.issue_date FROM document_lines l "
            "JOIN documents d USING (number) ORDER BY d.series, d.year, d.seq").fetchall()

    def document_counters(self) -> dict[tuple[str, int], int]:
        """The last number of each series and year."""
        return {(series, year): seq for series, year, seq in self.db.execute(
            "SELECT series, year, max(seq) FROM documents GROUP BY series, year")}

    def documents(self, period: str | None = None) -> list[dict]:
        """The register: every document (of one period's finalises with ``period``), in issue order."""
        cols = ("number", "type", "issue_date", "due_date", "contract_id", "currency", "base", "vat_rate",
                "vat_category", "vat", "total", "period", "finalize_id", "data", "xml_sha256", "pdf_sha256")
        sql = f"SELECT {', '.join(cols)} FROM documents"
        args: tuple = ()
        if period:
            sql += " WHERE period = ?"
            args = (period,)
        rows = self.db.execute(sql + " ORDER BY issue_date, type, series, year, seq", args).fetchall()
        out = []
        for row in rows:
            item = dict(zip(cols, row))
            item["data"] = json.loads(item["data"])
            out.append(item)
        return out

    def commit_documents(self, *, finalize_id: str, period: str, issue_date: str, started_at: str, now: str,
                         documents, settled, hashes: dict, staging: str, outdir: str, exit_code: int,
                         prefixes: tuple[str, str]) -> None:
        """Record a finalise's documents, the ledger lines they hold and its plan, atomically."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc in documents:
                series = prefixes[0] if doc.kind == "invoice" else prefixes[1]
                year, seq = int(doc.number[len(series):len(series) + 4]), int(doc.number.rsplit("-", 1)[1])
                data = json.dumps({
                    "lines": [{"month": ln.month, "amount": format(ln.amount, "f"), "label_en": ln.label_en,
                               "label_fr": ln.label_fr, "references": [c.number for c in ln.cites]}
                              for ln in doc.lines],
                    "buyer": {k: getattr(doc.buyer, k) for k in doc.buyer.__slots__},
                    "language": doc.language, "references": list(doc.references)}, ensure_ascii=False, sort_keys=True)
                xml_sha, pdf_sha = hashes.get(doc.number, ("", ""))
                db.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (doc.number, series, year, seq, doc.kind, doc.type_code, doc.issue_date, doc.due_date,
                            doc.contract_id, doc.currency, format(doc.base, "f"), format(doc.vat_rate, "f"),
                            doc.vat_category, format(doc.vat, "f"), format(doc.total, "f"), period, finalize_id,
                            data, xml_sha, pdf_sha, now))
                db.executemany("INSERT INTO document_lines VALUES (?,?,?,?,?,?,?)",
                               [(doc.number, i, doc.contract_id, ln.month, format(ln.amount, "f"), ln.label_en,
                                 ln.label_fr) for i, ln in enumerate(doc.lines, 1)])
                db.executemany("INSERT INTO document_refs VALUES (?,?,?,?)",
                               [(doc.number, ln.month, c.number, c.date) for ln in doc.lines for c in ln.cites])
                db.executemany("INSERT INTO ledger_documents VALUES (?,?,?)",
                               [(i, doc.number, finalize_id) for i in doc.line_ids])
                checkpoint("store documents")
            db.executemany("INSERT INTO ledger_documents VALUES (?,?,?)", [(i, None, finalize_id) for i in settled])
            db.execute("INSERT INTO finalizes VALUES (?,?,?,?,?,?,?,?,?)",
                       (finalize_id, period, issue_date, started_at, None,
                        "committed" if documents else "done", staging, outdir, exit_code))
            checkpoint("store documents")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def pending_finalizes(self) -> list[tuple[str, str, str, str, int]]:
        """Finalises committed but not published: (finalize_id, period, staging, outdir, exit code)."""
        return self.db.execute("SELECT finalize_id, period, staging, outdir, exit_code FROM finalizes "
                               "WHERE state='committed' ORDER BY started_at").fetchall()

    def finish_finalize(self, finalize_id: str, finished_at: str) -> None:
        self.db.execute("UPDATE finalizes SET state='done', finished_at=? WHERE finalize_id=?",
                        (finished_at, finalize_id))

    # ----------------------------------------------------------------- e-mail log
    def was_sent(self, message_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM sent_messages WHERE message_id=?", (message_id,)).fetchone() is not None

    def record_sent(self, message_id: str, recipients: str, subject: str, sent_at: str = "") -> None:
        self.db.execute("INSERT OR IGNORE INTO sent_messages VALUES (?,?,?,?)", (message_id, recipients, subject, sent_at))
