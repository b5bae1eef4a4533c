"""Machine-readable outputs of a close (SPEC §5): the three CSVs and the manifest."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from fractions import Fraction

from perfsettle import __version__
from perfsettle.core.model import CloseReport, ExitResult, KpiResult, MonthResult, Problem
from perfsettle.core.money import format_money, format_number

SETTLEMENT_COLUMNS = ["contract_id", "month", "currency", "fee", "fixed", "pool", "earned", "held", "deferred",
                      "forfeited", "bonus_malus", "bonus", "malus", "due", "invoiced_before", "invoice_now"]
KPI_COLUMNS = ["contract_id", "month", "kpi_id", "status", "value", "target_level", "floor_level", "attainment",
               "pool_k", "earned_k", "forfeited_k", "held_k", "deferred_k", "reason", "earned_back_k"]
CONTRACT_COLUMNS = ["contract_id", "client", "provider", "currency", "status", "exit_status", "errors", "warnings",
                    "invoice_now", "last_month", "exit_deadline", "chronic"]
_MONEY = ("fee", "fixed", "pool", "earned", "held", "deferred", "forfeited", "bonus", "malus", "due",
          "invoiced_before", "invoice_now")


def safe_text(text: str) -> str:
    """Neutralise spreadsheet formula injection in free text (SPEC §5)."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def problems_text(problems: Iterable[Problem]) -> str:
    """``2026-09 missing; 2026-10 unverified``: the machine reason of a held evaluation."""
    return "; ".join(f"{p.month} {p.why}" for p in problems)


def kpi_reason(k: KpiResult) -> str:
    """The ``reason`` of a kpi_results row (SPEC §5), rendered from the engine's facts."""
    if k.status == "deferred":
        return f"due {k.due_month}"
    if k.status == "held":
        return problems_text(k.problems)
    if k.earned_back:
        return f"earned back {k.earned_back[0]}..{k.earned_back[-1]}"
    if k.deemed:
        return f"deemed {k.deemed}: {problems_text(k.problems)}"
    return ""


def bonus_reason(m: MonthResult) -> str:
    """Why a month's bonus-malus is held ('' otherwise)."""
    return problems_text(m.bonus_problems)


def exit_reason(e: ExitResult) -> str:
    """Why the exit right could not be evaluated ('not started', or the problem months)."""
    return "not started" if e.not_started else problems_text(e.problems)


def value_text(value) -> str:
    """A reading or window value; an exact mean is rounded to 6 places (SPEC §5)."""
    return format_number(value, 6) if isinstance(value, Fraction) else format_number(value)


def _csv(header: list[str], rows: Iterable[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def settlement_rows(report: CloseReport):
    """The rows of settlement.csv: one per contract-month, by contract then month."""
    for r in sorted(report.results, key=lambda r: r.contract_id):
        for m in sorted(r.months, key=lambda m: m.month):
            ccy = m.currency
            yield [m.contract_id, m.month, ccy] + [format_money(getattr(m, c), ccy) if c in _MONEY
                                                   else getattr(m, c) for c in SETTLEMENT_COLUMNS[3:]]


def kpi_results_rows(report: CloseReport):
    """The rows of kpi_results.csv: one per KPI-month, by contract, month and KPI (made one by
    one: no list of them all)."""
    for r in sorted(report.results, key=lambda r: r.contract_id):
        for m in sorted(r.months, key=lambda m: m.month):
            ccy = m.currency
            for k in sorted(m.kpis, key=lambda k: k.kpi_id):
                yield [k.contract_id, k.month, k.kpi_id, k.status, value_text(k.value),
                       format_number(k.target_level), format_number(k.floor_level),
                       format_number(k.attainment, 6) if k.attainment is not None else "",
                       format_money(k.pool_k, ccy), format_money(k.earned_k, ccy),
                       format_money(k.forfeited_k, ccy), format_money(k.held_k, ccy),
                       format_money(k.deferred_k, ccy), safe_text(kpi_reason(k)),
                       format_money(k.earned_back_k, ccy)]


def contracts_rows(report: CloseReport) -> list[list[str]]:
    """The rows of contracts.csv: one per contract, by contract_id."""
    rows = []
    for r in report.results:
        client, provider, ccy = report.names.get(r.contract_id, ("", "", r.currency))
        errors, warnings = report.contract_findings.get(r.contract_id, (0, 0))
        excluded = r.status == "excluded"
        rows.append([r.contract_id, safe_text(client), safe_text(provider), ccy, r.status,
                     r.exit.status if not excluded else "", str(errors), str(warnings),
                     format_money(r.invoice_now, ccy), "" if excluded else r.last_month,
                     r.exit.deadline if r.exit.status == "exit_right" else "",
                     ";".join(c.kpi_id for c in r.chronic)])
    rows.sort(key=lambda row: row[0])
    return rows


def tables(report: CloseReport) -> dict[str, tuple[list[str], Iterable[list[str]]]]:
    """The three CSVs as (header, rows), rows made as they are read (SPEC §5 order)."""
    return {"settlement.csv": (SETTLEMENT_COLUMNS, settlement_rows(report)),
            "kpi_results.csv": (KPI_COLUMNS, kpi_results_rows(report)),
            "contracts.csv": (CONTRACT_COLUMNS, contracts_rows(report))}


def settlement_csv(report: CloseReport) -> str:
    return _csv(SETTLEMENT_COLUMNS, settlement_rows(report))


def kpi_results_csv(report: CloseReport) -> str:
    return _csv(KPI_COLUMNS, kpi_results_rows(report))


def contracts_csv(report: CloseReport) -> str:
    return _csv(CONTRACT_COLUMNS, contracts_rows(report))


def totals(report: CloseReport) -> dict[str, dict[str, str]]:
    """Per currency: Σ of the settled amounts and of invoice_now (``CloseReport.totals``), formatted."""
    return {ccy: {k: format_money(v, ccy) for k, v in t.amounts.items()}
            for ccy, t in report.totals.items() if t.months}


def manifest_json(report: CloseReport, *, finished_at: str, outputs: list[dict], exit_code: int,
                  timings: dict[str, float], memory: dict[str, int] | None = None,
                  sums: dict | None = None) -> str:
    """The manifest; ``sums`` are the ``totals(report)`` when the caller has them already."""
    data = {
        "period": report.period,
        "run_id": report.run_id,
        "version": __version__,
        "started_at": report.started_at,
        "finished_at": finished_at,
        "dry_run": report.dry_run,
        "inputs": [{"name": f.name, "sha256": f.sha256, "outcome": f.outcome, "errors": f.errors,
                    "warnings": f.warnings,
                    "findings": [{"code": d.code, "severity": d.severity, "cell": d.source.cell,
                                  "contract_id": d.contract_id, "message": d.message} for d in f.diagnostics]}
                   for f in report.files],
        "skipped": [{"name": d.source.file, "code": d.code, "message": d.message} for d in report.skipped],
        "outputs": outputs,
        "totals": sums if sums is not None else totals(report),
        "exit_code": exit_code,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "peak_rss_mib": dict(memory or {}),
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
