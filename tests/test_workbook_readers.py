"""Every output workbook opens, whole, in the readers people and programs use.

The workbooks: the close workbook (French and English), the annotated copies made each way
(through openpyxl, through the size guard that keeps the input's parts, values only for a
macro-enabled input and for .ods and .xls inputs), the blank templates, and the outputs of a
real close of a worked example. The readers: openpyxl, python-calamine, LibreOffice, and with
Node.js ExcelJS and SheetJS; and the Open XML SDK validator. Each reader must see the same
sheets, the same number of non-empty cells and the same header rows as openpyxl.

LibreOffice and the Node packages (``tests/node``, installed by ``make test`` with npm)
are optional outside CI: missing, their checks are skipped with the reason; under CI=true they
are required.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from conftest import EXAMPLES, REPO, Workspace
from test_annotate import close_report, diagnostics, make_input, results
from test_workbook_parts import _with_nested_extensions
from perfsettle.core.model import Diagnostic, Source
from perfsettle.outputs.annotate import write_annotated, write_close_workbook
from perfsettle.outputs.template import write_template

NODE_DIR = REPO / "tests" / "node"

# Findings of the Open XML SDK validator that are not defects of the file, with the reason.
# Each entry: (part, start of the description) -> reason. Keep it empty unless a finding
# contradicts ECMA-376 itself.
KNOWN_FALSE_POSITIVES: dict[tuple[str, str], str] = {}


def need(tool: str, why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{tool} is required under CI ({why})")
    pytest.skip(f"{tool} is not available: {why}")


# ------------------------------------------------------------------ the workbooks

def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def _convert(soffice: str, files: list[Path], fmt: str, outdir: Path, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                           "--convert-to", fmt, "--outdir", str(outdir), *map(str, files)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    """name -> output workbook; every name is also the file's stem, unique."""
    root = tmp_path_factory.mktemp("readers")
    src = make_input(root / "input.xlsx")
    out: dict[str, Path] = {}
    (root / "close-fr").mkdir()
    out["close-fr"] = write_close_workbook(close_report(), root / "close-fr" / "close-fr.xlsx")
    out["close-en"] = write_close_workbook(close_report(), root / "close-en.xlsx", lang="en")
    out["annotated-openpyxl"] = write_annotated(src, root / "annotated-openpyxl.xlsx", diagnostics(), results())
    out["annotated-parts"] = write_annotated(src, root / "annotated-parts.xlsx", diagnostics(), results(),
                                             max_full_load_cells=0)
    out["annotated-parts-en"] = write_annotated(src, root / "annotated-parts-en.xlsx", [], results(), lang="en",
                                                max_full_load_cells=0)
    bars = _with_nested_extensions(root / "bars.xlsx")      # data bar, x14 validation, view extLst
    out["annotated-parts-extensions"] = write_annotated(
        bars, root / "annotated-parts-extensions.xlsx",
        [Diagnostic("odd", "warning", "look here", Source("bars.xlsx", "Readings", 3, "D"), "C1")], [],
        max_full_load_cells=0)
    macro = make_input(root / "macro.xlsm", vba=True)
    out["values-xlsm"] = write_annotated(macro, root / "values-xlsm.xlsx", diagnostics(), results(),
                                         max_full_load_cells=0)
    out["template-fr"] = write_template(root / "template-fr.xlsx", "fr")
    out["template-en"] = write_template(root / "template-en.xlsx", "en")
    soffice = _soffice()
    if soffice is not None:
        for fmt in ("ods", "xls"):
            proc = _convert(soffice, [src], fmt, root / fmt, root / "lo-profile")
            assert proc.returncode == 0, proc.stderr[-2000:]
            converted = root / fmt / f"input.{fmt}"
            out[f"values-{fmt}"] = write_annotated(converted, root / f"values-{fmt}.xlsx", diagnostics(), results())
    # a real close of a worked example: its close workbook and annotated copy
    ws = Workspace(root / "close")
    step = EXAMPLES / "portfolio-basic" / "step-1"
    ws.drop(*sorted((step / "inbox").iterdir()))
    assert ws.run((step / "period").read_text().strip()) == 0
    for path in sorted(ws.outbox.rglob("*.xlsx")):
        name = "example-" + path.name.removesuffix(".xlsx").replace(".", "-")
        out[name] = shutil.copy(path, root / f"{name}.xlsx")
    assert {"example-settlement-2026-10", "example-portfolio-annotated"} <= set(out)
    return {k: Path(v) for k, v in out.items()}


