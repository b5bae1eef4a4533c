"""Small inline workbooks for tests: lists of dicts in, an .xlsx file out."""
from __future__ import annotations

from pathlib import Path

import openpyxl

HEADERS = {
    "Contracts": ["contract_id", "client", "provider", "company_size", "currency", "start_month", "duration_months",
                  "monthly_fee", "variable_share", "requires_verified", "bonus_kpi", "bonus_target", "bonus_rate",
                  "malus_rate", "exit_kpi", "exit_threshold", "exit_month", "mediator", "contact_email", "language"],
    "KPIs": ["contract_id", "kpi_id", "name", "category", "direction", "unit", "baseline", "target_mode", "target",
             "floor", "weight", "window_months", "due_month"],
    "Readings": ["contract_id", "kpi_id", "month", "value", "status", "comment"],
    "Invoiced": ["contract_id", "month", "amount"],
    "Amendments": ["contract_id", "kpi_id", "field", "value", "effective_month", "reason", "reference"],
    "Events": ["contract_id", "event", "month", "reason"],
}


def contract(**over) -> dict:
    base = {"contract_id": "C1", "client": "Client SA", "provider": "Agence IA", "company_size": "PME",
            "currency": "EUR", "start_month": "2026-01", "duration_months": 12, "monthly_fee": 10000,
            "variable_share": 0.35}
    base.update(over)
    return base


def kpis(cid: str = "C1") -> list[dict]:
    return [
        {"contract_id": cid, "kpi_id": "detection", "name": "Détection", "category": "operational",
         "direction": "higher", "unit": "%", "baseline": 0.7, "target_mode": "relative", "target": 0.15,
         "weight": 0.6},
        {"contract_id": cid, "kpi_id": "stability", "name": "Stabilité", "category": "robustness",
         "direction": "higher", "unit": "%", "target_mode": "absolute", "target": 0.98, "weight": 0.4},
    ]


def readings(cid: str = "C1", months=("2026-01",), detection=0.805, stability=0.99, status="verified") -> list[dict]:
    out = []
    for m in months:
        out.append({"contract_id": cid, "kpi_id": "detection", "month": m, "value": detection, "status": status})
        out.append({"contract_id": cid, "kpi_id": "stability", "month": m, "value": stability, "status": status})
    return out


def workbook(path: Path, headers: dict | None = None, **sheets: list[dict]) -> Path:
    """Write sheets given as contracts=[...], kpis=[...], readings=[...], invoiced=[...].

    ``headers`` overrides the sheet names / header texts: {"Contracts": ("Contrats", {...})}.
    """
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    names = {"contracts": "Contracts", "kpis": "KPIs", "readings": "Readings", "invoiced": "Invoiced",
             "amendments": "Amendments", "events": "Events"}
    for arg, rows in sheets.items():
        canonical = names[arg]
        title, renames = (headers or {}).get(canonical, (canonical, {}))
        ws = wb.create_sheet(title)
        cols = list(HEADERS[canonical])
        extra = [k for r in rows for k in r if k not in cols]
        for k in extra:
            if k not in cols:
                cols.append(k)
        ws.append([renames.get(c, c) for c in cols])
        for r in rows:
            ws.append([r.get(c) for c in cols])
    wb.save(path)
    return path


def facts(reason: str) -> dict:
    """A kpi_results ``reason`` as the engine's facts (problems, due month, deemed outcome,
    earned-back months): what test tables written as CSV text stand for."""
    from perfsettle.core.model import Problem
    out: dict = {"problems": (), "due_month": "", "deemed": "", "earned_back": ()}
    text = (reason or "").strip()
    if text.startswith("due "):
        out["due_month"] = text[4:]
    elif text.startswith("earned back "):
        out["earned_back"] = tuple(text[len("earned back "):].split(".."))
    else:
        if text.startswith("deemed "):
            out["deemed"], text = text[len("deemed "):].split(": ", 1)
        out["problems"] = tuple(Problem(*part.strip().split(" ", 1)) for part in text.split(";") if part.strip())
    return out
