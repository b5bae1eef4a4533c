"""Annotated copies of input workbooks and the close workbook, read back with openpyxl."""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import openpyxl
import pytest
import python_calamine
import xlsxwriter

from conftest import EXAMPLES
from builders import facts
from perfsettle.core import schema
from perfsettle.outputs.annotate import (AMBER, MARK, RED, SHEETS, UnreadableWorkbook,
                                 write_annotated, write_close_workbook)
from perfsettle.core.model import (CloseReport, Contract, ContractResult, Diagnostic, ExitResult, Kpi,
                              KpiResult, MonthResult, ReadingChange, Source, Terms)

INJECTION = '=HYPERLINK("http://x","y")'
JUN, SEP, OCT = (dt.datetime(2026, m, 1) for m in (6, 9, 10))     # months are dates shown as months
D = Decimal


# ------------------------------------------------------------------ fixtures

def make_input(path: Path, *, vba: bool = False) -> Path:
    """A realistic input: styled headers, widths, dates, a formula with its cached value,
    a cached error, a client that looks like a formula, an extra sheet."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    head = book.add_format({"bold": True, "bg_color": "#4F81BD", "font_color": "#FFFFFF"})
    month = book.add_format({"num_format": "yyyy-mm"})
    ws = book.add_worksheet("Contracts")
    headers = ["contract_id", "client", "provider", "company_size", "currency", "start_month",
               "duration_months", "monthly_fee", "variable_share", "exit_kpi", "exit_threshold"]
    ws.write_row(0, 0, headers, head)
    ws.set_column(1, 1, 34)
    ws.write_row(1, 0, ["C-PME-01", "Boulangeries Martin SAS", "Agence Lumen IA", "PME", "EUR"])
    ws.write_datetime(1, 5, dt.datetime(2026, 1, 1), month)
    ws.write_number(1, 6, 12)
    ws.write_formula(1, 7, "=5000*2", None, 10000)
    ws.write_row(1, 8, [0.35, "automation", 0.7])
    ws.write_row(2, 0, ["C-JP-02"])
    ws.write_string(2, 1, INJECTION)
    ws.write_row(2, 2, ["Tokyo AI KK", "GE", "JPY"])
    ws.write_datetime(2, 5, dt.datetime(2026, 9, 1), month)
    ws.write_row(2, 6, [6, 1200000, 0.4])
    ws = book.add_worksheet("KPIs")
    ws.write_row(0, 0, ["contract_id", "kpi_id", "name", "category", "direction", "target_mode",
                        "target", "weight"], head)
    ws.write_row(1, 0, ["C-PME-01", "detection", "Taux de détection", "operational", "higher",
                        "absolute", 0.8, 0.6])
    ws.write_row(2, 0, ["C-PME-01", "stability", "Stabilité", "robustness", "higher",
                        "absolute", 0.98, 0.3])
    ws = book.add_worksheet("Readings")
    ws.write_row(0, 0, ["contract_id", "kpi_id", "month", "value", "status", "comment"], head)
    for i, (kpi, value, status) in enumerate([("detection", 0.81, "verified"),
                                              ("stability", 0.99, "disputed"),
                                              ("detection", "12,5", "provisional")], 1):
        ws.write_row(i, 0, ["C-PME-01", kpi])
        ws.write_datetime(i, 2, dt.datetime(2026, 10, 1), month)
        ws.write(i, 3, value)
        ws.write(i, 4, status)
    ws.write_formula(3, 5, "=1/0", None, "#DIV/0!")
    notes = book.add_worksheet("Notes")
    notes.write(0, 0, "Free notes are kept")
    if vba:
        bin_path = path.with_name("vbaProject.bin")
        bin_path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
        book.add_vba_project(str(bin_path))
    book.close()
    return path


def diagnostics() -> list[Diagnostic]:
    return [
        Diagnostic("weights-sum", "error", "KPI weights sum to 0.9, not 1",
                   Source("in.xlsx", "KPIs", 3, "H", "weight"), "C-PME-01",
                   "Les poids des indicateurs font 0,9 et non 1"),
        Diagnostic("number-as-text", "warning", "number stored as text",
                   Source("in.xlsx", "Readings", 4, "D", "value"), "C-PME-01",
                   "nombre saisi comme texte"),
        Diagnostic("not-a-number", "error", "'12,5' is ambiguous",
                   Source("in.xlsx", "Readings", 4, "D", "value"), "C-PME-01", ""),
        Diagnostic("share-band", "warning", "variable share outside the usual band",
                   Source("in.xlsx", "Contracts", 2, "I", "variable_share"), "C-PME-01",
                   "part variable hors de la fourchette usuelle"),
        Diagnostic("duplicate-reading", "error", "duplicate reading",
                   Source("in.xlsx", "Readings", 2), "C-PME-01", "relevé en double"),
        Diagnostic("unknown-sheet", "warning", "workbook has no Invoiced sheet",
                   Source("in.xlsx"), None, "pas de feuille Deja_facture"),
    ]


def kpi_result(contract, month, kpi_id, status, *, value=None, attainment=None, pool="1000.00",
               earned="0.00", held="0.00", deferred="0.00", forfeited="0.00", reason="",
               target="0.8", floor=None):
    return KpiResult(contract, month, kpi_id, status, None if value is None else D(value),
                     D(target), None if floor is None else D(floor), attainment, D(pool),
                     D(earned), D(forfeited), D(held), D(deferred), facts(reason)["problems"], month, (month,))


def month_result(contract, month, currency, *, invoiced_before="0", invoice_now=None, kpis=(),
                 due="8500.00", bonus_malus="n/a", in_term=True, **amounts):
    values = {"fee": "10000.00", "fixed": "6500.00", "pool": "3500.00", "earned": "2000.00",
              "held": "1000.00", "deferred": "0.00", "forfeited": "500.00", "bonus": "0.00",
              "malus": "0.00"}
    values.update(amounts)
    now = D(due) - D(invoiced_before) if invoice_now is None else D(invoice_now)
    return MonthResult(contract, month, currency, *(D(values[k]) for k in (
        "fee", "fixed", "pool", "earned", "held", "deferred", "forfeited")),
        bonus_malus, D(values["bonus"]), D(values["malus"]), D(due), D(invoiced_before), now,
        tuple(kpis), None, facts("2026-10 missing")["problems"] if bonus_malus == "held" else (), in_term)


def results() -> list[ContractResult]:
    contract = Contract("C-PME-01", INJECTION, "Agence Lumen IA", "PME", "EUR", "2026-01", 12,
                        D("10000"), D("0.35"), exit_kpi="detection", exit_threshold=D("0.7"))
    kpis = (Kpi("C-PME-01", "detection", "=SUM(A1:A9)", "operational", "higher", "absolute",
                D("0.8"), D("0.6"), floor=D("0.5")),
            Kpi("C-PME-01", "stability", "Stabilité", "robustness", "higher", "absolute",
                D("0.98"), D("0.4")))
    pme = ContractResult(
        "C-PME-01", "settled", "EUR",
        ExitResult("exit_right", "2026-06", "2026-06", D("0.62"), D("0.7")),
        (month_result("C-PME-01", "2026-09", "EUR", invoiced_before="8000.00", due="8500.00",
                      kpis=[kpi_result("C-PME-01", "2026-09", "detection", "earned",
                                       value="0.71", attainment=Fraction(7, 10), earned="700.00",
                                       forfeited="300.00", floor="0.5")]),
         month_result("C-PME-01", "2026-10", "EUR", bonus_malus="held", kpis=[
             kpi_result("C-PME-01", "2026-10", "detection", "earned", value="0.81",
                        attainment=Fraction(1), earned="1000.00", floor="0.5"),
             kpi_result("C-PME-01", "2026-10", "stability", "held", held="1000.00",
                        reason="2026-10 disputed", target="0.98")])),
        Terms(contract, kpis))
    jp = ContractResult(
        "C-JP-02", "settled", "JPY", ExitResult("n/a"),
        (month_result("C-JP-02", "2026-10", "JPY", fee="1200000", fixed="720000",
                      pool="480000", earned="480000", held="0", forfeited="0", due="1200000"),))
    return [pme, jp]


def cell_values(path: Path, sheet: str) -> dict[tuple[int, int], object]:
    """Non-empty values of a sheet as python-calamine reads them (what intake sees)."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    return {(r, c): v for r, row in enumerate(rows) for c, v in enumerate(row) if v != ""}


