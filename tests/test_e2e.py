"""End-to-end checks in real clients: headless Chromium renders every HTML output of the
examples, LibreOffice opens and converts every output workbook.

The tools are installed by ``make test`` (apt-get) when missing. Outside CI a missing tool
skips these checks with the reason; under CI (CI=true) it fails them.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import EXAMPLES, Workspace

pytestmark = pytest.mark.e2e


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is required under CI (make test installs it)")
        pytest.skip(f"{tool} is not installed (make test installs it with apt-get as root)")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    """Every step of every shared example, closed into one outbox per scenario."""
    root = tmp_path_factory.mktemp("e2e")
    for scenario in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        ws = Workspace(root / scenario.name)
        for step in sorted(scenario.glob("step-*")):
            ws.drop(*sorted((step / "inbox").iterdir()))
            assert ws.run((step / "period").read_text().strip()) == 0
    return root


def png_rows(data: bytes) -> list[bytes]:
    """The (filtered) scanlines of a non-interlaced PNG: enough to tell a blank page."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, color = struct.unpack(">IIBB", chunk[:10])
            channels = {2: 3, 6: 4, 0: 1, 4: 2}.get(color, 4) * depth // 8
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return [raw[i:i + stride] for i in range(0, len(raw), stride)]


def test_chromium_renders_every_html_output(outputs, tmp_path):
    chromium = need("chromium")
    pages = sorted(outputs.rglob("*.html"))
    assert any(p.name == "summary.html" for p in pages) and any(p.parent.name == "statements" for p in pages)
    for page in pages:
        shot = tmp_path / (page.stem + ".png")
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=600,1200",
             "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", page.as_uri()],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Uncaught" not in proc.stderr and "CONSOLE" not in proc.stderr, proc.stderr[-2000:]
        rows = png_rows(shot.read_bytes())
        assert len(set(rows)) > 20, f"{page.name} rendered as a blank page"


def test_libreoffice_opens_and_converts_every_output_workbook(outputs, tmp_path):
    soffice = need("soffice")
    books = sorted(p for p in outputs.rglob("*.xlsx"))
    assert any(p.name.startswith("settlement-") for p in books)
    assert any(p.parent.name == "annotated" for p in books)
    out = tmp_path / "converted"
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(out), *map(str, books)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for book in books:
        pdf = out / (book.stem + ".pdf")
        assert pdf.exists() and pdf.stat().st_size > 1000, f"LibreOffice could not convert {book.name}"


def test_libreoffice_reads_a_large_input_copy_with_its_annotations(tmp_path):
    """The copy made for large inputs (input parts kept, sheets, comments and fills added as
    XML): LibreOffice re-saves it with the same sheets, values, comments and fills."""
    import openpyxl
    from test_annotate import AMBER, RED, cell_values, diagnostics, make_input, results
    from perfsettle.outputs.annotate import write_annotated

    soffice = need("soffice")
    src = make_input(tmp_path / "in.xlsx")
    copy = write_annotated(src, tmp_path / "copy" / "in.annotated.xlsx", diagnostics(), results(),
                           max_full_load_cells=0)
    out = tmp_path / "resaved"
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless", "--norestore",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(copy)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resaved = out / copy.name
    wb, again = openpyxl.load_workbook(copy), openpyxl.load_workbook(resaved)
    assert again.sheetnames == wb.sheetnames
    assert "weights-sum" in again["KPIs"]["H3"].comment.text
    assert again["KPIs"]["H3"].fill.fgColor.rgb == RED
    assert again["Contracts"]["I2"].fill.fgColor.rgb == AMBER
    for name in ("KPIs", "Readings", "Notes", "Règlement", "Résultats KPI"):
        assert cell_values(resaved, name) == cell_values(copy, name), name
