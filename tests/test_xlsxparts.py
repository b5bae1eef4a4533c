"""SpreadsheetML parts written as text: styles appended to a workbook's own, cells marked in
place, tables streamed as sheets."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest

from perfsettle.outputs import xlsxparts
from perfsettle.outputs.xlsxparts import Cell, Note, Styles, Table

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"

STYLES = (b'<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
          b'<numFmts count="1"><numFmt formatCode="#,##0.000" numFmtId="170"/></numFmts>'
          b'<fonts count="1"><font><sz val="11"/></font></fonts>'
          b'<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
          b'<borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
          b'<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
          b'<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"><alignment wrapText="1"/></xf></cellXfs>'
          b'</styleSheet>')


def test_column_letters_both_ways():
    assert [xlsxparts.col_letters(i) for i in (0, 25, 26, 701)] == ["A", "Z", "AA", "ZZ"]
    assert [xlsxparts.col_index(s) for s in ("A", "Z", "AA", "ZZ")] == [0, 25, 26, 701]


def test_styles_are_appended_and_counted_and_existing_formats_reused():
    styles = Styles(STYLES)
    money = styles.style(fmt="#,##0.000")
    percent = styles.style(fmt="0.00%")
    new = styles.style(fmt="#,##0.0000")
    header = styles.style(bold_fill="FFD9E1F2")
    filled = styles.filled(1, "FFFFC7CE")
    assert (money, percent, new, header, filled) == (2, 3, 4, 5, 6)
    assert styles.style(fmt="#,##0.000") == money and styles.filled(1, "FFFFC7CE") == filled
    root = ET.fromstring(styles.to_bytes())
    xfs = root.find(f"{MAIN}cellXfs")
    assert xfs.get("count") == "7" and len(xfs) == 7
    assert xfs[money].get("numFmtId") == "170"                 # reused, whatever the attribute order
    assert xfs[percent].get("numFmtId") == "10"                # built-in
    fmts = root.find(f"{MAIN}numFmts")
    assert fmts.get("count") == "2" and fmts[1].get("numFmtId") == "171"
    assert fmts[1].get("formatCode") == "#,##0.0000"
    assert root.find(f"{MAIN}fills").get("count") == "4" and root.find(f"{MAIN}fonts").get("count") == "2"
    assert xfs[filled].get("numFmtId") == "14" and xfs[filled].find(f"{MAIN}alignment") is not None
    fill = root.find(f"{MAIN}fills")[int(xfs[filled].get("fillId"))]
    assert fill.find(f"{MAIN}patternFill/{MAIN}fgColor").get("rgb") == "FFFFC7CE"


def test_a_workbook_without_styles_gets_minimal_ones():
    styles = Styles(None)
    assert styles.style(fmt="0.00%") == 1
    assert ET.fromstring(styles.to_bytes()).find(f"{MAIN}cellXfs").get("count") == "2"


def test_mark_cells_keeps_styles_and_adds_missing_cells_and_rows_in_order():
    sheet = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             b'<row r="2"><c r="A2" t="s"><v>0</v></c><c r="C2" s="1"><v>3</v></c></row>'
             b'<row r="5"><c r="B5"><v>1</v></c></row></sheetData></worksheet>')
    styles = Styles(STYLES)
    out = xlsxparts.mark_cells(sheet, {(1, 2): "FFFFC7CE", (1, 1): "FFFFE699", (2, 0): "FFFFC7CE",
                                       (6, 3): "FFFFE699"}, styles)
    root = ET.fromstring(out)
    cells = [(c.get("r"), c.get("s")) for c in root.iter(f"{MAIN}c")]
    assert [r for r, _ in cells] == ["A2", "B2", "C2", "A3", "B5", "D7"]
    assert [row.get("r") for row in root.iter(f"{MAIN}row")] == ["2", "3", "5", "7"]
    xfs = ET.fromstring(styles.to_bytes()).find(f"{MAIN}cellXfs")
    c2 = xfs[int(dict(cells)["C2"])]
    assert c2.get("numFmtId") == "14" and c2.get("applyFill") == "1"    # its own format kept
    assert root.find(f".//{MAIN}c[@r='A2']/{MAIN}v").text == "0"


def test_a_row_without_reference_is_not_edited():
    sheet = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             b'<row><c><v>1</v></c></row></sheetData></worksheet>')
    with pytest.raises(xlsxparts.Unsupported):
        xlsxparts.mark_cells(sheet, {(0, 0): "FFFFC7CE"}, Styles(STYLES))


def test_a_sheet_with_comments_already_is_not_edited():
    sheet = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="x">'
             b'<sheetData/><legacyDrawing r:id="rId1"/></worksheet>')
    with pytest.raises(xlsxparts.Unsupported):
        xlsxparts.add_legacy_drawing(sheet, "rId2")


def test_table_sheet_is_well_formed_with_text_numbers_formats_and_links():
    styles = Styles(STYLES)
    rows = [["=cmd|' /C calc'!A0", 1.5, True, None, Cell(2.0, "0.00%"), Cell("KPIs!F7", link="'KPIs'!F7")],
            [" padded ", 10 ** 17, False, "", Cell(None, "0.00%"), "a\x01b<&>"]]
    buf = io.BytesIO()
    xlsxparts.write_table(buf, Table("T", ["h1", "h2", "h3", "h4", "h5", "h6"], iter(rows)), styles)
    root = ET.fromstring(buf.getvalue())
    cells = {c.get("r"): c for c in root.iter(f"{MAIN}c")}
    assert cells["A2"].get("t") == "inlineStr" and cells["A2"].find(f"{MAIN}is/{MAIN}t").text.startswith("=cmd")
    assert ET.fromstring(styles.to_bytes()).find(f"{MAIN}cellXfs")[int(cells["A2"].get("s"))].get("quotePrefix") == "1"
    assert cells["B2"].find(f"{MAIN}v").text == "1.5" and cells["B3"].find(f"{MAIN}v").text == str(10 ** 17)
    assert cells["C2"].get("t") == "b" and cells["C3"].find(f"{MAIN}v").text == "0"
    assert "D2" not in cells and "D3" not in cells and "E3" not in cells
    assert cells["A3"].find(f"{MAIN}is/{MAIN}t").text == " padded "
    assert cells["F3"].find(f"{MAIN}is/{MAIN}t").text == "ab<&>"
    link = root.find(f"{MAIN}hyperlinks/{MAIN}hyperlink")
    assert (link.get("ref"), link.get("location")) == ("F2", "'KPIs'!F7")
    assert root.find(f"{MAIN}autoFilter").get("ref") == "A1:F3"
    assert root.find(f"{MAIN}sheetViews/{MAIN}sheetView/{MAIN}pane").get("state") == "frozen"


def test_repeated_texts_and_months_are_written_as_the_first_time():
    """Texts and dates are escaped and converted once per table, then reused: a repeat is
    written exactly as a first occurrence (style, escaping, day number)."""
    import datetime as dt

    styles = Styles(STYLES)
    row = ["=1+1", "a & b", Cell(dt.date(2026, 10, 1), "mmmm yyyy"), dt.date(2026, 9, 1), " x"]
    buf = io.BytesIO()
    xlsxparts.write_table(buf, Table("T", ["a", "b", "c", "d", "e"], [list(row) for _ in range(3)]), styles)
    root = ET.fromstring(buf.getvalue())
    rows = [[ET.tostring(c).replace(f'r="{c.get("r")}"'.encode(), b"") for c in r]
            for r in root.iter(f"{MAIN}row")][1:]
    assert rows[0] == rows[1] == rows[2] and len(rows[0]) == 5
    cells = {c.get("r"): c for c in root.iter(f"{MAIN}c")}
    assert cells["C4"].find(f"{MAIN}v").text == "46296" and cells["D4"].find(f"{MAIN}v").text == "46266"
    assert cells["B4"].find(f"{MAIN}is/{MAIN}t").text == "a & b"


def test_repeated_formatted_values_keep_their_own_type_and_format():
    """A formatted value met before is written as its first time; equal values of other types
    (1, 1.0, True) or formats, and linked cells, are each written as their own; no negative zero."""
    styles = Styles(STYLES)
    rows = [[Cell(1.0, "0.00%"), Cell(1, "0.00%"), Cell(True, "0.00%"), Cell(1.0, "#,##0.000"),
             Cell(-0.0, "0.00%"), Cell(0.0, "0.00%"), Cell(2.5, "0.00%", link="'KPIs'!F7"), -0.0]
            for _ in range(3)]
    buf = io.BytesIO()
    xlsxparts.write_table(buf, Table("T", list("abcdefgh"), rows), styles)
    root = ET.fromstring(buf.getvalue())
    xfs = ET.fromstring(styles.to_bytes()).find(f"{MAIN}cellXfs")
    for r in (2, 3, 4):
        cells = {c.get("r")[0]: c for c in root.iter(f"{MAIN}c") if c.get("r")[1:] == str(r)}
        values = {col: (c.get("t"), c.find(f"{MAIN}v").text) for col, c in cells.items()}
        assert values == {"A": (None, "1.0"), "B": (None, "1"), "C": ("b", "1"), "D": (None, "1.0"),
                          "E": (None, "0.0"), "F": (None, "0.0"), "G": (None, "2.5"), "H": (None, "0.0")}
        assert cells["A"].get("s") == cells["B"].get("s") == cells["E"].get("s") != cells["D"].get("s")
        assert xfs[int(cells["D"].get("s"))].get("numFmtId") == "170"
    links = root.findall(f"{MAIN}hyperlinks/{MAIN}hyperlink")
    assert [link.get("ref") for link in links] == ["G2", "G3", "G4"]


def test_new_workbook_of_tables(tmp_path):
    """A new workbook of tables: sheets in order, the first open, print titles, columns that
    fit every row (not only the first ones) in Excel's stored widths; the same bytes twice."""
    import openpyxl

    long = "x" * 40
    tables = [Table("Lignes", ["contrat", "montant"], [["C-1", Cell(1.5, '#,##0.00 "EUR"')]] * 2_500
                    + [[long, 2.0]]),
              Table("Totaux", ["devise"], [["EUR"]])]
    xlsxparts.write_workbook(tmp_path / "a.xlsx", tables)
    xlsxparts.write_workbook(tmp_path / "b.xlsx", tables)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    wb = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert wb.sheetnames == ["Lignes", "Totaux"] and wb.active.title == "Lignes"
    ws = wb["Lignes"]
    assert ws["B2"].value == 1.5 and ws["B2"].number_format == '#,##0.00 "EUR"' and ws["A2502"].value == long
    assert ws.column_dimensions["A"].width == xlsxparts.excel_width(42) == 42.7109375
    assert ws.print_title_rows == "$1:$1" and wb["Totaux"].print_title_rows == "$1:$1"
    assert ws.page_margins.left == 0.7 and ws.page_setup.orientation == "landscape"


def test_comments_and_drawing_parts_are_well_formed():
    notes = [Note(0, 0, "[perfsettle]\nERREUR <x> & y", "FFFFC7CE"), Note(9, 27, "second", "FFFFE699")]
    comments = ET.fromstring(xlsxparts.comments_part(notes, "perfsettle"))
    assert [c.get("ref") for c in comments.iter(f"{MAIN}comment")] == ["A1", "AB10"]
    vml = xlsxparts.vml_part(notes, 100).decode()
    ET.fromstring(vml)
    assert len(re.findall(r"<v:shape ", vml)) == 2 and 'data="100"' in vml