def table(ws) -> list[tuple]:
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


@pytest.fixture
def src(tmp_path) -> Path:
    return make_input(tmp_path / "in.xlsx")


# ------------------------------------------------------------------ annotations

def test_comments_and_fills_at_the_cells(src, tmp_path):
    out = write_annotated(src, tmp_path / "out" / "in.xlsx", diagnostics(), results())
    wb = openpyxl.load_workbook(out)

    weights = wb["KPIs"]["H3"]
    assert weights.comment.text == f"{MARK}\nERREUR [weights-sum] Les poids des indicateurs font 0,9 et non 1"
    assert weights.fill.fgColor.rgb == RED

    share = wb["Contracts"]["I2"]
    assert "AVERTISSEMENT [share-band] part variable hors de la fourchette usuelle" in share.comment.text
    assert share.fill.fgColor.rgb == AMBER

    # An error and a warning on one cell: one comment, error first, and the error's fill;
    # an empty message_fr falls back to the English text.
    both = wb["Readings"]["D4"]
    assert both.comment.text.splitlines() == [
        MARK, "ERREUR [not-a-number] '12,5' is ambiguous",
        "AVERTISSEMENT [number-as-text] nombre saisi comme texte"]
    assert both.fill.fgColor.rgb == RED

    row_level = wb["Readings"]["A2"]   # a finding about a whole row sits on its first cell
    assert "[duplicate-reading] relevé en double" in row_level.comment.text
    assert row_level.fill.fgColor.rgb == RED

    untouched = wb["Readings"]["B2"]
    assert untouched.comment is None and untouched.fill.fgColor.rgb != RED


def test_english_messages(src, tmp_path):
    out = write_annotated(src, tmp_path / "in.xlsx", diagnostics(), results(), lang="en")
    wb = openpyxl.load_workbook(out)
    assert wb["KPIs"]["H3"].comment.text.endswith("ERROR [weights-sum] KPI weights sum to 0.9, not 1")
    assert {"Issues", "Settlement", "KPI results", "Flags"} <= set(wb.sheetnames)


