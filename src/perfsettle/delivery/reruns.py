"""Reruns of a closed period (SPEC §5): what changed since the close published in ``outbox/<P>/``.

A contract changed when its rows of the three CSVs differ in an amount or a status, or when
this close invoices or credits anything for it. What only says when a month was invoiced
(invoiced_before, invoice_now) or what this run's workbooks said about the contract (errors,
warnings) is no change: a rerun with no new data changes nothing.

The earlier close is read from its published CSVs, checked against its manifest's sha256: a
folder edited by hand is not compared (everything counts as changed, and is published again).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from perfsettle.core.model import CloseReport

COMPARED = ("settlement.csv", "kpi_results.csv", "contracts.csv")
NOT_A_CHANGE = frozenset({"invoiced_before", "invoice_now", "errors", "warnings"})


@dataclass(frozen=True)
class EarlierClose:
    """The close of the period published in ``folder``."""
    folder: Path
    run_id: str
    texts: dict               # name -> the text of each compared CSV
    version: str = ""         # the perfsettle that made it ('' before manifests said)
    exit_code: int | None = None

    @cached_property
    def contents(self) -> dict:
        """contract_id -> a digest of its amounts and statuses (``contents``)."""
        return contents(self.texts)

    def statement_files(self, contract_id: str) -> list[Path]:
        """Its statement of one contract (.html, .eml), as published."""
        return [p for p in (self.folder / "statements" / f"{contract_id}{suffix}" for suffix in (".html", ".eml"))
                if p.is_file()]


def earlier_close(folder: Path, period: str) -> EarlierClose | None:
    """The close published in ``folder`` (``outbox/<P>/``), or None: no close of the period
    published there, or its CSVs are not the ones its manifest names."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        digests = {o["name"]: o["sha256"] for o in manifest["outputs"]}
        if manifest["period"] != period or manifest.get("dry_run"):
            return None
        texts = {}
        for name in COMPARED:
            data = (folder / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != digests.get(name):
                return None
            texts[name] = data.decode("utf-8")
        return EarlierClose(folder, str(manifest["run_id"]), texts, str(manifest.get("version", "")),
                            manifest.get("exit_code"))
    except (OSError, ValueError, KeyError, TypeError, IndexError, ArithmeticError):
        return None


def contents(csv_texts: dict[str, str]) -> dict[str, bytes]:
    """Per contract: a digest of its rows of the CSVs (``digests``), read from their text."""
    tables = {}
    for name in COMPARED:
        rows = csv.reader(io.StringIO(csv_texts[name]))
        tables[name] = (next(rows, []), rows)
    return digests(tables)


def digests(tables: dict) -> dict[str, bytes]:
    """Per contract: a digest of its rows of the CSVs, given as {name: (header, rows)}, without
    the columns that are no change (a digest, not the rows: at 10,000 contracts the rows of
    two closes take a gigabyte).

    A settlement row that settles nothing and leaves the month at nothing invoiced (the credit
    of a month outside the term: SPEC §4 gives it no row once credited) is no row.
    """
    out: dict[str, object] = {}
    for name in COMPARED:
        header, rows = tables[name]
        kept = [i for i, column in enumerate(header) if column not in NOT_A_CHANGE]
        part = "\x1e".join([name, *(header[i] for i in kept)]).encode()   # a changed layout changes every row
        cid = header.index("contract_id")
        nothing = _settles_nothing(header) if name == "settlement.csv" else None
        for row in rows:
            if nothing is not None and nothing(row):
                continue
            digest = out.get(row[cid])
            if digest is None:
                digest = out[row[cid]] = hashlib.blake2b(digest_size=20)
            digest.update(part)
            digest.update("\x1f".join([row[i] for i in kept]).encode() + b"\x1d")
    return {cid: digest.digest() for cid, digest in out.items()}


def _settles_nothing(header: list[str]):
    """``row -> bool``: every amount 0, bonus_malus n/a, and invoiced_before + invoice_now = 0."""
    amounts = [i for i, column in enumerate(header)
               if column not in ("contract_id", "month", "currency", "bonus_malus", *NOT_A_CHANGE)]
    status, before, now = (header.index(c) for c in ("bonus_malus", "invoiced_before", "invoice_now"))

    def nothing(row: list[str]) -> bool:
        return (row[status] == "n/a" and all(Decimal(row[i]) == 0 for i in amounts)
                and Decimal(row[before]) == -Decimal(row[now]))
    return nothing


def changed_contracts(earlier: EarlierClose, tables: dict, report: CloseReport) -> set[str]:
    """The contracts whose amounts or statuses this close changes; ``tables``: this close's
    CSVs as {name: (header, rows)} (``exports.tables``), compared without being written."""
    now = digests(tables)
    moved = {r.contract_id for r in report.results if any(m.invoice_now for m in r.months)}
    return moved | {cid for cid in now.keys() | earlier.contents.keys() if now.get(cid) != earlier.contents.get(cid)}


def keep_statements(earlier: EarlierClose, contract_ids, outdir: Path) -> list[Path]:
    """Copy the earlier statements (same files, same Message-ID) of contracts that did not
    change into ``outdir/statements``; returns the copies."""
    folder = outdir / "statements"
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for cid in contract_ids:
        for path in earlier.statement_files(cid):
            kept.append(Path(shutil.copy2(path, folder / path.name)))
    return kept