NAMES = ["close-fr", "close-en", "annotated-openpyxl", "annotated-parts", "annotated-parts-en",
         "annotated-parts-extensions", "values-xlsm",
         "values-ods", "values-xls", "template-fr", "template-en", "example-settlement-2026-10",
         "example-portfolio-annotated"]


@pytest.fixture
def book(books, request) -> Path:
    name = request.param
    if name not in books:
        need("LibreOffice (soffice)", "it makes the .ods and .xls inputs; make test installs it")
    return books[name]


def each_book(test):
    return pytest.mark.parametrize("book", NAMES, indirect=True)(test)


# Excel's error values: python-calamine reads them as empty cells, so no reader counts them.
ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}


def _text(value) -> str:
    return "" if value is None or value in ERRORS else str(value)


def _openpyxl_view(path: Path) -> list[tuple[str, int, list[str], int]]:
    """(sheet name, non-empty cells, header row, comments) as openpyxl reads the file (the
    cached values of formulas, as the other readers give them)."""
    wb = openpyxl.load_workbook(path, data_only=True)
    out = []
    for ws in wb.worksheets:
        cells = comments = 0
        for row in ws.iter_rows():
            for cell in row:
                cells += _text(cell.value) != ""
                comments += cell.comment is not None
        header = [_text(c.value) for c in next(ws.iter_rows(min_row=1, max_row=1), ())]
        while header and header[-1] == "":
            header.pop()
        out.append((ws.title, cells, header, comments))
    return out


def _calamine_view(path: Path) -> list[tuple[str, int]]:
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    out = []
    for name in wb.sheet_names:
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        out.append((name, sum(_text(v) != "" for row in rows for v in row)))
    return out


# ------------------------------------------------------------------ Python readers

@each_book
def test_openpyxl_reads_every_sheet(book):
    view = _openpyxl_view(book)
    assert view and all(cells > 0 for _, cells, _, _ in view), view


@each_book
def test_calamine_reads_the_same_sheets_and_cells(book):
    assert _calamine_view(book) == [(name, cells) for name, cells, _, _ in _openpyxl_view(book)]


# ------------------------------------------------------------------ LibreOffice

@pytest.fixture(scope="module")
def libreoffice(books, tmp_path_factory) -> dict[str, Path]:
    """name -> the workbook as LibreOffice saved it again (.ods)."""
    soffice = _soffice()
    if soffice is None:
        need("LibreOffice (soffice)", "make test installs it with apt-get as root")
    root = tmp_path_factory.mktemp("lo")
    proc = _convert(soffice, list(books.values()), "ods", root / "out", root / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name: root / "out" / f"{path.stem}.ods" for name, path in books.items()}


@pytest.mark.e2e
@each_book
def test_libreoffice_reads_the_same_sheets_and_cells(book, books, libreoffice):
    name = next(k for k, v in books.items() if v == book)
    resaved = libreoffice[name]
    assert resaved.exists(), f"LibreOffice could not open {book.name}"
    assert _calamine_view(resaved) == _calamine_view(book)


# ------------------------------------------------------------------ Node readers and the validator