def test_issues_sheet_lists_every_finding_with_links(src, tmp_path):
    out = write_annotated(src, tmp_path / "in.xlsx", diagnostics(), results())
    wb = openpyxl.load_workbook(out)
    ws = wb["Anomalies"]
    rows = table(ws)
    assert rows[0] == ("gravité", "code", "cellule", "contrat", "message")
    # errors first (the file-level one before cell ones), then by sheet order, row, column
    assert [r[:3] for r in rows[1:]] == [
        ("ERREUR", "weights-sum", "KPIs!H3"),
        ("ERREUR", "duplicate-reading", "Readings!2:2"),
        ("ERREUR", "not-a-number", "Readings!D4"),
        ("AVERTISSEMENT", "unknown-sheet", None),
        ("AVERTISSEMENT", "share-band", "Contracts!I2"),
        ("AVERTISSEMENT", "number-as-text", "Readings!D4"),
    ]
    links = {ws.cell(row=r, column=3).value: ws.cell(row=r, column=3).hyperlink
             for r in range(2, ws.max_row + 1)}
    assert links["KPIs!H3"].location == "'KPIs'!H3"
    assert links["Readings!2:2"].location == "'Readings'!A2"
    assert links["Contracts!I2"].location == "'Contracts'!I2"
    assert links[None] is None                      # file-level: nothing to link to
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:E7"
    assert wb.active.title == "Anomalies"
    assert [s.title for s in wb.worksheets if s.sheet_view.tabSelected] == ["Anomalies"]


def test_no_findings_still_gives_an_issues_sheet(src, tmp_path):
    out = write_annotated(src, tmp_path / "in.xlsx", [], [])
    wb = openpyxl.load_workbook(out)
    assert table(wb["Anomalies"])[1][-1] == "Aucune anomalie."
    assert "Règlement" not in wb.sheetnames          # no contracts settled: no result sheets


def test_sheet_level_finding_and_unknown_sheet(src, tmp_path):
    diags = [Diagnostic("missing-column", "error", "no column kpi_id",
                        Source("in.xlsx", "KPIs"), None, "colonne kpi_id absente"),
             Diagnostic("missing-sheet", "error", "no Readings2", Source("in.xlsx", "Readings2", 4, "B"))]
    out = write_annotated(src, tmp_path / "in.xlsx", diags, [])
    wb = openpyxl.load_workbook(out)
    assert "[missing-column]" in wb["KPIs"]["A1"].comment.text
    ws = wb["Anomalies"]
    cells = {ws.cell(row=r, column=2).value: ws.cell(row=r, column=3) for r in range(2, ws.max_row + 1)}
    assert cells["missing-column"].value == "KPIs"
    assert cells["missing-column"].hyperlink.location == "'KPIs'!A1"
    assert cells["missing-sheet"].value == "Readings2!B4"   # listed, though no cell to mark
    assert cells["missing-sheet"].hyperlink is None


# ------------------------------------------------------------------ text stays text

def test_text_from_inputs_is_never_a_formula(src, tmp_path):
    evil = [Diagnostic("bad", "error", "=cmd|' /C calc'!A0", Source("in.xlsx", "KPIs", 2, "B"),
                       "C-PME-01", "@SUM(1)\x07 bell" + "x" * 40_000)]
    out = write_annotated(src, tmp_path / "in.xlsx", evil, results())
    wb = openpyxl.load_workbook(out)
    client = wb["Contracts"]["B3"]                       # input cell: untouched and still text
    assert client.value == INJECTION and client.data_type == "s"

    message = wb["Anomalies"]["E2"]                      # control character gone, capped
    assert message.data_type == "s" and message.value.startswith("@SUM(1) bell")
    assert len(message.value) == 32_767 and message.quotePrefix

    names = {r[2]: wb["Résultats KPI"].cell(row=i, column=4)
             for i, r in enumerate(table(wb["Résultats KPI"]), 1)}
    assert names["detection"].value == "=SUM(A1:A9)" and names["detection"].data_type == "s"
    assert names["detection"].quotePrefix

    xml = zipfile.ZipFile(out).read("xl/worksheets/sheet5.xml").decode()   # Anomalies
    assert "<f>" not in xml


# ------------------------------------------------------------------ result sheets

