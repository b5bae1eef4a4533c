"""Contract results built by hand from the shared worked examples (expected CSVs + JSON).

They let the explanation be tested without the settlement engine: every amount comes from
the expected outputs of /work/shared/examples (or ../shared/examples beside the repository).
"""
from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from perfsettle import months
from perfsettle.model import (Contract, ContractResult, ExitResult, Kpi, KpiResult,
                              MonthResult, Reading, Terms)


def examples_dir() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    for cand in (os.environ.get("PERFSETTLE_EXAMPLES"), here.parent / "shared" / "examples",
                 Path("/work/shared/examples")):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def _d(x) -> Decimal | None:
    if x is None or x == "":
        return None
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(str(x))


def load_terms(scenario: dict) -> dict[str, Terms]:
    contracts, kpis = {}, {}
    for book in scenario.values():
        for c in book.get("contracts", []):
            contracts[c["contract_id"]] = Contract(
                contract_id=c["contract_id"], client=c["client"], provider=c["provider"],
                company_size=c["company_size"], currency=c.get("currency", "EUR"),
                start_month=c["start_month"], duration_months=c["duration_months"],
                monthly_fee=_d(c["monthly_fee"]), variable_share=_d(c["variable_share"]),
                requires_verified=c.get("requires_verified", False),
                bonus_kpi=c.get("bonus_kpi"), bonus_target=_d(c.get("bonus_target")),
                bonus_rate=_d(c.get("bonus_rate", "0.10")), malus_rate=_d(c.get("malus_rate", "0.10")),
                exit_kpi=c.get("exit_kpi"), exit_threshold=_d(c.get("exit_threshold")),
                exit_month=c.get("exit_month"), mediator=c.get("mediator", ""),
                contact_email=c.get("contact_email", ""), language=c.get("language", "fr"))
        for k in book.get("kpis", []):
            kpis.setdefault(k["contract_id"], []).append(Kpi(
                contract_id=k["contract_id"], kpi_id=k["kpi_id"], name=k["name"],
                category=k["category"], direction=k["direction"], target_mode=k["target_mode"],
                target=_d(k["target"]), weight=_d(k["weight"]), unit=k.get("unit", ""),
                baseline=_d(k.get("baseline")), floor=_d(k.get("floor")),
                window_months=k.get("window_months", 1), due_month=k.get("due_month")))
    return {cid: Terms(c, tuple(kpis.get(cid, ()))) for cid, c in contracts.items()}


def load_readings(*scenarios: dict) -> list[Reading]:
    latest: dict[tuple, Reading] = {}
    for scenario in scenarios:
        for book in scenario.values():
            for r in book.get("readings", []):
                rd = Reading(r["contract_id"], r["kpi_id"], r["month"], _d(r.get("value")),
                             r.get("status", "provisional"), r.get("comment", ""))
                latest[(rd.contract_id, rd.kpi_id, rd.month)] = rd
    return list(latest.values())


def _attainment(text: str) -> Fraction | None:
    return None if text == "" else Fraction(text)


def build_result(step: Path, contract_id: str, terms: Terms, readings: list[Reading],
                 exit_status: str, exact_attainments: dict | None = None) -> ContractResult:
    """A ContractResult whose amounts are the expected CSV rows of ``step`` for one contract."""
    exact_attainments = exact_attainments or {}
    period = (step / "period").read_text().strip()
    by_key = {(r.kpi_id, r.month): r for r in readings if r.contract_id == contract_id}
    kpi_rows: dict[str, list[dict]] = {}
    with open(step / "expected" / "kpi_results.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["contract_id"] == contract_id:
                kpi_rows.setdefault(row["month"], []).append(row)
    out = []
    with open(step / "expected" / "settlement.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["contract_id"] != contract_id:
                continue
            m = row["month"]
            krs = []
            for kr in kpi_rows.get(m, []):
                kpi = terms.kpi(kr["kpi_id"])
                ev = m
                if kpi.due_month and months.contract_month(terms.contract.start_month, m) < kpi.due_month:
                    ev = months.calendar_month(terms.contract.start_month, kpi.due_month)
                first = max(1, months.contract_month(terms.contract.start_month, ev) - kpi.window_months + 1)
                window = tuple(months.calendar_month(terms.contract.start_month, n)
                               for n in range(first, months.contract_month(terms.contract.start_month, ev) + 1))
                if kr["status"] == "deferred":
                    window = ()
                att = exact_attainments.get((m, kr["kpi_id"]), _attainment(kr["attainment"]))
                krs.append(KpiResult(
                    contract_id=contract_id, month=m, kpi_id=kr["kpi_id"], status=kr["status"],
                    value=_d(kr["value"]), target_level=_d(kr["target_level"]),
                    floor_level=_d(kr["floor_level"]), attainment=att,
                    pool_k=_d(kr["pool_k"]), earned_k=_d(kr["earned_k"]),
                    forfeited_k=_d(kr["forfeited_k"]), held_k=_d(kr["held_k"]),
                    deferred_k=_d(kr["deferred_k"]), reason=kr["reason"],
                    evaluated_month=ev if kr["status"] != "deferred" else "", window=window))
            bonus_value = None
            c = terms.contract
            if c.bonus_kpi and (c.bonus_kpi, m) in by_key:
                bonus_value = by_key[(c.bonus_kpi, m)].value
            out.append(MonthResult(
                contract_id=contract_id, month=m, currency=row["currency"], fee=_d(row["fee"]),
                fixed=_d(row["fixed"]), pool=_d(row["pool"]), earned=_d(row["earned"]),
                held=_d(row["held"]), deferred=_d(row["deferred"]), forfeited=_d(row["forfeited"]),
                bonus_malus=row["bonus_malus"], bonus=_d(row["bonus"]), malus=_d(row["malus"]),
                due=_d(row["due"]), invoiced_before=_d(row["invoiced_before"]),
                invoice_now=_d(row["invoice_now"]), kpis=tuple(krs), bonus_value=bonus_value))
    c = terms.contract
    ex = ExitResult("n/a")
    if c.exit_kpi:
        e_month = months.calendar_month(c.start_month, c.effective_exit_month)
        at = e_month if e_month <= period else period
        rd = by_key.get((c.exit_kpi, at))
        ex = ExitResult(exit_status, month=e_month, evaluated_month=at,
                        value=rd.value if rd else None, threshold=c.exit_threshold)
    return ContractResult(contract_id, "settled", c.currency, ex, tuple(out), terms)


def scenario(step: Path) -> dict:
    return json.loads((step / "scenario.json").read_text(encoding="utf-8"))
