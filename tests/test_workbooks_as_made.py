"""Workbooks as people make them (SPEC §2): a title and a note above the header row, a month
cell that lost its date format."""
from __future__ import annotations

from pathlib import Path

import openpyxl

from builders import contract, kpis, readings, workbook
from perfsettle.core.model import Source
from perfsettle.inputs.cells import to_month
from perfsettle.inputs.reading import read_raw
from perfsettle.inputs.validation import check_run, parse_workbook
from perfsettle.outputs.annotate import write_annotated


def check(path: Path, period: str = "2026-06"):
    wb = parse_workbook(path.name, read_raw(path))
    intake = check_run([wb], {}, {}, period)
    return intake, {(d.code, d.source.cell) for d in intake.diagnostics}


def titled(path: Path, **bad_cells) -> Path:
    """The clean workbook with, on Contracts and Readings, a title in row 1, a note in row 2
    and a blank row 3 above the header (now row 4)."""
    workbook(path, contracts=[contract()], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(path)
    for name, title in (("Contracts", "Contrats 2026 — Boulangeries Martin"),
                        ("Readings", "Relevés du mois")):
        ws = wb[name]
        ws.insert_rows(1, 3)
        ws["A1"] = title
        ws["A2"] = "Saisie par le contrôle de gestion, à ne pas trier"
        ws["C2"] = "version 3"
    for cell, value in bad_cells.items():
        sheet, ref = cell.split("_")
        wb[sheet][ref] = value
    wb.save(path)
    return path


def test_a_title_and_a_note_above_the_header_are_ignored(tmp_path):
    intake, found = check(titled(tmp_path / "t.xlsx"))
    assert found == set()
    assert intake.outcomes == {"t.xlsx": "accepted"}
    c, source = intake.contracts["C1"]
    assert c.monthly_fee == 10000 and source.row == 5
    assert len(intake.readings) == 2


def test_findings_below_a_title_keep_their_excel_rows(tmp_path):
    # Readings: header row 4, first reading row 5; value is column D.
    intake, found = check(titled(tmp_path / "t.xlsx", Readings_D6="soixante"))
    assert ("not-a-number", "Readings!D6") in found


def test_a_header_row_is_a_row_with_two_column_names(tmp_path):
    path = workbook(tmp_path / "h.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(path)
    ws = wb["KPIs"]
    ws.insert_rows(1, 2)
    ws["A1"] = "contract_id"          # one column name alone is a note, not the header
    wb.save(path)
    intake, found = check(path)
    assert found == set() and len(intake.kpis) == 2


def test_a_sheet_without_a_header_row_in_its_first_20_rows_is_rejected(tmp_path):
    path = workbook(tmp_path / "n.xlsx", contracts=[contract()], kpis=kpis(), readings=readings())
    wb = openpyxl.load_workbook(path)
    ws = wb["KPIs"]
    ws.insert_rows(1, 20)
    for r in range(1, 21):
        ws.cell(row=r, column=1, value=f"note {r}")
    wb.save(path)
    intake, found = check(path)
    assert ("sheet-no-header", "KPIs!1:1") in found
    assert intake.outcomes["n.xlsx"] == "rejected"


def test_the_annotated_copy_keeps_the_title_and_comments_the_right_cell(tmp_path):
    path = titled(tmp_path / "t.xlsx", Readings_D6="soixante")
    intake, _ = check(path)
    out = write_annotated(path, tmp_path / "out" / "t.xlsx",
                          [d for d in intake.diagnostics if d.source.file == "t.xlsx"], [])
    ws = openpyxl.load_workbook(out)["Readings"]
    assert ws["A1"].value == "Relevés du mois" and ws["C2"].value == "version 3"
    assert ws["A4"].value == "contract_id"
    assert ws["D6"].comment is not None and "[not-a-number]" in ws["D6"].comment.text
    assert ws["D5"].comment is None


def test_a_month_that_lost_its_date_format_says_which_month_and_how_to_fix_it():
    value, p = to_month(45870.0)
    d = p.at(Source("t.xlsx", "Readings", 2, "C"), "C1")
    assert value is None and (d.severity, d.code) == ("error", "not-a-month")
    en, fr = d.message, d.message_fr
    assert "45870 " in en and "45870.0" not in en
    assert "2025-08" in en and "date format" in en and "Format Cells" in en
    assert "2025-08" in fr and "format de date" in fr
    assert "46082,75" in to_month(46082.75)[1].at(Source("t.xlsx", "Readings", 2, "C")).message_fr
    # a number that is no plausible date is still just not a month
    assert "serial" not in to_month(12.5)[1].at(Source("t.xlsx", "Readings", 2, "C")).message


def test_a_month_serial_in_a_workbook_is_reported_at_its_cell(tmp_path):
    r = readings()
    r[0]["month"] = 46082              # 2026-03-01 without its date format
    path = workbook(tmp_path / "s.xlsx", contracts=[contract()], kpis=kpis(), readings=r)
    intake, _ = check(path)
    (d,) = [d for d in intake.diagnostics if d.code == "not-a-month"]
    assert d.source.cell == "Readings!C2" and "2026-03" in d.message and "2026-03" in d.message_fr