def test_result_sheets_contents_and_formats(src, tmp_path):
    out = write_annotated(src, tmp_path / "in.xlsx", diagnostics(), results())
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Contracts", "KPIs", "Readings", "Notes", "Anomalies",
                             "Règlement", "Résultats KPI", "Alertes"]

    ws = wb["Règlement"]
    rows = table(ws)
    assert rows[0] == tuple(SHEETS["settlement"]["fr"][1])
    assert [r[:3] for r in rows[1:]] == [("C-JP-02", OCT, "JPY"),
                                         ("C-PME-01", SEP, "EUR"),
                                         ("C-PME-01", OCT, "EUR")]
    assert ws["B2"].number_format == "[$-40C]mmmm yyyy"     # a date shown as a month, in French
    assert rows[2][13:] == (8500, 8000, 500)              # due, invoiced before, invoice now
    assert rows[3][10] == "retenu" and rows[2][10] == "sans objet"
    assert ws["D2"].number_format == '#,##0 "JPY"' and ws["D2"].value == 1200000
    assert ws["P3"].number_format == '#,##0.00 "EUR"'
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:P4"
    assert ws.column_dimensions["A"].width >= len("C-PME-01")

    ws = wb["Résultats KPI"]
    rows = table(ws)
    detection_sept = rows[1]
    assert detection_sept[:6] == ("C-PME-01", SEP, "detection", "=SUM(A1:A9)", "acquis", 0.71)
    assert detection_sept[6:9] == (0.8, 0.5, 0.7)
    assert ws["I2"].number_format == "0.00%" and ws["J2"].number_format == '#,##0.00 "EUR"'
    held = rows[3]
    assert held[2] == "stability" and held[4] == "retenu" and held[5] is None and held[8] is None
    assert held[11] == 1000 and held[-1] == "2026-10 disputed"

    flags = table(wb["Alertes"])[1:]
    assert ("C-PME-01", "sortie", JUN, JUN, "detection", "droit de sortie", 0.62, 0.7,
            None) in flags
    assert any(f[1] == "litige" and f[4] == "stability" and f[8] == "2026-10 disputed" for f in flags)
    assert any(f[1] == "retenue" and f[2] == OCT and f[8] == "2026-10 missing" for f in flags)
    assert not any(f[0] == "C-JP-02" for f in flags)       # n/a exit, nothing held


def test_added_sheet_names_never_match_input_sheets():
    for kind in SHEETS.values():
        for title, _ in kind.values():
            assert schema.sheet_for(title) is None, title
            assert len(title) <= 31


# ------------------------------------------------------------------ preservation and round trip

def test_styles_formulas_widths_and_extra_sheets_are_kept(src, tmp_path):
    out = write_annotated(src, tmp_path / "in.xlsx", diagnostics(), results())
    before, after = openpyxl.load_workbook(src), openpyxl.load_workbook(out)
    for name in ("Contracts", "KPIs", "Readings", "Notes"):
        for row_b, row_a in zip(before[name].iter_rows(), after[name].iter_rows()):
            for b, a in zip(row_b, row_a):
                assert (a.value, a.number_format, a.font.b) == (b.value, b.number_format, b.font.b)
    assert after["Contracts"]["A1"].fill.fgColor.rgb == before["Contracts"]["A1"].fill.fgColor.rgb
    assert after["Contracts"].column_dimensions["B"].width == before["Contracts"].column_dimensions["B"].width
    assert after["Contracts"]["H2"].value == "=5000*2"
    assert after["Readings"]["F4"].value == "=1/0"


def test_round_trip_values_are_identical(src, tmp_path):
    out = write_annotated(src, tmp_path / "in.xlsx", diagnostics(), results())
    for name in ("Contracts", "KPIs", "Readings", "Notes"):
        assert cell_values(out, name) == cell_values(src, name), name
    assert cell_values(out, "Contracts")[(1, 7)] == 10000      # cached value of =5000*2 kept


