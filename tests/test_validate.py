"""The workbook rules of SPEC §2: each finding at its cell, with its code and scope."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import openpyxl
import pytest

from builders import contract, kpis, readings, workbook
from perfsettle.inputs.cells import parse_number_text, to_month
from perfsettle.inputs.reading import read_raw
from perfsettle.inputs.validation import check_run, parse_workbook


def check(path, stored_contracts=None, stored_kpis=None, period="2026-06"):
    wb = parse_workbook(path.name, read_raw(path))
    intake = check_run([wb], stored_contracts or {}, stored_kpis or {}, period)
    return intake, {(d.code, d.source.cell) for d in intake.diagnostics}


def codes(intake):
    return sorted(d.code for d in intake.diagnostics)


# --------------------------------------------------------------------------- cells

@pytest.mark.parametrize("text, value", [
    ("12,5", D("12.5")), ("12.5", D("12.5")), ("1 234,5", D("1234.5")), ("-0,25", D("-0.25")),
    ("40 %", D("0.4")), ("40%", D("0.4")), ("1\u202f234\u00a0567,25", D("1234567.25")), ("0,125", D("0.125")),
    ("1234,567", D("1234.567")),
])
def test_number_as_text_is_read_with_a_warning(text, value):
    d, problem = parse_number_text(text)
    assert d == value and problem.severity == "warning" and problem.code == "number-as-text"


@pytest.mark.parametrize("text, code", [("1,234", "number-ambiguous"), ("12.500", "number-ambiguous"),
                                        ("abc", "not-a-number"), ("12,5,3", "not-a-number"), ("", "not-a-number"),
                                        ("1 23,5", "not-a-number")])
def test_ambiguous_or_unreadable_text_is_an_error(text, code):
    d, problem = parse_number_text(text)
    assert d is None and (problem.severity, problem.code) == ("error", code)


@pytest.mark.parametrize("value, month", [(dt.date(2026, 3, 17), "2026-03"), ("2026-03", "2026-03"),
                                          ("03/2026", "2026-03"), (dt.datetime(2026, 3, 1, 10), "2026-03")])
def test_months_as_dates_or_text(value, month):
    assert to_month(value) == (month, None)


def test_a_number_is_not_a_month():
    assert to_month(46082.0)[1].code == "not-a-month"


# --------------------------------------------------------------------------- whole workbooks

def test_a_clean_workbook_has_no_finding(tmp_path):
    p = workbook(tmp_path / "ok.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    intake, found = check(p)
    assert found == set() and intake.outcomes == {"ok.xlsx": "accepted"}
    assert set(intake.contracts) == {"C1"} and len(intake.readings) == 2


def test_french_sheet_names_headers_and_values(tmp_path):
    fr = {
        "Contracts": ("Contrats", {"contract_id": "Contrat", "provider": "Prestataire", "company_size": "Taille",
                                   "currency": "Devise", "start_month": "Mois début", "duration_months": "Durée mois",
                                   "monthly_fee": "Honoraires mensuels", "variable_share": "Part variable",
                                   "requires_verified": "Vérification requise", "language": "Langue"}),
        "KPIs": ("Indicateurs", {"contract_id": "contrat", "kpi_id": "INDICATEUR", "name": "Libellé",
                                 "category": "Catégorie", "direction": "Sens", "baseline": "Référence",
                                 "target_mode": "Mode objectif", "target": "Objectif", "weight": "Poids"}),
        "Readings": ("Relevés", {"contract_id": "contrat", "kpi_id": "indicateur", "month": "mois",
                                 "value": "valeur", "status": "statut"}),
    }
    k = kpis()
    k[0].update(category="opérationnel", direction="hausse", target_mode="relatif")
    k[1].update(category="Robustesse", direction="HAUSSE", target_mode="absolu")
    r = readings(status="vérifié")
    p = workbook(tmp_path / "fr.xlsx", headers=fr, contracts=[contract(requires_verified="oui", language="FR")],
                 kpis=k, readings=r)
    intake, found = check(p)
    assert found == set()
    c, _ = intake.contracts["C1"]
    assert c.requires_verified is True and c.language == "fr"
    assert {r.status for r, _ in intake.readings.values()} == {"verified"}


def test_header_row_is_the_first_non_empty_row_and_extra_columns_are_ignored(tmp_path):
    p = workbook(tmp_path / "x.xlsx", contracts=[contract(notes="hello")], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(p)
    wb["KPIs"].insert_rows(1, 3)
    wb["KPIs"]["A2"] = None
    wb.save(p)
    intake, found = check(p)
    assert found == set() and len(intake.kpis) == 2


def test_findings_are_located_at_their_cell(tmp_path):
    k = kpis()
    k[0]["weight"] = "soixante"
    p = workbook(tmp_path / "w.xlsx", contracts=[contract()], kpis=k, readings=readings())
    intake, found = check(p)
    # KPIs columns: contract_id A, kpi_id B, ... weight is the 11th column (K); first KPI row is 2.
    assert ("not-a-number", "KPIs!K2") in found
    assert intake.excluded == {"C1"} and intake.outcomes["w.xlsx"] == "rejected"


def test_an_error_excludes_only_its_contract(tmp_path):
    bad = kpis("C2")
    bad[1]["weight"] = 0.5   # 0.6 + 0.5 != 1
    p = workbook(tmp_path / "two.xlsx", contracts=[contract(), contract(contract_id="C2")],
                 kpis=kpis() + bad, readings=readings() + readings("C2"))
    intake, found = check(p)
    assert ("weights-sum", "KPIs!K4") in found
    assert intake.excluded == {"C2"} and set(intake.contracts) == {"C1"}
    assert intake.outcomes["two.xlsx"] == "partially_accepted"
    assert not any(k[0] == "C2" for k in intake.readings)


@pytest.mark.parametrize("change, code, cell", [
    ({"target": -0.15}, "target-direction", "KPIs!I2"),
    ({"target": 0}, "target-direction", "KPIs!I2"),
    ({"baseline": None}, "required", "KPIs!G2"),
    ({"baseline": 0}, "baseline-out-of-range", "KPIs!G2"),
    ({"floor": 0.2}, "floor-not-worse", "KPIs!J2"),
    ({"direction": "sideways"}, "bad-value", "KPIs!E2"),
    ({"window_months": 0}, "window-out-of-range", "KPIs!L2"),
    ({"due_month": 13}, "due-month-after-term", "KPIs!M2"),
])
def test_kpi_rules(tmp_path, change, code, cell):
    k = kpis()
    k[0].update(change)
    p = workbook(tmp_path / "k.xlsx", contracts=[contract()], kpis=k, readings=readings())
    intake, found = check(p)
    assert (code, cell) in found and intake.excluded == {"C1"}


@pytest.mark.parametrize("change, code, cell", [
    ({"variable_share": 0}, "share-out-of-range", "Contracts!I2"),
    ({"variable_share": 35}, "percent-scale", "Contracts!I2"),
    ({"duration_months": 121}, "duration-out-of-range", "Contracts!G2"),
    ({"monthly_fee": 100.005}, "money-digits", "Contracts!H2"),
    ({"currency": "JPY", "monthly_fee": 100.5}, "money-digits", "Contracts!H2"),
    ({"currency": "EURO"}, "bad-currency", "Contracts!E2"),
    ({"company_size": "XL"}, "bad-value", "Contracts!D2"),
    ({"bonus_kpi": "detection"}, "required", "Contracts!L2"),
    ({"exit_kpi": "nope", "exit_threshold": 0.7}, "unknown-kpi", "Contracts!O2"),
    ({"contract_id": "../../etc/passwd"}, "bad-id", "Contracts!A2"),
    ({"start_month": "mars"}, "not-a-month", "Contracts!F2"),
])
def test_contract_rules(tmp_path, change, code, cell):
    p = workbook(tmp_path / "c.xlsx", contracts=[contract(**change)], kpis=kpis(), readings=readings())
    intake, found = check(p)
    assert (code, cell) in found, sorted(found)
    assert intake.outcomes["c.xlsx"] in ("rejected", "partially_accepted")


@pytest.mark.parametrize("email", ["a@b.example\r\nBcc: x@y.example", "compta@", "finance@martin.example, nobody"])
def test_a_malformed_contact_email_is_a_warning_and_the_contract_is_settled(tmp_path, email):
    p = workbook(tmp_path / "c.xlsx", contracts=[contract(contact_email=email)], kpis=kpis(), readings=readings())
    intake, found = check(p)
    assert ("bad-email", "Contracts!S2") in found
    assert intake.excluded == set() and intake.outcomes["c.xlsx"] == "accepted"
    [(terms, _src)] = intake.contracts.values()
    assert terms.contact_email == ""          # never e-mailed to a part of a malformed cell


def test_warnings_do_not_exclude(tmp_path):
    k = kpis()
    k[1]["category"] = "operational"
    r = readings(months=("2026-01", "2027-02"))
    p = workbook(tmp_path / "w.xlsx", contracts=[contract(variable_share=0.5)], kpis=k, readings=r)
    intake, found = check(p)
    assert {c for c, _ in found} == {"share-band", "no-robustness", "month-outside-term", "month-after-period"}
    assert intake.excluded == set() and intake.outcomes["w.xlsx"] == "accepted"


def test_duplicates_and_unknown_references(tmp_path):
    r = readings() + readings()[:1] + [{"contract_id": "C1", "kpi_id": "ghost", "month": "2026-01", "value": 1},
                                       {"contract_id": "C9", "kpi_id": "x", "month": "2026-01", "value": 1}]
    p = workbook(tmp_path / "d.xlsx", contracts=[contract()], kpis=kpis(), readings=r)
    intake, found = check(p)
    assert ("duplicate", "Readings!C4") in found
    assert ("unknown-kpi", "Readings!B5") in found
    assert ("unknown-contract", "Readings!A6") in found


def test_kpi_count_and_robustness_on_the_contract_as_it_will_stand(tmp_path):
    stored = parse_workbook("s.xlsx", read_raw(workbook(tmp_path / "s.xlsx", contracts=[contract()], kpis=kpis())))
    base = check_run([stored], {}, {}, "2026-06")
    stored_contracts = {cid: c for cid, (c, _) in base.contracts.items()}
    stored_kpis = {"C1": {kid: k for (_, kid), (k, _) in base.kpis.items()}}
    # Retiring the robustness KPI (weight 0) and moving its weight leaves one paying KPI.
    change = [dict(kpis()[0], weight=1), dict(kpis()[1], weight=0)]
    p = workbook(tmp_path / "c.xlsx", kpis=change)
    intake, found = check(p, stored_contracts, stored_kpis)
    assert "kpi-count" in codes(intake) and "no-robustness" in codes(intake)
    # Readings only, for a stored contract: accepted.
    p2 = workbook(tmp_path / "r.xlsx", readings=readings(months=("2026-02",)))
    intake2, found2 = check(p2, stored_contracts, stored_kpis)
    assert found2 == set() and intake2.outcomes["r.xlsx"] == "accepted"


def test_missing_required_column_rejects_the_workbook(tmp_path):
    p = workbook(tmp_path / "m.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(p)
    wb["KPIs"].delete_cols(11)  # weight
    wb.save(p)
    intake, found = check(p)
    assert ("column-missing", "KPIs!1:1") in found
    assert intake.outcomes["m.xlsx"] == "rejected" and intake.contracts == {}


def test_a_row_without_contract_id_rejects_the_workbook_and_a_blank_kpi_id_excludes_its_contract(tmp_path):
    """SPEC §2: an error that belongs to no contract rejects the whole workbook. A merged
    contract_id keeps its value in the first row only: the others belong to no contract."""
    rows = readings(months=("2026-01", "2026-02"))
    p = workbook(tmp_path / "m.xlsx", contracts=[contract()], kpis=kpis(), readings=rows)
    wb = openpyxl.load_workbook(p)
    wb["Readings"].merge_cells("A2:A5")
    wb.save(p)
    intake, found = check(p)
    assert {cell for code, cell in found if code == "row-without-contract"} == {"Readings!A3", "Readings!A4",
                                                                               "Readings!A5"}
    assert intake.outcomes["m.xlsx"] == "rejected"
    assert intake.contracts == {} and intake.kpis == {} and intake.readings == {}
    [d] = [d for d in intake.diagnostics if d.source.cell == "Readings!A3"]
    assert d.message_fr.startswith("cette ligne a des valeurs mais pas de contract_id")

    p = workbook(tmp_path / "k.xlsx", contracts=[contract()], kpis=kpis(), readings=rows)
    wb = openpyxl.load_workbook(p)
    wb["Readings"].merge_cells("B2:B3")
    wb.save(p)
    intake, found = check(p)
    assert ("required", "Readings!B3") in found and "row-without-contract" not in codes(intake)
    assert intake.outcomes["k.xlsx"] == "rejected" and intake.excluded == {"C1"}   # its only contract


def test_an_empty_input_sheet_is_said_and_the_rest_is_read(tmp_path):
    p = workbook(tmp_path / "e.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(p)
    wb.create_sheet("Invoiced")
    wb.save(p)
    intake, found = check(p)
    assert found == {("sheet-empty", "Invoiced")}
    [d] = [d for d in intake.diagnostics if d.code == "sheet-empty"]
    assert not d.is_error and d.message_fr == "la feuille « Invoiced » est vide : rien n'y a été lu"
    assert intake.outcomes["e.xlsx"] == "accepted" and set(intake.contracts) == {"C1"}


def test_formula_without_cached_value_and_error_cells_are_reported_not_read_as_blank(tmp_path):
    p = workbook(tmp_path / "f.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(p)
    wb["Readings"]["D2"] = "=0.5+0.3"
    wb["Readings"]["D3"] = "#N/A"
    wb.save(p)
    intake, found = check(p)
    assert ("formula-no-value", "Readings!D2") in found
    assert ("error-cell", "Readings!D3") in found


def test_void_needs_no_value_and_other_statuses_do(tmp_path):
    r = readings()
    r[0].update(value=None, status="annulé")
    r[1].update(value=None, status="verified")
    p = workbook(tmp_path / "v.xlsx", contracts=[contract()], kpis=kpis(), readings=r)
    intake, found = check(p)
    assert found == {("required", "Readings!D3")}


def test_every_finding_of_a_contract_comes_at_once(tmp_path):
    k = kpis()
    k[0]["target"] = -0.15          # wrong sign for a higher-is-better relative KPI
    k[1]["weight"] = 0.5            # 0.6 + 0.5
    p = workbook(tmp_path / "all.xlsx", contracts=[contract(exit_kpi="ghost", exit_threshold=0.7)], kpis=k)
    intake, found = check(p)
    assert {("target-direction", "KPIs!I2"), ("weights-sum", "KPIs!K2"), ("unknown-kpi", "Contracts!O2")} <= found


def test_contract_rules_wait_for_an_unreadable_weight(tmp_path):
    k = kpis()
    k[1]["weight"] = "beaucoup"
    p = workbook(tmp_path / "w.xlsx", contracts=[contract()], kpis=k)
    intake, found = check(p)
    assert ("not-a-number", "KPIs!K3") in found
    assert not {code for code, _ in found} & {"weights-sum", "kpi-count", "no-robustness"}


def test_contact_emails_with_display_names_are_accepted(tmp_path):
    p = workbook(tmp_path / "e.xlsx", contracts=[contract(contact_email="Jean Dupont <jean@client.example>; daf@client.example")],
                 kpis=kpis(), readings=readings())
    intake, found = check(p)
    assert found == set()
    assert intake.contracts["C1"][0].contact_email == "Jean Dupont <jean@client.example>, daf@client.example"


# --------------------------------------------------------------------------- clause options, Amendments, Events

def amendment(field, value, month="2026-04", kpi_id=None, cid="C1", reason="Avenant 1"):
    return {"contract_id": cid, "kpi_id": kpi_id, "field": field, "value": value, "effective_month": month,
            "reason": reason}


def test_clause_options_are_read_in_french_with_their_french_values(tmp_path):
    c = contract(base_bonus="part_variable", periodicite_bonus=3, tolerance_bonus=0.01, delai_sortie=2,
                 delai_blocage=2, issue_reputee="atteint")
    k = kpis()
    k[0].update(agregation="moyenne", window_months=3, couverture_min=2, rattrapage_mois=2)
    k[1].update(echecs_repetes=2, fenetre_echecs=3, agregation="pire")
    p = workbook(tmp_path / "o.xlsx", contracts=[c], kpis=k)
    intake, found = check(p)
    assert found == set()
    got, _ = intake.contracts["C1"]
    assert (got.bonus_base, got.bonus_every, got.bonus_band, got.exit_window_months, got.hold_limit_months,
            got.deemed_outcome) == ("pool", 3, D("0.01"), 2, 2, "met")
    det, _ = intake.kpis[("C1", "detection")]
    sta, _ = intake.kpis[("C1", "stability")]
    assert (det.window_agg, det.window_months, det.min_coverage, det.earnback_months) == ("mean", 3, 2, 2)
    assert (sta.window_agg, sta.chronic_misses, sta.chronic_months) == ("worst", 2, 3)


def test_bad_clause_options_are_errors_at_their_cells(tmp_path):
    c = contract(bonus_every=0, deemed_outcome="peut-être", hold_limit_months="deux")
    k = kpis()
    k[0].update(window_months=2, min_coverage=3)
    k[1].update(chronic_misses=2)
    k2 = kpis("C2")
    k2[0].update(window_agg="médiane")
    p = workbook(tmp_path / "b.xlsx", contracts=[c, contract(contract_id="C2"), contract(contract_id="C3")],
                 kpis=k + k2 + kpis("C3"))
    intake, found = check(p)
    # Contracts: bonus_every U, deemed_outcome V, hold_limit_months W; KPIs: min_coverage N,
    # chronic_misses O, window_agg P (extra columns in the order of first use).
    assert {("bonus-every-out-of-range", "Contracts!U2"), ("bad-value", "Contracts!V2"), ("not-a-number", "Contracts!W2"),
            ("coverage-over-window", "KPIs!N2"), ("chronic-pair", "KPIs!O3"), ("bad-value", "KPIs!P4")} <= found
    assert intake.excluded == {"C1", "C2"} and set(intake.contracts) == {"C3"}      # the batch goes on


def test_amendments_are_read_with_the_rule_of_their_field_in_english_or_french(tmp_path):
    rows = [amendment("honoraires", 12000), amendment("objectif", "20 %", kpi_id="detection"),
            amendment("floor", None, kpi_id="stability", month="2026-05"),
            amendment("requires_verified", "oui", month="2026-06")]
    p = workbook(tmp_path / "a.xlsx", headers={"Amendments": ("Avenants", {"field": "champ", "value": "valeur",
                                                                            "effective_month": "mois_effet"})},
                 contracts=[contract()], kpis=kpis(), amendments=rows)
    intake, found = check(p)
    assert found == {("number-as-text", "Avenants!D3")}
    got = {k: a for k, (a, _) in intake.amendments.items()}
    assert got[("C1", "", "monthly_fee", "2026-04")].value == D("12000")
    assert got[("C1", "detection", "target", "2026-04")].value == D("0.2")
    assert got[("C1", "stability", "floor", "2026-05")].value is None        # blank clears
    assert got[("C1", "", "requires_verified", "2026-06")].value is True


def test_bad_amendments_are_errors_at_their_cells_and_exclude_their_contract(tmp_path):
    rows = [amendment("duration_months", 24),                                    # not amendable
            amendment("target", 0.2, kpi_id="ghost"),                            # unknown KPI
            amendment("monthly_fee", 11000, month="2027-03"),                    # after the term
            amendment("monthly_fee", "beaucoup", month="2026-05"),               # wrong type
            amendment("monthly_fee", 12000), amendment("honoraires", 13000),     # duplicate key
            amendment("weight", 0.9, kpi_id="detection", cid="C2"),              # weights 0.9 + 0.4
            amendment("monthly_fee", 9000, cid="C3", reason="ok")]
    p = workbook(tmp_path / "bad.xlsx", contracts=[contract(), contract(contract_id="C2"), contract(contract_id="C3")],
                 kpis=kpis() + kpis("C2") + kpis("C3"), amendments=rows)
    intake, found = check(p)
    assert {("amendment-field", "Amendments!C2"), ("unknown-kpi", "Amendments!B3"),
            ("amendment-outside-term", "Amendments!E4"), ("not-a-number", "Amendments!D5"),
            ("duplicate", "Amendments!E7"), ("amended-terms-invalid", "Amendments!D8")} <= found
    field = next(d for d in intake.diagnostics if d.code == "amendment-field")
    assert "monthly_fee" in field.message and "window_months" in field.message and field.message_fr
    assert intake.excluded == {"C1", "C2"}
    assert set(intake.contracts) == {"C3"} and {k[0] for k in intake.amendments} == {"C3"}


def test_void_withdraws_an_amendment_and_a_blank_month_an_event(tmp_path):
    p = workbook(tmp_path / "v.xlsx", contracts=[contract()], kpis=kpis(),
                 amendments=[amendment("monthly_fee", "annulé")],
                 events=[{"contract_id": "C1", "event": "résilié", "month": None}])
    intake, found = check(p)
    assert found == set()
    assert intake.amendments[("C1", "", "monthly_fee", "2026-04")][0] is None
    assert intake.events[("C1", "terminated")][0] is None


def test_bad_events_are_errors_at_their_cells(tmp_path):
    ev = [{"contract_id": "C1", "event": "terminated", "month": "2025-12"},      # before the start
          {"contract_id": "C9", "event": "terminated", "month": "2026-05"},      # unknown contract
          {"contract_id": "C2", "event": "suspendu", "month": "2026-05"},        # unknown event
          {"contract_id": "C3", "event": "terminated", "month": "2026-05", "reason": "mutual"},
          {"contract_id": "C3", "event": "resilie", "month": "2026-06"}]         # duplicate key
    p = workbook(tmp_path / "e.xlsx", contracts=[contract(), contract(contract_id="C2"), contract(contract_id="C3")],
                 kpis=kpis() + kpis("C2") + kpis("C3"), events=ev)
    intake, found = check(p)
    assert {("termination-before-start", "Events!C2"), ("unknown-contract", "Events!A3"),
            ("bad-value", "Events!B4"), ("duplicate", "Events!B6")} <= found
    assert {"C1", "C2", "C3"} <= intake.excluded


def test_a_changed_term_of_an_invoiced_contract_warns_that_it_restates_the_invoiced_months(tmp_path):
    stored = parse_workbook("s.xlsx", read_raw(workbook(tmp_path / "s.xlsx", contracts=[contract()], kpis=kpis())))
    base = check_run([stored], {}, {}, "2026-06")
    stored_contracts = {cid: c for cid, (c, _) in base.contracts.items()}
    stored_kpis = {"C1": {kid: k for (_, kid), (k, _) in base.kpis.items()}}
    k = kpis()
    k[0]["name"] = "Détection des fraudes"       # not in the arithmetic: no warning
    k[1]["target"] = 0.97
    p = workbook(tmp_path / "c.xlsx", contracts=[contract(monthly_fee=11000, client="Autre SA")], kpis=k)
    wb = parse_workbook(p.name, read_raw(p))
    intake = check_run([wb], stored_contracts, stored_kpis, "2026-06",
                       invoiced={"C1": ["2026-01", "2026-02", "2026-03"]})
    found = {(d.code, d.source.cell) for d in intake.diagnostics}
    assert found == {("terms-restated", "Contracts!H2"), ("terms-restated", "KPIs!I3")}
    d = next(d for d in intake.diagnostics if d.source.cell == "Contracts!H2")
    assert d.severity == "warning" and "2026-01..2026-03" in d.message and "Amendments" in d.message
    assert "Avenants" in d.message_fr
    quiet = check_run([parse_workbook(p.name, read_raw(p))], stored_contracts, stored_kpis, "2026-06")
    assert not quiet.diagnostics                   # never invoiced: a plain correction


def test_an_amendment_that_leaves_no_robustness_kpi_is_warned_at_its_cells(tmp_path):
    k = kpis() + [{"contract_id": "C1", "kpi_id": "manual", "name": "Temps manuel", "category": "operational",
                   "direction": "lower", "unit": "h", "target_mode": "absolute", "target": 10, "weight": 0}]
    rows = [amendment("weight", 0, kpi_id="stability", month="2026-05"),
            amendment("weight", 0.4, kpi_id="manual", month="2026-05")]
    p = workbook(tmp_path / "r.xlsx", contracts=[contract()], kpis=k, amendments=rows)
    intake, found = check(p)
    warned = {cell for code, cell in found if code == "no-robustness"}
    assert warned and all(cell.startswith("Amendments!") for cell in warned)
    assert not intake.excluded and set(intake.contracts) == {"C1"}      # a warning: the contract is settled


# --------------------------------------------------------------------------- while the reader reads

def test_the_validation_is_made_ready_while_the_reader_process_reads(tmp_path):
    """``meanwhile`` runs once, in this process, while the child reads; what is read is the same."""
    from conftest import REPO
    from perfsettle.inputs import preflight, validation
    src = REPO / "samples" / "2026-10-girard-opening-balance.xlsx"
    calls = []
    raw, found = preflight.safe_read(src, meanwhile=lambda: calls.append("loading"))
    plain, _ = preflight.safe_read(src)
    assert calls == ["loading"] and found == [] and raw == plain
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    assert preflight.safe_read(junk, meanwhile=lambda: calls.append("junk"))[0] is None
    assert calls == ["loading"]          # refused before any reader starts: nothing to overlap
    validation.prepare()
    validation.prepare()                 # once per process
    assert validation._schemas.cache_info().currsize == 1


def test_values_are_checked_the_same_after_the_validation_was_made_ready(tmp_path):
    from perfsettle.inputs import validation
    path = workbook(tmp_path / "a.xlsx", contracts=[contract(duration_months=500), contract(contract_id="C2")],
                    kpis=kpis() + kpis() + kpis("C2"), readings=readings() + readings(detection="x"))
    validation._schemas.cache_clear()
    lazily = check(path)[1]                # the schemas built at the first check
    validation._schemas.cache_clear()
    validation.prepare()
    assert check(path)[1] == lazily
    assert {("duplicate", "KPIs!B4"), ("duration-out-of-range", "Contracts!G2")} <= lazily


def test_an_intake_loads_the_validation_while_its_last_workbook_is_read(tmp_path, monkeypatch):
    """Loaded earlier, pandas would make each following reader process slower to fork."""
    from perfsettle import pipeline
    from perfsettle.config import Settings
    from perfsettle.inputs import validation
    calls = []
    monkeypatch.setattr(validation, "prepare", lambda: calls.append("prepare"))
    path = workbook(tmp_path / "a.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    assert pipeline.read_workbook(path, Settings(), last=False)[0] is not None and calls == []
    assert pipeline.read_workbook(path, Settings(), last=True)[0] is not None and calls == ["prepare"]
