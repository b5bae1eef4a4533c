"""``explain``: one contract month's settlement in words and numbers.

Two kinds of fixtures: results built by hand from the expected CSVs of the shared worked
examples (no engine involved), and results of the settlement engine on the same examples,
whose every amount must appear in the explanation exactly as the expected CSVs have it.
"""
from __future__ import annotations

import csv
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from perfsettle.outputs import formatting

from perfsettle.core import months
from perfsettle.outputs.explain import explain
from perfsettle.core.model import (Contract, ContractResult, ExitResult, Kpi, KpiResult, MonthResult,
                              Reading, Terms)
from builders import facts
from perfsettle.core.settle import settle

from conftest import EXAMPLES
PORTFOLIO = EXAMPLES / "portfolio-basic"
OPENING = EXAMPLES / "opening-balance"

pytestmark = pytest.mark.skipif(not PORTFOLIO.is_dir(), reason="shared worked examples not found")


# -- fixtures from the worked examples ------------------------------------------------------

def _d(x) -> Decimal | None:
    if x is None or x == "":
        return None
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(str(x))


def scenario(step: Path) -> dict:
    return json.loads((step / "scenario.json").read_text(encoding="utf-8"))


def load_terms(*scenarios: dict) -> dict[str, Terms]:
    contracts, kpis = {}, {}
    for sc in scenarios:
        for book in sc.values():
            for c in book.get("contracts", []):
                contracts[c["contract_id"]] = Contract(
                    contract_id=c["contract_id"], client=c["client"], provider=c["provider"],
                    company_size=c["company_size"], currency=c.get("currency", "EUR"),
                    start_month=c["start_month"], duration_months=c["duration_months"],
                    monthly_fee=_d(c["monthly_fee"]), variable_share=_d(c["variable_share"]),
                    requires_verified=c.get("requires_verified", False),
                    bonus_kpi=c.get("bonus_kpi"), bonus_target=_d(c.get("bonus_target")),
                    bonus_rate=_d(c.get("bonus_rate", "0.10")),
                    malus_rate=_d(c.get("malus_rate", "0.10")),
                    exit_kpi=c.get("exit_kpi"), exit_threshold=_d(c.get("exit_threshold")),
                    exit_month=c.get("exit_month"), mediator=c.get("mediator", ""),
                    contact_email=c.get("contact_email", ""), language=c.get("language", "fr"))
            for k in book.get("kpis", []):
                kpis.setdefault(k["contract_id"], {})[k["kpi_id"]] = Kpi(
                    contract_id=k["contract_id"], kpi_id=k["kpi_id"], name=k["name"],
                    category=k["category"], direction=k["direction"],
                    target_mode=k["target_mode"], target=_d(k["target"]), weight=_d(k["weight"]),
                    unit=k.get("unit", ""), baseline=_d(k.get("baseline")),
                    floor=_d(k.get("floor")), window_months=k.get("window_months", 1),
                    due_month=k.get("due_month"))
    return {cid: Terms(c, tuple(sorted(kpis.get(cid, {}).values(), key=lambda k: k.kpi_id)))
            for cid, c in contracts.items()}


def load_readings(*scenarios: dict) -> list[Reading]:
    latest: dict[tuple, Reading] = {}
    for sc in scenarios:
        for book in sc.values():
            for r in book.get("readings", []):
                rd = Reading(r["contract_id"], r["kpi_id"], r["month"], _d(r.get("value")),
                             r.get("status", "provisional"), r.get("comment", ""))
                latest[(rd.contract_id, rd.kpi_id, rd.month)] = rd
    return list(latest.values())