def test_formula_without_cached_value_and_error_cell_stay_as_is(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Readings"
    ws.append(["contract_id", "kpi_id", "month", "value"])
    ws.append(["C1", "k", "2026-10", "=0.5+0.25"])        # written by a script: no cached value
    ws["E2"] = "#N/A"                                      # an error cell
    wb.save(tmp_path / "f.xlsx")
    out = write_annotated(tmp_path / "f.xlsx", tmp_path / "o.xlsx", [
        Diagnostic("missing-value", "error", "no value", Source("f.xlsx", "Readings", 2, "D"))], [])
    ws = openpyxl.load_workbook(out)["Readings"]
    assert ws["D2"].value == "=0.5+0.25" and ws["D2"].data_type == "f"
    assert ws["E2"].data_type == "e"
    assert ws["D2"].fill.fgColor.rgb == RED
    assert cell_values(out, "Readings") == cell_values(tmp_path / "f.xlsx", "Readings")


def test_annotating_an_annotated_copy_replaces_its_sheets_and_comments(src, tmp_path):
    wb = openpyxl.load_workbook(src)
    wb["KPIs"]["C2"].comment = openpyxl.comments.Comment("checked with the client", "Marie")
    wb.save(src)
    first = write_annotated(src, tmp_path / "a1.xlsx", diagnostics(), results())
    diags = [Diagnostic("name", "warning", "check", Source("a1.xlsx", "KPIs", 2, "C"))]
    second = write_annotated(first, tmp_path / "a2.xlsx", diags, results()[:1])
    wb = openpyxl.load_workbook(second)
    assert wb.sheetnames == ["Contracts", "KPIs", "Readings", "Notes", "Anomalies",
                             "Règlement", "Résultats KPI", "Alertes"]
    assert len(table(wb["Anomalies"])) == 2
    assert wb["KPIs"]["H3"].comment is None                # the fixed finding is gone...
    assert wb["KPIs"]["H3"].fill.fgColor.rgb not in (RED, AMBER)   # ...with its fill
    assert wb["KPIs"]["C2"].comment.text.startswith("checked with the client\n\n" + MARK)
    assert wb["KPIs"]["C2"].comment.author == "Marie"      # the user's comment is kept
    for name in ("Contracts", "KPIs", "Readings", "Notes"):
        assert cell_values(second, name) == cell_values(src, name)


def test_a_users_own_sheet_with_a_reserved_name_is_kept(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Contracts"
    wb.active.append(["contract_id", "client"])
    wb.create_sheet("Anomalies").append(["our own list", "of problems"])
    wb.save(tmp_path / "own.xlsx")
    out = write_annotated(tmp_path / "own.xlsx", tmp_path / "o.xlsx", diagnostics(), [])
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Contracts", "Anomalies", "Anomalies (2)"]
    assert wb["Anomalies"]["A1"].value == "our own list"


def test_xlsm_becomes_xlsx_without_macros(tmp_path):
    src = make_input(tmp_path / "macro.xlsm", vba=True)
    assert "xl/vbaProject.bin" in zipfile.ZipFile(src).namelist()
    out = write_annotated(src, tmp_path / "out" / "macro.xlsm", diagnostics(), results())
    assert out == tmp_path / "out" / "macro.xlsx" and out.exists()
    with zipfile.ZipFile(out) as z:
        assert not any("vba" in n.lower() for n in z.namelist())
        assert b"macroEnabled" not in z.read("[Content_Types].xml")
    assert openpyxl.load_workbook(out)["KPIs"]["H3"].fill.fgColor.rgb == RED
    assert list((tmp_path / "out").iterdir()) == [out]     # no temporary file left behind


def test_unreadable_source_raises(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"this is not a workbook")
    with pytest.raises(UnreadableWorkbook):
        write_annotated(bad, tmp_path / "out.xlsx", [], [])
    assert list(tmp_path.iterdir()) == [bad]


# ------------------------------------------------------------------ other inputs and size guard

def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.parametrize("fmt", ["ods", "xls"])
def test_non_ooxml_input_is_rebuilt_from_values(src, tmp_path, fmt):
    soffice = _soffice()
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: cannot produce an .ods/.xls input "
                    "(apt-get install libreoffice-calc-nogui)")
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", fmt,
                    "--outdir", str(tmp_path / "conv"), str(src)],
                   check=True, capture_output=True, timeout=180)
    converted = tmp_path / "conv" / f"in.{fmt}"
    out = write_annotated(converted, tmp_path / "out" / f"in.{fmt}", diagnostics(), results())
    assert out.suffix == ".xlsx"
    wb = openpyxl.load_workbook(out)
    assert wb["KPIs"]["H3"].fill.fgColor.rgb == RED
    assert "[weights-sum]" in wb["KPIs"]["H3"].comment.text
    assert wb["Contracts"]["B3"].value == INJECTION and wb["Contracts"]["B3"].data_type == "s"
    note = table(wb["Anomalies"])[1]
    assert note[1] == "format-not-preserved" and f".{fmt}" in note[4]
    assert "Règlement" in wb.sheetnames
    for name in ("Contracts", "KPIs", "Readings", "Notes"):
        assert cell_values(out, name) == cell_values(converted, name), name


def test_size_guard_keeps_the_input_parts_and_adds_the_annotations(src, tmp_path):
    out = write_annotated(src, tmp_path / "big.xlsx", diagnostics(), results(),
                          max_full_load_cells=20)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Contracts", "KPIs", "Readings", "Notes", "Anomalies", "Règlement",
                             "Résultats KPI", "Alertes"]
    assert wb.active.title == "Anomalies"
    assert not any(ws.sheet_view.tabSelected for ws in wb.worksheets if ws.title != "Anomalies")
    issues = table(wb["Anomalies"])
    assert issues[0] == tuple(SHEETS["issues"]["fr"][1])
    assert sorted(row[1] for row in issues[1:]) == sorted(d.code for d in diagnostics())
    assert wb["KPIs"]["H3"].fill.fgColor.rgb == RED
    assert wb["KPIs"]["H3"].comment.text.startswith(MARK)
    assert "weights-sum" in wb["KPIs"]["H3"].comment.text
    assert wb["Readings"]["D4"].fill.fgColor.rgb == RED
    text = wb["Readings"]["D4"].comment.text
    assert "not-a-number" in text and "number-as-text" in text
    assert wb["Contracts"]["I2"].fill.fgColor.rgb == AMBER
    assert wb["Readings"]["A2"].fill.fgColor.rgb == RED          # a row-level finding
    assert wb["Anomalies"]["C2"].hyperlink.location == "'KPIs'!H3"
    # the input's own formatting, widths, formulas and cached values are kept
    assert wb["Contracts"]["A1"].font.b and wb["Contracts"]["A1"].fill.fgColor.rgb == "FF4F81BD"
    assert wb["KPIs"]["H3"].font.b is False and wb["Contracts"]["F2"].number_format == "yyyy-mm"
    assert wb["Contracts"].column_dimensions["B"].width > 30
    assert wb["Contracts"]["H2"].value == "=5000*2"
    assert wb["Contracts"]["B3"].value == INJECTION and wb["Contracts"]["B3"].data_type == "s"
    settlement = table(wb["Règlement"])
    assert settlement[0] == tuple(SHEETS["settlement"]["fr"][1])
    assert settlement[1][:4] == ("C-JP-02", OCT, "JPY", 1200000)
    assert wb["Règlement"]["D2"].number_format == '#,##0 "JPY"'
    assert wb["Règlement"]["D3"].number_format == '#,##0.00 "EUR"'
    assert wb["Résultats KPI"]["I2"].number_format == "0.00%"
    assert [row[:5] for row in table(wb["Résultats KPI"])[1:]] == [
        ("C-PME-01", SEP, "detection", "=SUM(A1:A9)", "acquis"),
        ("C-PME-01", OCT, "detection", "=SUM(A1:A9)", "acquis"),
        ("C-PME-01", OCT, "stability", "Stabilité", "retenu")]
    assert wb["Résultats KPI"]["D2"].data_type == "s" and wb["Résultats KPI"]["D2"].quotePrefix
    assert wb["Résultats KPI"].freeze_panes == "A2"
    assert wb["Résultats KPI"].auto_filter.ref == "A1:O4"
    for name in ("Contracts", "KPIs", "Readings", "Notes"):
        assert cell_values(out, name) == cell_values(src, name), name
    # the copy is itself a valid source for the next annotation (values-only this time,
    # since it already holds generated sheets)
    again = write_annotated(out, tmp_path / "again.xlsx", [], results(), max_full_load_cells=20)
    wb2 = openpyxl.load_workbook(again)
    assert wb2.sheetnames == wb.sheetnames
    assert table(wb2["Anomalies"])[1][:2] == ("INFO", "format-not-preserved")
    for name in ("Contracts", "KPIs", "Readings", "Notes"):
        assert cell_values(again, name) == cell_values(src, name), name


