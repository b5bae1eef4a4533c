"""What both stores share: the schema's migrations, and every read and write of the store.

The SQL is written once, in the dialect SQLite and PostgreSQL share, with ``?`` placeholders
and SQLite's ``INSERT OR REPLACE`` / ``INSERT OR IGNORE``; ``postgres.py`` translates the few
differences (placeholders, upserts, ``AUTOINCREMENT``, the implicit ``rowid``). A new
migration is one more entry of ``MIGRATIONS`` (SQLite-style DDL, statements separated by ``;``,
no ``;`` inside literals) and a new read or write one more method of ``SqlStore``: both stores
get them.

What both engines accept: ``?`` placeholders, ``INSERT OR REPLACE`` / ``INSERT OR IGNORE`` /
``INSERT … ON CONFLICT``, ``ORDER BY rowid`` (every table has one), ``RETURNING`` (not
``cursor.lastrowid``), types ``TEXT``, ``INTEGER``, ``REAL``, ``BLOB`` written in capitals in
DDL, ``CREATE TABLE`` / ``CREATE INDEX`` / ``ALTER TABLE … ADD COLUMN``; no ``PRAGMA``, no
``executescript``, no SQLite-only functions.

Each store keeps ``self.db``, an object with the ``execute`` / ``executemany`` of ``sqlite3``
(cursors with ``fetchone``, ``fetchall`` and iteration), in autocommit mode: transactions are
opened by ``write()`` (everything a run stores, atomically) and ``snapshot()`` (reads that see
one state of the store, before or after any run, never half of one).
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import fields
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from sys import intern

from perfsettle.core.model import Amendment, Contract, Event, Kpi, Reading
from perfsettle.infra.faults import checkpoint

SCHEMA_VERSION = 3

MIGRATIONS = {
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
    2: """
    CREATE TABLE amendments (
        contract_id TEXT NOT NULL, kpi_id TEXT NOT NULL, field TEXT NOT NULL, effective_month TEXT NOT NULL,
        value TEXT, reason TEXT, reference TEXT,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT,
        PRIMARY KEY (contract_id, kpi_id, field, effective_month));
    CREATE TABLE amendment_versions (
        contract_id TEXT NOT NULL, kpi_id TEXT NOT NULL, field TEXT NOT NULL, effective_month TEXT NOT NULL,
        value TEXT, reason TEXT, reference TEXT, withdrawn INTEGER NOT NULL,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    CREATE INDEX amendment_versions_key ON amendment_versions (contract_id, kpi_id, field, effective_month);
    CREATE TABLE events (
        contract_id TEXT NOT NULL, event TEXT NOT NULL, month TEXT NOT NULL, reason TEXT,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT, PRIMARY KEY (contract_id, event));
    CREATE TABLE event_versions (
        contract_id TEXT NOT NULL, event TEXT NOT NULL, month TEXT, reason TEXT,
        file TEXT, cell TEXT, run_id TEXT, recorded_at TEXT);
    """,
    # the document register of SPEC §8 (invoices and credit notes), the ledger lines each
    # document holds, and the invoice numbers of opening entries
    3: """
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
    """,
}


def statements(migration: str) -> list[str]:
    return [s.strip() for s in migration.split(";") if s.strip()]


class StoreError(Exception):
    """The store cannot be used as configured (exit code 2): unreachable, refused, of a newer
    schema, not a perfsettle store. The message is one line, for a person."""


class Locked(Exception):
    """Another run holds the run lock; the message names it when it can."""


class StoreLost(Exception):
    """The connection to the store was lost during the run (nothing half-stored: run again)."""


_BATCH = 20_000   # rows made and inserted at a time: the rows of 500,000 readings at once took 150 MB


def _batches(rows, size: int | None = None):
    """Lists of at most ``size`` (default ``_BATCH``) of ``rows`` (an iterable), in order."""
    it = iter(rows)
    while batch := list(islice(it, size or _BATCH)):
        yield batch


def _enc(value):
    if isinstance(value, Decimal):
        return {"$d": format(value, "f")}
    return value


def _dec(value):
    if isinstance(value, dict) and "$d" in value:
        return Decimal(value["$d"])
    return value


def _value_text(value) -> str | None:
    """An amendment's typed value as JSON text (a Decimal as {"$d": "…"}, exactly); None: cleared."""
    return None if value is None else json.dumps(_enc(value), ensure_ascii=False)


def _value_of(text: str | None):
    return None if text is None else _dec(json.loads(text))


def _to_json(record) -> str:
    """A flat record (a Contract, a Kpi: scalar fields only) as JSON, its keys sorted."""
    return json.dumps({k: _enc(getattr(record, k)) for k in _sorted_fields(type(record))}, ensure_ascii=False)


@lru_cache(maxsize=None)
def _sorted_fields(cls) -> tuple[str, ...]:
    return tuple(sorted(_field_names(cls)))


def _from_json(cls, text: str):
    names = _field_names(cls)
    return cls(**{k: _dec(v) for k, v in json.loads(text).items() if k in names})


@lru_cache(maxsize=None)
def _field_names(cls) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _d(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _canonical(value):
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, (bytes, bytearray)):
        return {"$b": bytes(value).hex()}
    return value


def canonical_row(row) -> str:
    """One row as text, the same from both engines: the JSON list of its values."""
    return json.dumps([_canonical(v) for v in row], ensure_ascii=False, separators=(",", ":"))


class SqlStore:
    """The reads and writes of a store; subclasses connect and set ``self.db``."""

    location: str
    db = None

    # ----------------------------------------------------------------- to provide
    def _begin_write(self) -> None:
        raise NotImplementedError

    def _begin_read(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        self.db.execute("ROLLBACK")

    def schema_version(self) -> int:
        raise NotImplementedError

    def table_names(self) -> list[str]:
        """The store's own tables (not the engine's bookkeeping), by name."""
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        """A table's declared columns, in order (not the implicit rowid)."""
        raise NotImplementedError

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- transactions
    @contextmanager
    def write(self):
        """One transaction: everything in it is stored, or nothing."""
        self._begin_write()
        with self._ending():
            yield self.db

    @contextmanager
    def _ending(self):
        """Commit the transaction under way when the block ends, roll it back if it raises."""
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    @contextmanager
    def snapshot(self):
        """Reads that all see one state of the store (a run committed entirely, or not at all)."""
        self._begin_read()
        try:
            yield self
        finally:
            self._rollback()

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

    def amendments(self) -> dict[tuple[str, str, str, str], Amendment]:
        """Amendments in force, by (contract, kpi or '', field, effective month)."""
        return {(cid, kid, f, month): Amendment(cid, kid, f, _value_of(value), month, reason or "", reference or "")
                for cid, kid, f, month, value, reason, reference in self.db.execute(
                    "SELECT contract_id, kpi_id, field, effective_month, value, reason, reference FROM amendments")}

    def events(self) -> dict[tuple[str, str], Event]:
        return {(cid, ev): Event(cid, ev, month, reason or "")
                for cid, ev, month, reason in self.db.execute("SELECT contract_id, event, month, reason FROM events")}

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

    def latest_close(self, period: str) -> str | None:
        """The run id of the latest close of ``period`` that published its outputs (a rerun that
        changed nothing publishes its record only); None when there is none, or when two of
        them started in the same second (which one is the latest is then not known)."""
        closes = sorted((started or "", run_id) for run_id, started, plan in self.db.execute(
            "SELECT run_id, started_at, plan FROM runs WHERE period=? AND state='done'", (period,))
            if not json.loads(plan or "{}").get("record_only"))
        if not closes or (len(closes) > 1 and closes[-1][0] == closes[-2][0]):
            return None
        return closes[-1][1]

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
        return [tuple(r) for r in self.db.execute(
            "SELECT run_id, period, staging, plan, exit_code FROM runs WHERE state='committed' ORDER BY started_at")]

    # ----------------------------------------------------------------- the run transaction
    _begun: str | None = None   # the run whose transaction ``begin_run`` opened, not ended yet

    def begin_run(self, *, run_id: str, period: str, now: str, intake, ledger_lines) -> None:
        """Open a run's transaction and write its accepted data and ledger lines into it, while
        its outputs are still being made; ``commit_run`` ends it with the run's record. Until
        then nothing of it is visible, and a run that stops before leaves the store as it was."""
        self._begin_write()
        try:
            self._write_accepted(self.db, run_id, period, now, intake, ledger_lines)
        except BaseException:
            self._rollback()
            raise
        self._begun = run_id

    def commit_run(self, *, run_id: str, period: str, started_at: str, now: str, intake, ledger_lines,
                   files, staging: str, plan: dict, totals: dict, exit_code: int) -> None:
        """Store a run's accepted data, its ledger lines and its record, atomically (in the
        transaction ``begin_run`` opened for this run, if it did)."""
        if self._begun == run_id:   # its data is written already
            self._begun = None
            with self._ending():
                self._write_record(self.db, run_id, period, started_at, files, staging, plan, totals, exit_code)
            return
        with self.write() as db:
            self._write_accepted(db, run_id, period, now, intake, ledger_lines)
            self._write_record(db, run_id, period, started_at, files, staging, plan, totals, exit_code)

    def _write_accepted(self, db, run_id: str, period: str, now: str, intake, ledger_lines) -> None:
        """The run's accepted terms, readings, opening balances, amendments, events and ledger lines."""
        rows = [(cid, _to_json(contract), src.file, src.cell, run_id, now)
                for cid, (contract, src) in intake.contracts.items()]
        db.executemany("INSERT OR REPLACE INTO contracts VALUES (?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO contract_versions VALUES (?,?,?,?,?,?)", rows)
        checkpoint("store transaction")
        for rows in _batches((cid, kid, _to_json(kpi), src.file, src.cell, run_id, now)
                             for (cid, kid), (kpi, src) in intake.kpis.items()):
            db.executemany("INSERT OR REPLACE INTO kpis VALUES (?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO kpi_versions VALUES (?,?,?,?,?,?,?)", rows)
        checkpoint("store transaction")
        for rows in _batches((r.contract_id, r.kpi_id, r.month, None if r.value is None else format(r.value, "f"),
                              r.status, r.comment, src.file, src.cell, run_id, now)
                             for r, src in intake.readings.values()):
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
        withdrawn, amended, versions = [], [], []
        for (cid, kid, name, month), (a, src) in getattr(intake, "amendments", {}).items():
            if a is None:   # void: withdrawn, its earlier versions kept
                withdrawn.append((cid, kid, name, month))
                versions.append((cid, kid, name, month, None, None, None, 1, src.file, src.cell, run_id, now))
                continue
            values = (cid, kid, name, month, _value_text(a.value), a.reason, a.reference)
            amended.append(values + (src.file, src.cell, run_id, now))
            versions.append(values + (0, src.file, src.cell, run_id, now))
        db.executemany("DELETE FROM amendments WHERE contract_id=? AND kpi_id=? AND field=? AND effective_month=?",
                       withdrawn)
        db.executemany("INSERT OR REPLACE INTO amendments VALUES (?,?,?,?,?,?,?,?,?,?,?)", amended)
        db.executemany("INSERT INTO amendment_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", versions)
        withdrawn, happened, versions = [], [], []
        for (cid, name), (e, src) in getattr(intake, "events", {}).items():
            if e is None:   # a blank month withdraws the event
                withdrawn.append((cid, name))
                versions.append((cid, name, None, None, src.file, src.cell, run_id, now))
                continue
            happened.append((cid, name, e.month, e.reason, src.file, src.cell, run_id, now))
            versions.append(happened[-1])
        db.executemany("DELETE FROM events WHERE contract_id=? AND event=?", withdrawn)
        db.executemany("INSERT OR REPLACE INTO events VALUES (?,?,?,?,?,?,?,?)", happened)
        db.executemany("INSERT INTO event_versions VALUES (?,?,?,?,?,?,?,?)", versions)
        checkpoint("store transaction")
        db.executemany("INSERT INTO ledger (run_id, period, contract_id, month, amount, currency, recorded_at) "
                       "VALUES (?,?,?,?,?,?,?)",
                       [(run_id, period, cid, month, format(amount, "f"), ccy, now)
                        for cid, month, amount, ccy in ledger_lines])
        checkpoint("store transaction")

    def _write_record(self, db, run_id: str, period: str, started_at: str, files, staging: str, plan: dict,
                      totals: dict, exit_code: int) -> None:
        """The run's record (its plan: what publishing it does) and the files it took."""
        db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                   (run_id, period, started_at, None, exit_code, "committed", staging,
                    json.dumps(plan), json.dumps(totals)))
        checkpoint("store transaction")
        db.executemany("INSERT INTO run_files VALUES (?,?,?,?,?,?)",
                       [(run_id, f.name, f.sha256, f.outcome, f.errors, f.warnings) for f in files])
        checkpoint("store transaction")

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
        with self.write() as db:
            for doc in documents:
                series = prefixes[0] if doc.kind == "invoice" else prefixes[1]
                year, seq = int(doc.number[len(series):len(series) + 4]), int(doc.number.rsplit("-", 1)[1])
                data = json.dumps({
                    "lines": [{"month": ln.month, "amount": format(ln.amount, "f"), "label_en": ln.label_en,
                               "label_fr": ln.label_fr, "references": [c.number for c in ln.cites]}
                              for ln in doc.lines],
                    "buyer": {k: getattr(doc.buyer, k) for k in doc.buyer.__slots__},
                    "language": doc.language, "references": list(doc.references),
                    **({"eur_rate": format(doc.eur_rate, "f"), "eur_vat": format(doc.eur_vat, "f")}
                       if doc.eur_vat is not None else {})}, ensure_ascii=False, sort_keys=True)
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

    # ----------------------------------------------------------------- whole tables (store copy)
    def is_empty(self) -> bool:
        return all(self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0 for t in self.table_names())

    def table_rows(self, table: str, columns: list[str] | None = None, with_rowid: bool = False):
        """Every row of a table in the order it was written (rowid order): its declared columns
        (or ``columns``); with ``with_rowid``, the rowid first."""
        cols = ", ".join((["rowid"] if with_rowid else []) + (columns or self.columns(table)))
        return self.db.execute(f"SELECT {cols} FROM {table} ORDER BY rowid")

    def digest(self, table: str, columns: list[str] | None = None) -> tuple[int, str]:
        """(row count, sha256 of the table's rows as canonical text, in the order they were written)."""
        h, n = hashlib.sha256(), 0
        for row in self.table_rows(table, columns):
            h.update(canonical_row(row).encode("utf-8") + b"\n")
            n += 1
        return n, h.hexdigest()

    def load_rows(self, table: str, columns: list[str], rows) -> None:
        """Insert rows given as (rowid, *columns), keeping their rowid (and so their order)."""
        raise NotImplementedError