def expected(step: Path, name: str) -> list[dict]:
    with open(step / "expected" / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def hand_result(step: Path, contract_id: str, terms: Terms, readings: list[Reading],
                exit_result: ExitResult, exact: dict | None = None) -> ContractResult:
    """A ContractResult whose amounts are the expected CSV rows of ``step`` (no engine)."""
    exact = exact or {}
    c = terms.contract
    by_key = {(r.kpi_id, r.month): r for r in readings if r.contract_id == contract_id}
    kpi_rows: dict[str, list[dict]] = {}
    for row in expected(step, "kpi_results.csv"):
        if row["contract_id"] == contract_id:
            kpi_rows.setdefault(row["month"], []).append(row)
    out = []
    for row in expected(step, "settlement.csv"):
        if row["contract_id"] != contract_id:
            continue
        m = row["month"]
        krs = []
        for kr in kpi_rows.get(m, []):
            kpi = terms.kpi(kr["kpi_id"])
            n = months.contract_month(c.start_month, m)
            t = kpi.due_month if kpi.due_month and n < kpi.due_month else n
            window = tuple(months.calendar_month(c.start_month, i)
                           for i in range(max(1, t - kpi.window_months + 1), t + 1))
            deferred = kr["status"] == "deferred"
            att = exact.get((m, kr["kpi_id"]))
            if att is None and kr["attainment"] != "":
                att = Fraction(kr["attainment"])
            krs.append(KpiResult(
                contract_id=contract_id, month=m, kpi_id=kr["kpi_id"], status=kr["status"],
                value=_d(kr["value"]), target_level=_d(kr["target_level"]),
                floor_level=_d(kr["floor_level"]), attainment=att, pool_k=_d(kr["pool_k"]),
                earned_k=_d(kr["earned_k"]), forfeited_k=_d(kr["forfeited_k"]),
                held_k=_d(kr["held_k"]), deferred_k=_d(kr["deferred_k"]), **facts(kr["reason"]),
                evaluated_month=months.calendar_month(c.start_month, t),
                window=() if deferred else window))
        bonus = by_key.get((c.bonus_kpi, m)) if c.bonus_kpi else None
        out.append(MonthResult(
            contract_id=contract_id, month=m, currency=row["currency"], fee=_d(row["fee"]),
            fixed=_d(row["fixed"]), pool=_d(row["pool"]), earned=_d(row["earned"]),
            held=_d(row["held"]), deferred=_d(row["deferred"]), forfeited=_d(row["forfeited"]),
            bonus_malus=row["bonus_malus"], bonus=_d(row["bonus"]), malus=_d(row["malus"]),
            due=_d(row["due"]), invoiced_before=_d(row["invoiced_before"]),
            invoice_now=_d(row["invoice_now"]), kpis=tuple(krs),
            bonus_value=bonus.value if bonus else None))
    return ContractResult(contract_id, "settled", c.currency, exit_result, tuple(out), terms)


def plain(text: str) -> str:
    """Babel's no-break spaces as plain spaces, for matching."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.fixture(scope="module")
def step1():
    step = PORTFOLIO / "step-1"
    sc = scenario(step)
    return step, load_terms(sc), load_readings(sc)


@pytest.fixture(scope="module")
def pme_hand(step1):
    step, terms, readings = step1
    ex = ExitResult("exit_right", "2026-06", "2026-06", Decimal("0.68"), Decimal("0.7"))
    exact = {("2026-10", "detection"): Fraction(13, 14), ("2026-02", "detection"): Fraction(1, 14),
             ("2026-03", "detection"): Fraction(5, 14), ("2026-04", "detection"): Fraction(11, 14)}
    return hand_result(step, "C-PME-01", terms["C-PME-01"], readings, ex, exact), readings


@pytest.fixture(scope="module")
def eti_hand(step1):
    step, terms, readings = step1
    ex = ExitResult("ok", "2027-02", "2026-10", None, Decimal("0.8"), facts("2026-10 unverified")["problems"])
    return hand_result(step, "C-ETI-02", terms["C-ETI-02"], readings, ex), readings


# -- hand-built results ------------------------------------------------------------------------

def test_relative_target_linear_floor_bonus_and_exit_fr(pme_hand):
    result, readings = pme_hand
    text = plain(explain(result, "2026-10", "fr", readings=readings))
    assert "Contrat C-PME-01 — Boulangeries Martin SAS / Agence Lumen IA" in text
    assert "mois 10 du contrat sur 12" in text
    assert "Fixe = 10 000,00 € × (1 − 0,35) = 6 500,00 €" in text
    assert "Enveloppe variable = 10 000,00 € − 6 500,00 € = 3 500,00 €" in text
    assert "detection : 3 500,00 € × 0,4 = 1 400,00 €" in text
    assert "+15 % relatif sur la référence 0,7 → 0,7 × (1 + 0,15) = 0,805" in text
    assert "+5 % relatif sur la référence 0,7 → 0,7 × (1 + 0,05) = 0,735" in text
    assert "Atteinte = (0,8 − 0,735) / (0,805 − 0,735) = 13/14 ≈ 0,928571" in text
    assert "Acquis = 1 400,00 € × 13/14 = 1 300,00 €" in text
    assert "Perdu = 1 400,00 € − 1 300,00 € = 100,00 €" in text
    # −30 % of 120 h, lower is better, no floor.
    assert "-30 % relatif sur la référence 120 → 120 × (1 − 0,3) = 84 h" in text
    assert "82 ≤ 84 : au niveau de l'objectif ou mieux → atteinte 1" in text
    # Stability: 6-month window, the worst month counts.
    assert "Fenêtre évaluée : 2026-05 → 2026-10 (6 mois" in text
    assert "2026-08 : 0,989 (98,9 %) — vérifié" in text
    assert "Valeur retenue (la pire de la fenêtre) : 0,989 (98,9 %)" in text
    # Bonus-malus on profitability, 25 % threshold.
    assert "Indicateur roi (Rentabilité IA), seuil absolu 0,25 (25 %)" in text
    assert "bonus = 3 400,00 € × 0,1 = 340,00 €" in text
    assert "Dû = fixe + acquis + bonus − malus = 6 500,00 € + 3 400,00 € + 340,00 € − 0,00 € = 10 240,00 €" in text
    assert "= 10 000,00 € = honoraires ✓" in text
    assert "À facturer maintenant = 10 240,00 € − 0,00 € = 10 240,00 €" in text
    # Exit right at mid-term (default month 6), automation 68 % < 70 %.
    assert "mois de sortie 6 (par défaut : mi-parcours) = 2026-06" in text
    assert "droit de sortie (exit_right)" in text
    assert "Valeur évaluée en 2026-06 : 0,68 (68 %)" in text


def test_default_month_is_the_latest(pme_hand):
    result, _ = pme_hand
    assert explain(result, None, "fr") == explain(result, "2026-10", "fr")
    assert "2026-10 (octobre 2026)" in explain(result)


def test_month_after_the_last_settled_one_explains_the_last(pme_hand):
    result, _ = pme_hand
    text = explain(result, "2027-03", "en")
    assert "2027-03 is after this contract's last settled month: explaining 2026-10." in text
    assert "Month explained: 2026-10" in text


def test_month_forms_and_errors(pme_hand):
    result, _ = pme_hand
    assert explain(result, "05/2026", "en") == explain(result, "2026-05", "en")
    with pytest.raises(ValueError, match="not settled"):
        explain(result, "2025-12", "en")
    with pytest.raises(ValueError, match="language"):
        explain(result, None, "de")


def test_malus_and_none(pme_hand):
    result, _ = pme_hand
    text = plain(explain(result, "2026-01", "en"))
    assert "Value 0.05 (5%) strictly worse than 0.25 (25%) → malus = €1,050.00 × 0.1 = €105.00" in text
    assert "€6,500.00 + €1,050.00 + €0.00 − €105.00 = €7,445.00" in text
    text = plain(explain(result, "2026-06", "en"))
    assert "equal to the threshold → neither bonus nor malus (none)" in text


def test_held_disputed_names_the_mediator(pme_hand):
    result, readings = pme_hand
    text = plain(explain(result, "2026-09", "fr", readings=readings))
    assert "Statut : retenu — 2026-09 relevé contesté" in text
    assert "2026-09 : 0,84 (84 %) — contesté" in text
    assert "Médiateur prévu au contrat : Mme Durand (CMAP)" in text
    assert "acquis 2 100,00 € · retenu 1 400,00 € · différé 0,00 € · perdu 0,00 €" in text
    assert "bonus = 2 100,00 € × 0,1 = 210,00 €" in text


def test_points_target_deferred_and_held_en(eti_hand):
    result, readings = eti_hand
    text = plain(explain(result, "2026-10", "en", readings=readings))
    assert "Target: +20 points on the baseline 0.62 → 0.62 + 0.2 = 0.82 (82%)" in text
    assert "Floor: +10 points on the baseline 0.62 → 0.62 + 0.1 = 0.72 (72%)" in text
    assert "2026-10 reading not verified (the contract requires verified readings)" in text
    assert "Window evaluated: 2026-08 → 2026-10 (3 months; contract window 3 months)" in text
    assert "2026-09: no reading" in text
    assert "Status: held — 2026-09 reading missing." in text
    assert "+20% relative to the baseline 0.1 → 0.1 × (1 + 0.2) = 0.12 (12%)" in text
    assert "Status: deferred. This KPI is judged at its due month, contract month 9 (2026-11)" in text
    assert "Attainment = (7.5 − 6) / (8 − 6) = 0.75" in text
    assert "Earned = €5,062.50 × 0.75 = 3,796.875 → €3,796.88 (rounded once, half up)" in text
    assert "No bonus-malus in this contract (n/a)." in text
    assert "threshold 0.8 (80%), exit month 12 = 2027-02" in text
    assert "The evaluation at 2026-10 is not available (2026-10 reading not verified)" in text


def test_earned_is_rounded_once():
    """SPEC §3: pool_k 1500.06 × 7/12 = 875.035 exactly → 875.04, not 875.03."""
    c = Contract("C-R", "Client", "Agence", "PME", "EUR", "2026-01", 12, Decimal("4000.16"),
                 Decimal("0.75"))
    kpis = (Kpi("C-R", "a", "A", "operational", "higher", "absolute", Decimal(10), Decimal("0.5"),
                floor=Decimal(-2)),
            Kpi("C-R", "b", "B", "robustness", "higher", "absolute", Decimal(1), Decimal("0.5")))
    terms = Terms(c, kpis)
    readings = [Reading("C-R", "a", "2026-01", Decimal(5), "verified"),
                Reading("C-R", "b", "2026-01", Decimal(1), "verified")]
    (result,) = settle([terms], readings, {}, "2026-01")
    (m,) = result.months
    a = next(k for k in m.kpis if k.kpi_id == "a")
    assert (a.pool_k, a.attainment, a.earned_k) == (Decimal("1500.06"), Fraction(7, 12), Decimal("875.04"))
    text = plain(explain(result, None, "en"))
    assert "Attainment = (5 − (-2)) / (10 − (-2)) = 7/12 ≈ 0.583333" in text
    assert "Earned = €1,500.06 × 7/12 = 875.035 → €875.04 (rounded once, half up)" in text
    text = plain(explain(result, None, "fr"))
    assert "Acquis = 1 500,06 € × 7/12 = 875,035 → 875,04 €" in text


def test_largest_remainder_leftover_unit():
    c = Contract("C-L", "Client", "Agence", "GE", "EUR", "2026-01", 12, Decimal("100.03"),
                 Decimal("1"))
    kpis = (Kpi("C-L", "a", "A", "operational", "higher", "absolute", Decimal(1), Decimal("0.5")),
            Kpi("C-L", "b", "B", "robustness", "higher", "absolute", Decimal(1), Decimal("0.5")))
    readings = [Reading("C-L", k, "2026-01", Decimal(1), "verified") for k in ("a", "b")]
    (result,) = settle([Terms(c, kpis)], readings, {}, "2026-01")
    text = plain(explain(result, None, "en"))
    assert "a: €100.03 × 0.5 = 50.015 → €50.02 (gets a leftover unit)" in text
    assert "b: €100.03 × 0.5 = 50.015 → €50.01" in text
    assert "b: €100.03 × 0.5 = 50.015 → €50.01 (gets" not in text


def test_currency_without_minor_unit():
    c = Contract("C-J", "Client KK", "Agence", "ETI", "JPY", "2026-01", 12, Decimal("1000001"),
                 Decimal("0.45"))
    kpis = (Kpi("C-J", "a", "A", "operational", "higher", "absolute", Decimal(1), Decimal("0.6")),
            Kpi("C-J", "b", "B", "robustness", "higher", "absolute", Decimal(1), Decimal("0.4")))
    readings = [Reading("C-J", k, "2026-01", Decimal(1), "verified") for k in ("a", "b")]
    (result,) = settle([Terms(c, kpis)], readings, {}, "2026-01")
    (m,) = result.months
    text = plain(explain(result, None, "en"))
    assert m.fixed == Decimal("550001")
    fee, fixed = _jpy("1000001"), _jpy("550001")
    assert (f"Fixed = {fee} × (1 − 0.45) = 550,000.55, rounded half up to the currency's minor "
            f"unit = {fixed}") in text


def _jpy(amount: str) -> str:
    return plain(formatting.money(Decimal(amount), "JPY", "en"))


def test_not_started_and_excluded(step1):
    _, terms, _ = step1
    t = terms["C-TPE-03"]
    text = explain(ContractResult("C-TPE-03", "not_started", "EUR", ExitResult("n/a"), (), t),
                   None, "fr")
    assert "n'a pas encore commencé" in text and "Pas de clause de sortie" in text
    text = explain(ContractResult("C-TPE-03", "excluded", "EUR", ExitResult(""), (), t), None, "en")
    assert "excluded from the close" in text and "perfsettle check" in text


def test_out_of_term_month_is_credited_back(step1):
    _, terms, _ = step1
    t = terms["C-PME-01"]
    z = Decimal("0.00")
    m = MonthResult("C-PME-01", "2025-12", "EUR", z, z, z, z, z, z, z, "n/a", z, z, z,
                    Decimal("7445.00"), Decimal("-7445.00"), (), in_term=False)
    result = ContractResult("C-PME-01", "settled", "EUR", ExitResult("n/a"), (m,), t)
    text = plain(explain(result, "2025-12", "en"))
    assert "no longer belongs to the contract term" in text
    assert "Invoice now = 0 − €7,445.00 = -€7,445.00 (credit)" in text


# -- the settlement engine on the worked examples --------------------------------------------

def _money(amount: str, lang: str) -> str:
    return plain(formatting.money(Decimal(amount), "EUR", lang))


def _engine_steps():
    """(step folder, results) for portfolio-basic step 1 then step 2, ledger carried over."""
    sc1, sc2 = scenario(PORTFOLIO / "step-1"), scenario(PORTFOLIO / "step-2")
    terms = load_terms(sc1, sc2)
    r1 = settle(terms.values(), load_readings(sc1), {}, "2026-10")
    ledger = {(r.contract_id, m.month): m.invoice_now for r in r1 for m in r.months}
    readings2 = load_readings(sc1, sc2)
    r2 = settle(terms.values(), readings2, ledger, "2026-11")
    return [(PORTFOLIO / "step-1", r1, load_readings(sc1)), (PORTFOLIO / "step-2", r2, readings2)]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_month_of_the_examples_matches_the_expected_csv(lang):
    for step, results, readings in _engine_steps():
        settlement = expected(step, "settlement.csv")
        kpi_rows = expected(step, "kpi_results.csv")
        by_id = {r.contract_id: r for r in results}
        for row in settlement:
            text = plain(explain(by_id[row["contract_id"]], row["month"], lang, readings=readings))
            for name in ("fee", "fixed", "pool", "earned", "held", "deferred", "forfeited", "due",
                         "invoiced_before", "invoice_now"):
                assert _money(row[name], lang) in text, (step.name, row["contract_id"],
                                                         row["month"], name)
            for name in ("bonus", "malus"):
                if Decimal(row[name]):
                    assert _money(row[name], lang) in text
            for kr in kpi_rows:
                if (kr["contract_id"], kr["month"]) != (row["contract_id"], row["month"]):
                    continue
                assert _money(kr["pool_k"], lang) in text
                if kr["status"] == "earned":
                    assert _money(kr["earned_k"], lang) in text
                    six = kr["attainment"].replace(".", "," if lang == "fr" else ".")
                    assert six in text, (row["contract_id"], row["month"], kr["kpi_id"])
            assert ("✓" in text) and ("✗" not in text)


def test_adjustments_after_a_resolved_dispute_and_a_late_reading():
    (_, _, _), (step, results, readings) = _engine_steps()
    by_id = {r.contract_id: r for r in results}
    text = plain(explain(by_id["C-PME-01"], "2026-09", "en", readings=readings))
    assert "2026-09: 0.835 (83.5%) — verified" in text
    assert "Invoice now = €10,350.00 − €8,810.00 = €1,540.00 (top-up)" in text
    text = plain(explain(by_id["C-ETI-02"], "2026-03", "fr", readings=readings))
    assert "Jugé à son échéance (mois 9 du contrat, 2026-11)" in text
    assert "Acquis = 4 050,00 € × 1 = 4 050,00 €" in text
    assert "À facturer maintenant = 34 115,63 € − 30 065,63 € = 4 050,00 € (complément)" in text


def test_opening_balance_credit():
    step = OPENING / "step-1"
    sc = scenario(step)
    terms = load_terms(sc)
    opening = {(r["contract_id"], r["month"]): _d(r["amount"])
               for book in sc.values() for r in book.get("invoiced", [])}
    (result,) = settle(terms.values(), load_readings(sc), opening, "2026-04")
    text = plain(explain(result, "2026-01", "fr"))
    assert "Déjà facturé pour ce mois (clôtures précédentes et solde d'ouverture) : 9 000,00 €" in text
    assert "À facturer maintenant = 8 616,00 € − 9 000,00 € = -384,00 € (avoir)" in text


# -- the command line ------------------------------------------------------------------------

def test_cli_explain_after_a_close(ws, capsys):
    from perfsettle.cli import main

    ws.drop(*sorted((PORTFOLIO / "step-1" / "inbox").glob("*.xlsx")))
    assert ws.run("2026-10") == 0
    capsys.readouterr()
    code = main(["explain", "C-PME-01", "--store", str(ws.store), "--period", "2026-10"])
    out = plain(capsys.readouterr().out)
    assert code == 0
    assert "Contrat C-PME-01" in out and "2026-10 (octobre 2026)" in out
    assert "13/14 ≈ 0,928571" in out
    assert "À facturer maintenant = 10 240,00 € − 0,00 € = 10 240,00 €" in out


def test_examples_folder_is_complete():
    for step in (PORTFOLIO / "step-1", PORTFOLIO / "step-2", OPENING / "step-1"):
        assert (step / "scenario.json").is_file() and (step / "expected" / "settlement.csv").is_file()