def test_size_guard_without_findings_keeps_the_open_sheet(src, tmp_path):
    out = write_annotated(src, tmp_path / "big.xlsx", [], results(), lang="en", max_full_load_cells=20)
    wb = openpyxl.load_workbook(out)
    assert wb.active.title == "Contracts"
    assert table(wb["Issues"])[1] == (None, None, None, None, "No findings.")
    assert table(wb["Settlement"])[0] == tuple(SHEETS["settlement"]["en"][1])


def test_size_guard_with_namespaces_declared_on_each_element(src, tmp_path):
    rel = b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    _rewrite_member(src, "xl/workbook.xml", lambda d: d.replace(b" " + rel, b"", 1).replace(
        b"<sheet ", b"<sheet " + rel + b" "))
    out = write_annotated(src, tmp_path / "o.xlsx", diagnostics(), results(), max_full_load_cells=20)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:5] == ["Contracts", "KPIs", "Readings", "Notes", "Anomalies"]
    assert table(wb["Anomalies"])[1][0] != "INFO"            # parts kept: no values-only note
    assert wb["KPIs"]["H3"].fill.fgColor.rgb == RED


def test_size_guard_falls_back_to_values_when_a_part_is_not_well_formed(src, tmp_path):
    _rewrite_member(src, "xl/sharedStrings.xml", lambda d: d.replace(b"notes are kept", b"notes\x01are kept"))
    out = write_annotated(src, tmp_path / "o.xlsx", diagnostics(), results(), max_full_load_cells=20)
    wb = openpyxl.load_workbook(out)
    assert table(wb["Anomalies"])[1][:2] == ("INFO", "format-not-preserved")
    assert wb["Notes"]["A1"].value == "Free notesare kept"


def test_size_guard_with_findings_on_missing_cells_and_rows(tmp_path):
    path = tmp_path / "sparse.xlsx"
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet("Readings")
    ws.write_row(0, 0, ["contract_id", "kpi_id", "month", "value", "status"])
    ws.write_row(1, 0, ["C1", "k1", "2026-10"])
    ws.write_row(3, 0, ["C1", "k2", "2026-10", 0.5])
    ws.merge_range("F6:H7", "merged")
    book.close()
    found = [Diagnostic("required", "error", "value is required", Source("s", "Readings", 2, "D"), "C1"),
             Diagnostic("odd", "warning", "an empty row", Source("s", "Readings", 3, "B"), "C1"),
             Diagnostic("far", "warning", "past the end", Source("s", "Readings", 9, "C"), "C1"),
             Diagnostic("merged", "warning", "inside a merge", Source("s", "Readings", 7, "G"), "C1")]
    out = write_annotated(path, tmp_path / "o.xlsx", found, [], max_full_load_cells=1)
    wb = openpyxl.load_workbook(out)
    ws = wb["Readings"]
    for ref, color in (("D2", RED), ("B3", AMBER), ("C9", AMBER), ("F6", AMBER)):
        assert ws[ref].fill.fgColor.rgb == color, ref
        assert ws[ref].comment is not None and ws[ref].comment.text.startswith(MARK), ref
    assert ws["D4"].value == 0.5 and ws["A2"].value == "C1"
    assert cell_values(out, "Readings") == cell_values(path, "Readings")


# ------------------------------------------------------------------ close workbook

def close_report() -> CloseReport:
    pme, jp = results()
    excluded = ContractResult("C-BAD-03", "excluded", "EUR", ExitResult(""))
    catch_up = ContractResult("C-NEW-04", "settled", "EUR", ExitResult("ok", "2027-03"), (
        month_result("C-NEW-04", "2026-09", "EUR", due="9000.00"),
        month_result("C-NEW-04", "2026-10", "EUR", due="9000.00", invoiced_before="9000.00",
                     invoice_now="0"),))
    return CloseReport(
        "2026-10", "run-1", "2026-11-01T03:00:00Z", (pme, jp, excluded, catch_up),
        changes=(ReadingChange("C-PME-01", "detection", "2026-09", D("0.66"), "disputed",
                               D("0.71"), "verified"),),
        contract_findings={"C-BAD-03": (2, 1), "C-PME-01": (0, 1)},
        names={"C-PME-01": (INJECTION, "Agence Lumen IA", "EUR"),
               "C-JP-02": ("Nippon Kaisha", "Tokyo AI KK", "JPY"),
               "C-BAD-03": ("Client X", "-Provider", "EUR"),
               "C-NEW-04": ("Nouveau client", "Agence", "EUR")})


