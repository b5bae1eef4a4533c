"""The package parts of output workbooks, as other readers need them (issue 11, "Other writers
and readers"): elements placed among the worksheet's own children, standard zip entries,
conventional part names, relative relationship targets, macros told by the workbook part,
the relationships namespace declared once, files created with the umask's mode; and the two
helpers every writer and reader shares (infra.ooxml, infra.files)."""
from __future__ import annotations

import os
import re
import stat
import struct
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from test_annotate import RED, _rewrite_member, close_report, diagnostics, make_input, results, table
from perfsettle.core.model import Diagnostic, Source
from perfsettle.infra import ooxml
from perfsettle.infra.files import atomic_path, write_atomic
from perfsettle.outputs import xlsxparts
from perfsettle.outputs.annotate import write_annotated, write_close_workbook
from perfsettle.outputs.template import write_template

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
X14 = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
LARGE = {"max_full_load_cells": 0}      # the size-guard way: the input's parts kept, edited as XML


def _children(xml: bytes) -> list[str]:
    return [el.tag.split("}")[-1] for el in ET.fromstring(xml)]


def _sheet_xml(path: Path, title: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(ooxml.sheet_part_map(z)[title])


# ------------------------------------------------------------------ schema order

SHEET_VIEW_EXT = (b'<extLst><ext uri="{F7C9EE02-42E1-4005-9D12-6889AFFD525C}" '
                  b'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main">'
                  b'<x15:webExtensions/></ext></extLst>')
X14_VALIDATION = (f'<extLst><ext uri="{{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}}" xmlns:x14="{X14}">'
                  '<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
                  '<x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>Notes!$A$1:$A$3</xm:f>'
                  '</x14:formula1><xm:sqref>E2:E4</xm:sqref></x14:dataValidation></x14:dataValidations>'
                  '</ext></extLst>').encode()


def _with_nested_extensions(path: Path) -> Path:
    """An input whose Readings sheet has a data bar (a cfRule with its own extLst), an x14 data
    validation (the worksheet's extLst) and a sheet view with an extLst."""
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet("Readings")
    ws.write_row(0, 0, ["contract_id", "kpi_id", "month", "value", "status"])
    for r in range(1, 4):
        ws.write_row(r, 0, ["C1", "k1", "2026-10", r / 4, "verified"])
    ws.conditional_format("D2:D4", {"type": "data_bar", "data_bar_2010": True})   # extLst inside cfRule
    book.add_worksheet("Notes").write_column(0, 0, ["verified", "provisional", "disputed"])
    book.close()

    def change(xml: bytes) -> bytes:
        xml = re.sub(rb"<sheetView\b([^>]*?)/>", lambda m: b"<sheetView" + m.group(1) + b">" + SHEET_VIEW_EXT
                     + b"</sheetView>", xml, count=1)
        if b"<extLst>" in xml.split(b"</sheetData>")[1]:          # the data bar's own x14 part
            head, tail = xml.rsplit(b"</extLst>", 1)
            ext = X14_VALIDATION[len(b"<extLst>"):-len(b"</extLst>")]
            return head + ext + b"</extLst>" + tail
        return xml.replace(b"</worksheet>", X14_VALIDATION + b"</worksheet>")

    _rewrite_member(path, "xl/worksheets/sheet1.xml", change)
    return path


def test_legacy_drawing_goes_among_the_worksheets_own_children(tmp_path):
    src = _with_nested_extensions(tmp_path / "bars.xlsx")
    found = [Diagnostic("odd", "warning", "look here", Source("s", "Readings", 3, "D"), "C1")]
    out = write_annotated(src, tmp_path / "o.xlsx", found, [], **LARGE)
    xml = _sheet_xml(out, "Readings")
    children = _children(xml)
    assert children.count("legacyDrawing") == 1
    assert len(re.findall(rb"<(?:\w+:)?legacyDrawing\b", xml)) == 1      # nowhere else (not in a cfRule)
    order = [c for c in children if c in xlsxparts.WORKSHEET_ORDER]
    assert order == sorted(order, key=xlsxparts.WORKSHEET_ORDER.index)
    assert children.index("conditionalFormatting") < children.index("legacyDrawing") < children.index("extLst")
    root = ET.fromstring(xml)
    assert root.find(f"{{{MAIN}}}sheetViews/{{{MAIN}}}sheetView/{{{MAIN}}}extLst") is not None
    assert root.find(f".//{{{X14}}}dataValidation") is not None            # kept
    assert root.find(f".//{{{MAIN}}}cfRule/{{{MAIN}}}extLst") is not None
    wb = openpyxl.load_workbook(out)
    assert wb["Readings"]["D3"].comment is not None and wb["Readings"]["D3"].fill.fgColor.rgb == "FFFFE699"


@pytest.mark.parametrize("tail", [b"", b"<tableParts count=\"0\"/>", X14_VALIDATION,
                                  b"<pageMargins left=\"1\" right=\"1\" top=\"1\" bottom=\"1\" header=\"0\" footer=\"0\"/>"
                                  + X14_VALIDATION])
def test_add_legacy_drawing_follows_the_schema_order(tail):
    sheet = (f'<worksheet xmlns="{MAIN}"><sheetViews><sheetView workbookViewId="0">'.encode() + SHEET_VIEW_EXT
             + b'</sheetView></sheetViews><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>'
             + b'<conditionalFormatting sqref="A1"><cfRule type="dataBar" priority="1"><dataBar><cfvo type="min"/>'
             + b'<cfvo type="max"/><color rgb="FF638EC6"/></dataBar><extLst><ext uri="{B025F937-C7B1-47D3-B67F-A62EFF666E3E}">'
             + f'<x14:id xmlns:x14="{X14}">{{0}}</x14:id></ext></extLst></cfRule></conditionalFormatting>'.encode()
             + tail + b"</worksheet>")
    out = xlsxparts.add_legacy_drawing(sheet, "rId9")
    children = _children(out)
    assert "legacyDrawing" in children
    order = [c for c in children if c in xlsxparts.WORKSHEET_ORDER]
    assert order == sorted(order, key=xlsxparts.WORKSHEET_ORDER.index)
    element = ET.fromstring(out).find(f"{{{MAIN}}}legacyDrawing")
    assert element.get(f"{{{REL}}}id") == "rId9"


# ------------------------------------------------------------------ zip entries and part names

def _local_headers(path: Path) -> list[tuple[str, int, int, set[int]]]:
    """(name, compressed size, size, extra field ids) of every local file header."""
    out = []
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for info in z.infolist():
            f.seek(info.header_offset)
            head = f.read(30)
            assert head[:4] == b"PK\x03\x04"
            csize, size, nlen, xlen = struct.unpack("<IIHH", head[18:30])
            f.seek(nlen, 1)
            extra, ids = f.read(xlen), set()
            while len(extra) >= 4:
                hid, hlen = struct.unpack("<HH", extra[:4])
                ids.add(hid)
                extra = extra[4 + hlen:]
            out.append((info.filename, csize, size, ids))
    return out


def test_added_parts_are_standard_zip_entries_with_conventional_names(tmp_path):
    src = make_input(tmp_path / "in.xlsx")
    out = write_annotated(src, tmp_path / "o.xlsx", diagnostics(), results(), **LARGE)
    headers = _local_headers(out)
    for name, csize, size, ids in headers:
        assert 0x0001 not in ids, f"{name}: a zip64 extra field"
        assert 0xFFFFFFFF not in (csize, size), name
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        sheets = ooxml.sheet_part_map(z)
    assert not any("_ps" in n for n in names)
    assert [sheets[t] for t in ("Anomalies", "Règlement", "Résultats KPI", "Alertes")] == [
        f"xl/worksheets/sheet{n}.xml" for n in (5, 6, 7, 8)]           # first free numbers
    assert {"xl/comments1.xml", "xl/drawings/vmlDrawing1.vml"} <= set(names)
    for n in names:
        if n.startswith("xl/worksheets/") or "comments" in n or n.endswith(".vml"):
            assert re.fullmatch(r"xl/(worksheets/(_rels/)?sheet\d+\.xml(\.rels)?|comments\d+\.xml|"
                                r"drawings/vmlDrawing\d+\.vml)", n), n


def test_relationship_targets_are_relative_in_every_copy(tmp_path):
    src = make_input(tmp_path / "in.xlsx")
    for budget in (300_000, 0):              # through openpyxl, and through the size guard
        out = write_annotated(src, tmp_path / f"o{budget}.xlsx", diagnostics(), results(),
                              max_full_load_cells=budget)
        with zipfile.ZipFile(out) as z:
            rels = [n for n in z.namelist() if n.endswith(".rels")]
            assert len(rels) >= 3
            for name in rels:
                for el in ET.fromstring(z.read(name)):
                    if el.get("TargetMode") != "External":
                        assert not el.get("Target").startswith("/"), (budget, name, el.get("Target"))
                        folder = "" if name == "_rels/.rels" else name.split("_rels/")[0]
                        assert ooxml.resolve(folder + "x", el.get("Target")) in z.namelist(), (name, el.get("Target"))
        wb = openpyxl.load_workbook(out)
        assert wb["KPIs"]["H3"].comment is not None


def test_a_bin_default_in_content_types_is_not_taken_for_macros(tmp_path):
    src = make_input(tmp_path / "sheetjs.xlsx")
    _rewrite_member(src, "[Content_Types].xml", lambda d: d.replace(
        b"<Default ", b'<Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/>'
        b"<Default ", 1))
    out = write_annotated(src, tmp_path / "o.xlsx", diagnostics(), results(), **LARGE)
    wb = openpyxl.load_workbook(out)
    assert table(wb["Anomalies"])[1][1] != "format-not-preserved"      # parts kept, not values only
    assert wb["Contracts"]["F2"].number_format == "yyyy-mm"
    with zipfile.ZipFile(src) as z:
        assert not ooxml.has_macros(z)
    macro = make_input(tmp_path / "m.xlsm", vba=True)
    with zipfile.ZipFile(macro) as z:
        assert ooxml.has_macros(z)
    out = write_annotated(macro, tmp_path / "m-out.xlsm", diagnostics(), results(), **LARGE)
    with zipfile.ZipFile(out) as z:
        assert not any("vba" in n.lower() for n in z.namelist())


def test_relationships_namespace_is_declared_once_on_the_root(tmp_path):
    src = make_input(tmp_path / "in.xlsx")
    decl = b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    for member in ("xl/workbook.xml", "xl/worksheets/sheet2.xml"):
        _rewrite_member(src, member, lambda d: d.replace(b" " + decl, b"", 1).replace(
            b"<sheet ", b"<sheet " + decl + b" "))
    out = write_annotated(src, tmp_path / "o.xlsx", diagnostics(), results(), **LARGE)
    with zipfile.ZipFile(out) as z:
        book = z.read("xl/workbook.xml")
        kpis = z.read(ooxml.sheet_part_map(z)["KPIs"])
    for xml, root in ((book, b"workbook"), (kpis, b"worksheet")):
        start = re.search(rb"<(?:\w+:)?" + root + rb"\b[^>]*>", xml).group(0)
        assert start.count(REL.encode()) == 1, start
        assert b"psr:" not in xml
    added = [el for el in ET.fromstring(book).iter(f"{{{MAIN}}}sheet") if el.get("name") == "Anomalies"]
    assert added and added[0].get(f"{{{REL}}}id")
    assert b'<sheet name="Anomalies"' in book and not re.search(rb'<sheet name="Anomalies"[^>]*xmlns', book)
    assert openpyxl.load_workbook(out)["KPIs"]["H3"].fill.fgColor.rgb == RED


# ------------------------------------------------------------------ print layout and fonts

def _print_layout(ws) -> tuple:
    """(orientation, pages wide, pages tall, fit to page, rows repeated); an absent fitToWidth
    is its default, 1."""
    setup = ws.page_setup
    return (setup.orientation, 1 if setup.fitToWidth is None else setup.fitToWidth, setup.fitToHeight,
            ws.sheet_properties.pageSetUpPr is not None and ws.sheet_properties.pageSetUpPr.fitToPage,
            ws.print_title_rows)


@pytest.mark.parametrize("budget", [300_000, 0])
def test_added_sheets_print_landscape_one_page_wide_with_their_header_row(tmp_path, budget):
    src = make_input(tmp_path / "in.xlsx")
    out = write_annotated(src, tmp_path / "o.xlsx", diagnostics(), results(), max_full_load_cells=budget)
    wb = openpyxl.load_workbook(out)
    for title in ("Anomalies", "Règlement", "Résultats KPI", "Alertes"):
        ws = wb[title]
        assert _print_layout(ws) == ("landscape", 1, 0, True, "$1:$1"), title
        assert ws["A1"].font.name == "Calibri" and ws["A1"].font.b, title
    assert wb["Contracts"].page_setup.orientation is None          # the input's own sheets as they were


def test_close_workbook_prints_landscape_with_named_header_fonts(tmp_path):
    wb = openpyxl.load_workbook(write_close_workbook(close_report(), tmp_path))
    for ws in wb.worksheets:
        assert _print_layout(ws) == ("landscape", 1, 0, True, "$1:$1"), ws.title
        assert ws["A1"].font.name == "Calibri" and ws["A1"].font.b


def test_template_sheets_print_landscape_one_page_wide(tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", "fr"))
    instructions, *inputs = wb.worksheets
    assert _print_layout(instructions)[:4] == ("landscape", 1, 0, True)
    for ws in inputs:
        assert _print_layout(ws) == ("landscape", 1, 0, True, "$1:$1"), ws.title
        assert ws["A1"].font.name


# ------------------------------------------------------------------ file modes

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_output_workbooks_follow_the_umask(tmp_path, umask_022):
    src = make_input(tmp_path / "in.xlsx")
    (tmp_path / "close").mkdir()
    made = [write_close_workbook(close_report(), tmp_path / "close"),
            write_template(tmp_path / "t" / "template.xlsx", "fr")]
    for budget in (300_000, 0):
        made.append(write_annotated(src, tmp_path / f"a{budget}" / "in.xlsx", diagnostics(), results(),
                                    max_full_load_cells=budget))
    bad = make_input(tmp_path / "m.xlsm", vba=True)            # the values-only way
    made.append(write_annotated(bad, tmp_path / "v" / "m.xlsx", [], [], max_full_load_cells=0))
    for path in made:
        assert _mode(path) == 0o644, path
        assert [p.name for p in path.parent.iterdir()] == [path.name]     # no temporary file left


# ------------------------------------------------------------------ the shared helpers

def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, umask_022):
    target = tmp_path / "deep" / "run.log"
    write_atomic(target, "first\r\n")
    assert target.read_bytes() == b"first\r\n" and _mode(target) == 0o644
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"first\r\n"
    assert [p.name for p in target.parent.iterdir()] == ["run.log"]
    os.umask(0o077)
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second" and _mode(target) == 0o600


def test_a1_references_and_column_letters():
    assert [ooxml.col_letters(i) for i in (0, 25, 26, 701, 702, 16383)] == ["A", "Z", "AA", "ZZ", "AAA", "XFD"]
    assert [ooxml.col_index(s) for s in ("A", "z", "AA", "XFD")] == [0, 25, 26, 16383]
    assert ooxml.a1(0, 0) == "A1" and ooxml.a1(9, 27) == "AB10"
    assert ooxml.parse_a1("$AB$10") == (9, 27)
    assert ooxml.parse_range("$B$2:A10") == (1, 0, 9, 1) and ooxml.parse_range("C3") == (2, 2, 2, 2)
    for bad in ("A0", "ABCD1", "1A", ""):
        with pytest.raises(ValueError):
            ooxml.parse_a1(bad)


def test_parts_are_resolved_from_the_package_relationships(tmp_path):
    """A workbook part that is not xl/workbook.xml, absolute and relative targets, a chartsheet."""
    path = tmp_path / "odd.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/book/main.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{ooxml.OFFICE_DOCUMENT}" Target="/book/main.xml"/></Relationships>')
        z.writestr("book/main.xml", f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
                   '<sheet name="Data &amp; more" sheetId="1" r:id="a"/><sheet name="Chart" sheetId="2" r:id="b"/>'
                   '<sheet name="Hidden" sheetId="3" state="hidden" r:id="c"/></sheets></workbook>')
        z.writestr("book/_rels/main.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="a" Type="{ooxml.WORKSHEET}" Target="sheets/one.xml"/>'
                   f'<Relationship Id="b" Type="{REL}/chartsheet" Target="charts/c.xml"/>'
                   f'<Relationship Id="c" Type="{ooxml.WORKSHEET}" Target="/other/../hidden.xml"/>'
                   f'<Relationship Id="x" Type="{REL}/hyperlink" Target="http://example.invalid/" TargetMode="External"/>'
                   '</Relationships>')
    with zipfile.ZipFile(path) as z:
        book, sheets = ooxml.sheet_parts(z)
        assert book == "book/main.xml"
        assert [(s.title, s.part, s.hidden) for s in sheets] == [
            ("Data & more", "book/sheets/one.xml", False), ("Hidden", "hidden.xml", True)]
        assert ooxml.has_macros(z) and not ooxml.is_template(z)
        assert [r.part for r in ooxml.relationships(z, book)][-1] == ""      # external
    assert ooxml.resolve("xl/worksheets/sheet1.xml", "../comments1.xml") == "xl/comments1.xml"
    assert ooxml.relative_target("xl/worksheets/sheet1.xml", "xl/drawings/vmlDrawing1.vml") == "../drawings/vmlDrawing1.vml"
    assert xlsxparts.relative_targets(
        b'<Relationships><Relationship Id="1" Type="t" Target="/xl/comments/comment1.xml"/>'
        b'<Relationship Id="2" Type="t" Target="/x" TargetMode="External"/></Relationships>',
        "xl/worksheets/_rels/sheet1.xml.rels") == (
        b'<Relationships><Relationship Id="1" Type="t" Target="../comments/comment1.xml"/>'
        b'<Relationship Id="2" Type="t" Target="/x" TargetMode="External"/></Relationships>')


# ------------------------------------------------------------------ words

def test_statuses_are_words_and_a_new_status_still_shows():
    from perfsettle.outputs.annotate import OLD_HEADERS, SHEETS, _is_generated, status_word

    assert [status_word("contract", "settled", lang) for lang in ("fr", "en")] == ["clôturé", "settled"]
    assert status_word("exit", "exit_right", "fr") == "droit de sortie"
    assert [status_word("kpi", s, "fr") for s in ("earned", "held", "deferred")] == ["acquis", "retenu", "différé"]
    assert status_word("kpi", "deemed_met", "fr") == "deemed met"       # not in the table yet
    assert "bonus_malus" not in SHEETS["settlement"]["fr"][1]
    # a copy annotated by an earlier version is still recognised, so its sheets are replaced
    assert _is_generated("Règlement", OLD_HEADERS["settlement"]["fr"], ["settlement"])
    assert _is_generated("Settlement", SHEETS["settlement"]["en"][1], ["settlement"])


@pytest.mark.parametrize("budget", [300_000, 0])
def test_readings_of_a_percent_kpi_are_percentages(tmp_path, budget):
    import dataclasses

    pme, jp = results()
    kpis = tuple(dataclasses.replace(k, unit="%") if k.kpi_id == "detection" else k for k in pme.terms.kpis)
    pme = dataclasses.replace(pme, terms=dataclasses.replace(pme.terms, kpis=kpis))
    out = write_annotated(make_input(tmp_path / "in.xlsx"), tmp_path / "o.xlsx", [], [pme, jp],
                          max_full_load_cells=budget)
    ws = openpyxl.load_workbook(out)["Résultats KPI"]
    assert (ws["C2"].value, ws["F2"].value, ws["F2"].number_format) == ("detection", 0.71, "0.0#%")
    assert ws["G2"].number_format == ws["H2"].number_format == "0.0#%"     # target and floor levels
    assert ws["C4"].value == "stability" and ws["G4"].number_format == "General"