@pytest.fixture(scope="module")
def node(books) -> dict[str, dict]:
    """name -> what tests/node/read.mjs says of the workbook (ExcelJS, SheetJS, validator)."""
    exe = shutil.which("node")
    if exe is None:
        need("Node.js", "ExcelJS, SheetJS and the OOXML validator run on it (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "exceljs").is_dir():
        need("tests/node/node_modules", "make test installs it with npm in tests/node")
    proc = subprocess.run([exe, str(NODE_DIR / "read.mjs"), *map(str, books.values())],
                          capture_output=True, text=True, timeout=600, cwd=NODE_DIR)
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_file = {Path(r["file"]): r for r in map(json.loads, proc.stdout.splitlines())}
    return {name: by_file[path] for name, path in books.items()}


def _name(books, book: Path) -> str:
    return next(k for k, v in books.items() if v == book)


@pytest.mark.e2e
@each_book
def test_exceljs_reads_the_same_sheets_cells_headers_and_comments(book, books, node):
    seen = node[_name(books, book)]["exceljs"]
    assert seen["ok"], seen.get("error")
    got = [(s["name"], s["cells"], _trimmed(s["header"]), s["comments"]) for s in seen["sheets"]]
    assert got == _openpyxl_view(book)


@pytest.mark.e2e
@each_book
def test_sheetjs_reads_the_same_sheets_cells_and_headers(book, books, node):
    seen = node[_name(books, book)]["sheetjs"]
    assert seen["ok"], seen.get("error")
    got = [(s["name"], s["cells"], _trimmed(s["header"])) for s in seen["sheets"]]
    assert got == [v[:3] for v in _openpyxl_view(book)]


@pytest.mark.e2e
@each_book
def test_the_ooxml_validator_finds_nothing(book, books, node):
    seen = node[_name(books, book)]["validator"]
    assert seen["ok"], seen.get("error")
    errors = [e for e in seen["errors"]
              if not any(e["path"] == part and e["description"].startswith(start)
                         for part, start in KNOWN_FALSE_POSITIVES)]
    assert errors == [], json.dumps(errors[:5], indent=1, ensure_ascii=False)


def _trimmed(header: list[str]) -> list[str]:
    header = list(header)
    while header and header[-1] == "":
        header.pop()
    return header


# ------------------------------------------------------------------ what a person sees

def _every_currency_report():
    """A close with one contract per accepted currency, each invoicing amounts with all the
    currency's ISO 4217 digits (and a credit)."""
    from decimal import Decimal as D

    from perfsettle.core.model import CloseReport, ContractResult, ExitResult
    from perfsettle.core.money import ISO_4217, quantum
    from test_annotate import month_result

    results, expected = [], {}
    for i, cur in enumerate(sorted(ISO_4217)):
        cid = f"C-{cur}"
        due = (D("1234567.891234") * (i + 1)).quantize(quantum(cur))
        credit = -(D("20.5555") + i).quantize(quantum(cur))
        months = (month_result(cid, "2026-09", cur, due=str(credit), invoiced_before="0"),
                  month_result(cid, "2026-10", cur, due=str(due)))
        results.append(ContractResult(cid, "settled", cur, ExitResult("n/a"), months))
        expected[(cid, "2026-09")] = credit
        expected[(cid, "2026-10")] = due
    names = {r.contract_id: ("Client", "Provider", r.currency) for r in results}
    return CloseReport("2026-10", "run-1", "2026-11-01T03:00:00Z", tuple(results), names=names), expected


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_amount_shown_is_the_csv_amount_in_every_currency(tmp_path, lang):
    """LibreOffice shows each amount of the close workbook with exactly the currency's ISO
    digits: the text it displays is the CSV's amount (here exported "as shown")."""
    import csv as _csv

    from perfsettle.core.money import format_money

    soffice = _soffice()
    if soffice is None:
        need("LibreOffice (soffice)", "make test installs it with apt-get as root")
    report, expected = _every_currency_report()
    book = write_close_workbook(report, tmp_path / f"close-{lang}.xlsx", lang=lang)
    # the first sheet (invoice lines) as LibreOffice shows it, in UTF-8
    proc = _convert(soffice, [book], "csv:Text - txt - csv (StarCalc):44,34,76,1", tmp_path / "csv",
                    tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(_csv.reader((tmp_path / "csv" / f"close-{lang}.csv").read_text(encoding="utf-8").splitlines()))
    shown = {}
    for row in rows[1:]:
        cid, month, cur, now = row[0], row[3], row[4], row[8]
        assert cur in now, now                                  # the currency's code is shown
        shown[(cid, month)] = re.sub(r"[^0-9.\-]", "", now.replace(cur, ""))   # no separators, no code
    months = {"fr": ("septembre 2026", "octobre 2026"), "en": ("September 2026", "October 2026")}[lang]
    want = {(cid, months[m == "2026-10"]): format_money(amount, cid[2:]) for (cid, m), amount in expected.items()}
    assert shown == want