def test_close_workbook(tmp_path):
    out = write_close_workbook(close_report(), tmp_path)
    assert out == tmp_path / "settlement-2026-10.xlsx"
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Lignes de facture", "Totaux", "Synthèse contrats"]
    for title in wb.sheetnames:
        assert schema.sheet_for(title) is None

    ws = wb["Lignes de facture"]
    lines = table(ws)
    assert [l[:6] for l in lines[1:]] == [
        ("C-JP-02", "Nippon Kaisha", "Tokyo AI KK", OCT, "JPY", "mois courant"),
        ("C-NEW-04", "Nouveau client", "Agence", SEP, "EUR", "mois antérieur, première facturation"),
        ("C-PME-01", INJECTION, "Agence Lumen IA", SEP, "EUR", "ajustement"),
        ("C-PME-01", INJECTION, "Agence Lumen IA", OCT, "EUR", "mois courant"),
    ]
    # the detail in words: the KPI's name, the month written out, statuses translated
    assert lines[3][6:] == (8500, 8000, 500,
                            "« =SUM(A1:A9) », septembre 2026 : 0,66 (contesté) → 0,71 (vérifié)")
    assert ws["B4"].data_type == "s" and ws["B4"].value == INJECTION
    assert ws["D2"].number_format == "[$-40C]mmmm yyyy"
    assert ws["I2"].number_format == '#,##0 "JPY"' and ws["I4"].number_format == '#,##0.00 "EUR"'
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:J5"

    totals = table(wb["Totaux"])
    assert totals[1:] == [("EUR", 3, 8500, 9500, 18000), ("JPY", 1, 1200000, 0, 1200000)]
    assert wb["Totaux"]["E3"].number_format == '#,##0 "JPY"'

    contracts = {r[0]: r for r in table(wb["Synthèse contrats"])[1:]}
    assert contracts["C-BAD-03"][1:9] == ("Client X", "-Provider", "EUR", "exclu", None, 2, 1, 0)
    assert contracts["C-PME-01"][4:10] == ("clôturé", "droit de sortie", 0, 1, 9000, JUN)
    assert contracts["C-JP-02"][8] == 1200000
    provider = wb["Synthèse contrats"]["C2"]
    assert provider.value == "-Provider" and provider.data_type == "s" and provider.quotePrefix


def test_close_workbook_in_english_to_a_file_path(tmp_path):
    out = write_close_workbook(close_report(), tmp_path / "x" / "settlement-2026-10.xlsx", lang="en")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Invoice lines", "Totals", "Contract status"]
    assert table(wb["Invoice lines"])[1][5] == "current month"
    assert table(wb["Contract status"])[0][:9] == (
        "contract", "client", "provider", "currency", "status", "exit status", "errors",
        "warnings", "invoice now")
    assert table(wb["Contract status"])[4][4:6] == ("settled", "exit right")
    assert wb["Invoice lines"]["D2"].number_format == "mmmm yyyy"
    assert wb["Invoice lines"]["I4"].number_format == '"EUR" #,##0.00'
    assert table(wb["Invoice lines"])[3][9] == "“=SUM(A1:A9)”, September 2026: 0.66 (disputed) → 0.71 (verified)"


# ------------------------------------------------------------------ end to end

EXAMPLE = EXAMPLES / "portfolio-basic" / "step-1"
CLI = [sys.executable, "-m", "perfsettle"]   # the interpreter running the tests


def _run(inbox: Path, outbox: Path, store: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "run", "--period", "2026-10", "--min-age", "0",
                           "--inbox", str(inbox), "--outbox", str(outbox), "--store", str(store)],
                          capture_output=True, text=True, timeout=600)


