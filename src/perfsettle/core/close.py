"""The close of a period (SPEC §4), without files or clock: what the store knows, overlaid
with what this run accepted, settled; and the ledger lines that the close invoices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from perfsettle.core.model import CloseReport, ContractResult, ExitResult, FileOutcome, Intake, Reading, ReadingChange, Terms
from perfsettle.core.money import pinned
from perfsettle.core.settle import settle


@dataclass(frozen=True)
class Known:
    """What the store holds before this run."""
    contracts: dict            # cid -> Contract
    kpis: dict                 # cid -> {kid: Kpi}
    readings: dict             # (cid, kid, month) -> Reading
    opening: dict              # (cid, month) -> Decimal: invoiced outside perfsettle
    closed: dict               # (cid, month) -> Decimal: invoiced by earlier closes
    amendments: dict = field(default_factory=dict)   # (cid, kid, field, month) -> Amendment
    events: dict = field(default_factory=dict)       # (cid, event) -> Event


@pinned
def close(known: Known, intake: Intake, period: str, *, run_id: str, started: str,
          files: list[FileOutcome], dry_run: bool = False) -> CloseReport:
    terms = terms_after(known, intake)
    readings: dict[tuple[str, str, str], Reading] = dict(known.readings)
    readings.update({k: r for k, (r, _) in intake.readings.items()})
    opening = dict(known.opening)
    opening.update({k: a for k, (a, _) in intake.invoiced.items()})
    ledger = dict(known.closed)
    for k, a in opening.items():
        ledger[k] = ledger.get(k, Decimal(0)) + a
    results = list(settle(terms.values(), readings.values(), ledger, period, intake.excluded & set(terms)))
    results += [ContractResult(cid, "excluded", intake.names[cid][2], ExitResult(""), (), None)
                for cid in sorted(intake.excluded - set(terms)) if cid in intake.names]
    results.sort(key=lambda r: r.contract_id)
    names = {cid: (t.contract.client, t.contract.provider, t.contract.currency) for cid, t in terms.items()}
    for cid, name in intake.names.items():
        names.setdefault(cid, name)
    return CloseReport(period, run_id, started, tuple(results), tuple(files),
                       reading_changes(known.readings, intake.readings),
                       {cid: tuple(v) for cid, v in intake.findings.items()}, names, dry_run,
                       readings=readings, openings=opening)


def terms_after(known: Known, intake: Intake) -> dict[str, Terms]:
    """Each contract as it stands after this run: stored terms overlaid with accepted rows."""
    contracts = dict(known.contracts)
    contracts.update({cid: c for cid, (c, _) in intake.contracts.items()})
    kpis = {cid: dict(ks) for cid, ks in known.kpis.items()}
    for (cid, kid), (k, _) in intake.kpis.items():
        kpis.setdefault(cid, {})[kid] = k
    amendments = overlay(known.amendments, intake.amendments)
    events = overlay(known.events, intake.events)
    by_contract: dict[str, tuple[list, list]] = {}
    for a in amendments.values():
        by_contract.setdefault(a.contract_id, ([], []))[0].append(a)
    for e in events.values():
        by_contract.setdefault(e.contract_id, ([], []))[1].append(e)
    out = {}
    for cid, c in contracts.items():
        amended, happened = by_contract.get(cid, ((), ()))
        out[cid] = Terms(c, tuple(sorted(kpis.get(cid, {}).values(), key=lambda k: k.kpi_id)),
                         tuple(sorted(amended, key=lambda a: a.key)),
                         tuple(sorted(happened, key=lambda e: e.event)))
    return out


def overlay(stored: dict, incoming: dict) -> dict:
    """Stored records by key with this run's rows over them (None withdraws a key)."""
    out = dict(stored)
    for key, (record, _) in incoming.items():
        if record is None:
            out.pop(key, None)
        else:
            out[key] = record
    return out


def reading_changes(stored: dict, incoming: dict) -> tuple[ReadingChange, ...]:
    """How this run's readings differ from the stored ones: what explains adjustments."""
    out = []
    for key, (r, src) in sorted(incoming.items()):
        old = stored.get(key)
        if old is not None and old.value == r.value and old.status == r.status:
            continue
        out.append(ReadingChange(r.contract_id, r.kpi_id, r.month, old.value if old else None,
                                 old.status if old else None, r.value, r.status, src.file, src.cell, r.comment))
    return tuple(out)


def ledger_lines(report: CloseReport) -> list[tuple[str, str, Decimal, str]]:
    """What this close invoices: (contract, month, amount, currency) for every non-zero line."""
    return [(m.contract_id, m.month, m.invoice_now, m.currency)
            for r in report.results for m in r.months if m.invoice_now != 0]