def _settlement(outbox: Path) -> list[dict]:
    with open(outbox / "2026-10" / "settlement.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_annotated_copy_round_trips_through_the_cli(tmp_path):
    first = tmp_path / "first"
    shutil.copytree(EXAMPLE / "inbox", first / "inbox")
    done = _run(first / "inbox", first / "outbox", first / "store.sqlite")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    annotated = [p for p in (first / "outbox" / "2026-10").rglob("portfolio*.xlsx")
                 if "superseded" not in p.parts]
    assert len(annotated) == 1, list((first / "outbox").rglob("*"))
    wb = openpyxl.load_workbook(annotated[0])
    assert {"Anomalies", "Règlement"} <= set(wb.sheetnames) or {"Issues", "Settlement"} <= set(wb.sheetnames)

    second = tmp_path / "second"
    (second / "inbox").mkdir(parents=True)
    shutil.copy(annotated[0], second / "inbox" / "portfolio.xlsx")
    os.utime(second / "inbox" / "portfolio.xlsx", (0, 0))
    again = _run(second / "inbox", second / "outbox", second / "store.sqlite")
    assert again.returncode == done.returncode, again.stdout + again.stderr
    assert _settlement(second / "outbox") == _settlement(first / "outbox")


# ------------------------------------------------------------------ hostile sources

def _rewrite_member(path: Path, member: str, change) -> None:
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            z.writestr(info, change(data) if info.filename == member else data)


def _annotate_in_child(src: Path, dest: Path, budget: int, values: bool = False) -> subprocess.CompletedProcess:
    """Run write_annotated (or, with ``values``, the values-only reader) in a child: a reader
    that aborts must not take the tests down."""
    call = (f"_read_values(Path({str(src)!r}))" if values else
            f"write_annotated(Path({str(src)!r}), Path({str(dest)!r}), [], [], max_full_load_cells={budget})")
    code = ("import sys; from pathlib import Path; from perfsettle.outputs.annotate import *\n"
            "from perfsettle.outputs.annotate import _read_values\n"
            "try:\n"
            f"    {call}\n"
            "    print('done')\n"
            "except UnreadableWorkbook as e:\n"
            "    print('refused:', e)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_a_shared_strings_bomb_is_refused_before_calamine_reads_it(src, tmp_path):
    _rewrite_member(src, "xl/sharedStrings.xml", lambda d: re.sub(
        rb'uniqueCount="[0-9]+"', b'uniqueCount="4000000000"', d))
    done = _annotate_in_child(src, tmp_path / "o.xlsx", budget=0, values=True)
    assert done.returncode == 0 and "refused:" in done.stdout and "4,000,000,000" in done.stdout
    done = _annotate_in_child(src, tmp_path / "o.xlsx", budget=0)   # parts copied: never parsed
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    ok = write_annotated(src, tmp_path / "full.xlsx", [], [])       # openpyxl is not affected
    assert openpyxl.load_workbook(ok).sheetnames[-1] == "Anomalies"


def test_a_cell_at_the_end_of_the_grid_is_refused_on_the_values_path(tmp_path):
    book = xlsxwriter.Workbook(str(tmp_path / "far.xlsx"))
    ws = book.add_worksheet("Readings")
    ws.write_row(0, 0, ["contract_id", "kpi_id"])
    ws.write(1_048_575, 16_383, "far away")
    book.close()
    done = _annotate_in_child(tmp_path / "far.xlsx", tmp_path / "o.xlsx", budget=0, values=True)
    assert done.returncode == 0 and "refused:" in done.stdout, done.stderr
    done = _annotate_in_child(tmp_path / "far.xlsx", tmp_path / "o.xlsx", budget=0)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert openpyxl.load_workbook(tmp_path / "o.xlsx")["Readings"]["XFD1048576"].value == "far away"
    out = write_annotated(tmp_path / "far.xlsx", tmp_path / "full.xlsx", [], [])
    assert openpyxl.load_workbook(out)["Readings"]["XFD1048576"].value == "far away"


def test_finding_inside_a_merged_range_goes_to_its_first_cell(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contracts"
    ws.append(["contract_id", "client", "provider"])
    ws.append(["C1", "Merged client name", None])
    ws.merge_cells("B2:C2")
    hidden = wb.create_sheet("Old")
    hidden.sheet_state = "hidden"
    wb.active = 0
    wb.save(tmp_path / "m.xlsx")
    diags = [Diagnostic("x", "warning", "check", Source("m.xlsx", "Contracts", 2, "C"))]
    wb = openpyxl.load_workbook(write_annotated(tmp_path / "m.xlsx", tmp_path / "o.xlsx", diags, []))
    assert "[x] check" in wb["Contracts"]["B2"].comment.text
    assert [r.coord for r in wb["Contracts"].merged_cells.ranges] == ["B2:C2"]
    assert wb["Old"].sheet_state == "hidden" and wb.active.title == "Anomalies"
    wb = openpyxl.load_workbook(write_annotated(tmp_path / "m.xlsx", tmp_path / "p.xlsx", [], []))
    assert wb.active.title == "Contracts"          # nothing to see: opens where it did


@pytest.mark.parametrize("budget", [2_000_000, 0], ids=["full-load", "streamed"])
def test_numbers_keep_all_seventeen_digits(tmp_path, budget):
    # openpyxl and xlsxwriter write 16 significant digits; an input value must not change.
    book = xlsxwriter.Workbook(str(tmp_path / "n.xlsx"))
    ws = book.add_worksheet("Readings")
    ws.write_row(0, 0, ["contract_id", "kpi_id", "month", "value"])
    ws.write_row(1, 0, ["C1", "k", "2026-10", 0.25])
    ws.write_formula(2, 3, "=0.1+0.2", None, 0.125)
    book.close()
    _rewrite_member(tmp_path / "n.xlsx", "xl/worksheets/sheet1.xml", lambda d: d.replace(
        b"<v>0.25</v>", b"<v>0.30000000000000004</v>").replace(b"<v>0.125</v>", b"<v>0.7000000000000001</v>"))
    before = cell_values(tmp_path / "n.xlsx", "Readings")
    assert before[(1, 3)] == 0.30000000000000004 and before[(2, 3)] == 0.7000000000000001
    out = write_annotated(tmp_path / "n.xlsx", tmp_path / "o.xlsx", [], [], max_full_load_cells=budget)
    assert cell_values(out, "Readings") == before
