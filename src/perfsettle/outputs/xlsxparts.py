"""SpreadsheetML parts written as text: several times faster and leaner than a cell-by-cell writer.

An annotated copy of a large input keeps the input's parts as they are and only adds to
them (``add_to_workbook``): new sheets for the tables, comments and fills on the cells with
findings, and the styles they need appended to the workbook's own ``styles.xml``. The tables
are written row by row as XML text straight into the zip, so a 500,000-row sheet costs
neither an object per cell nor the whole sheet in memory.

The close workbook is a new workbook of such tables (``write_workbook``), written by the
same code: the result sheets of an annotated copy and of the close look and read alike
(the close's pages keep Excel's default margins).

Anything this module does not know how to edit safely (a sheet that already has comments,
rows or cells without references, an unusual package layout) raises ``Unsupported``; the
caller then writes a values-only copy instead.
"""
from __future__ import annotations

import datetime as _dt
import html
import math
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

from perfsettle.infra import ooxml

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = ooxml.REL_NS
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_SHEET = REL + "/worksheet"
REL_STYLES = REL + "/styles"
REL_COMMENTS = REL + "/comments"
REL_VML = REL + "/vmlDrawing"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
MAX_TEXT = 32_767
FORMULA_START = ("=", "+", "-", "@")
WIDTH_SAMPLE = 2_000   # rows looked at to size the columns of a table
TEXT_CACHE = 200_000   # distinct texts of a table kept escaped, at most
# How a table sheet prints: landscape, as wide as one page, as many pages down as it takes
# (the header row is repeated on each by a _xlnm.Print_Titles name in workbook.xml). The
# sheets added to an input print with narrow margins; a new workbook's, with Excel's own.
_PAGE_SETUP = '<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
PRINT_LAYOUT = ('<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
                + _PAGE_SETUP)
EXCEL_PRINT_LAYOUT = ('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
                      'footer="0.3"/>' + _PAGE_SETUP)

_RAW_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")   # in a part: not well-formed XML
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10}


class Unsupported(Exception):
    """A workbook this module does not edit; the caller writes a values-only copy instead."""


class Cell(NamedTuple):
    """A cell value with a number format and/or an internal link (e.g. ``'KPIs'!F7``)."""
    value: object
    fmt: str | None = None
    link: str | None = None


@dataclass
class Table:
    """A sheet to add: a header row, then rows of plain values or ``Cell``s (any iterable)."""
    title: str
    headers: list[str]
    rows: Iterable[Sequence[object]]


@dataclass
class Note:
    """A comment and a fill for one input cell (0-based row and column)."""
    row: int
    col: int
    text: str
    fill: str          # ARGB, e.g. FFFFC7CE


@dataclass
class Edits:
    """What to add to an existing workbook."""
    tables: list[Table]
    notes: dict[str, list[Note]] = field(default_factory=dict)   # sheet title -> notes
    author: str = "perfsettle"
    select: str | None = None    # the title of the sheet to open on (None: leave as is)


col_letters = ooxml.col_letters     # 0 -> A, 25 -> Z, 26 -> AA
col_index = ooxml.col_index         # A -> 0


_COLS = [col_letters(i) for i in range(702)]
_CELL_OPEN = ['<c r="' + col for col in _COLS]   # a cell element up to its row number


def clean(text: str) -> str:
    """Text a cell can hold: no characters XML forbids, at most 32,767 characters."""
    return _ILLEGAL.sub("", text)[:MAX_TEXT]


def escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def attr(text: str) -> str:
    return escape(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


# --------------------------------------------------------------------------- styles

_MINIMAL_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
    '<family val="2"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/>'
    '<right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" '
    'fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" '
    'fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle '
    'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


class Styles:
    """The cell styles of a ``styles.xml``: existing entries kept, new ones appended."""

    def __init__(self, xml: bytes | None):
        self.text = _MINIMAL_STYLES if xml is None else xml.decode("utf-8")
        m = re.search(r"<(\w+:)?styleSheet\b", self.text)
        if m is None:
            raise Unsupported("styles.xml has no styleSheet")
        self.p = p = m.group(1) or ""
        self.sections = {}
        for name, item in (("fonts", "font"), ("fills", "fill"), ("cellXfs", "xf")):
            sec = re.search(rf"<{p}{name}\b[^>]*?(/?)>(.*?)(?:</{p}{name}>|$)", self.text, re.S)
            if sec is None or sec.group(1):
                raise Unsupported(f"styles.xml has no {name}")
            body = sec.group(2)
            items = re.findall(rf"<{p}{item}\b[^>]*?/>|<{p}{item}\b[^>]*?>.*?</{p}{item}>", body, re.S)
            self.sections[name] = (len(items), items)
        self.xfs = self.sections["cellXfs"][1]
        self.formats = {}   # format code -> id, whatever the order of the attributes
        for element in re.findall(rf"<{p}numFmt\b[^>]*>", self.text):
            ident = re.search(r'\snumFmtId="(\d+)"', element)
            code = re.search(r'\sformatCode="([^"]*)"', element)
            if ident and code:
                self.formats[html.unescape(code.group(1))] = int(ident.group(1))
        self.new = {"numFmts": [], "fonts": [], "fills": [], "cellXfs": []}
        self.cache: dict[tuple, int] = {}

    def _count(self, name: str) -> int:
        return self.sections[name][0] + len(self.new[name])

    def _add(self, name: str, element: str) -> int:
        self.new[name].append(element)
        return self._count(name) - 1

    def _num(self, code: str | None) -> int:
        if not code or code == "General":
            return 0
        if code in _BUILTIN_FORMATS:
            return _BUILTIN_FORMATS[code]
        key = ("num", code)
        if key not in self.cache:
            if code in self.formats:
                self.cache[key] = self.formats[code]
            else:
                ident = max([163, *self.formats.values(), *(i for i, _ in self.new["numFmts"])]) + 1
                self.new["numFmts"].append((ident, code))
                self.cache[key] = ident
        return self.cache[key]

    def _fill(self, argb: str) -> int:
        key = ("fill", argb)
        if key not in self.cache:
            p = self.p
            self.cache[key] = self._add("fills", f'<{p}fill><{p}patternFill patternType="solid">'
                                        f'<{p}fgColor rgb="{argb}"/><{p}bgColor indexed="64"/>'
                                        f'</{p}patternFill></{p}fill>')
        return self.cache[key]

    def _font(self, kind: str) -> int:
        key = ("font", kind)
        if key not in self.cache:
            p = self.p
            inner = f"<{p}b/>" if kind == "bold" else f'<{p}u/>'
            color = f'<{p}color rgb="FF0563C1"/>' if kind == "link" else ""
            self.cache[key] = self._add("fonts", f'<{p}font>{inner}<{p}sz val="11"/>{color}'
                                        f'<{p}name val="Calibri"/><{p}family val="2"/></{p}font>')
        return self.cache[key]

    def style(self, *, fmt: str | None = None, bold_fill: str | None = None, link: bool = False,
              quote: bool = False) -> int:
        """A new cell style (index into cellXfs) for a table cell; 0 when nothing is needed."""
        key = ("xf", fmt, bold_fill, link, quote)
        if key not in self.cache:
            if not (fmt or bold_fill or link or quote):
                return 0
            num = self._num(fmt)
            font = self._font("bold") if bold_fill else self._font("link") if link else 0
            fill = self._fill(bold_fill) if bold_fill else 0
            attrs = f'numFmtId="{num}" fontId="{font}" fillId="{fill}" borderId="0" xfId="0"'
            attrs += ' applyNumberFormat="1"' * bool(num) + ' applyFont="1"' * bool(font)
            attrs += ' applyFill="1"' * bool(fill) + ' quotePrefix="1"' * quote
            self.cache[key] = self._add("cellXfs", f"<{self.p}xf {attrs}/>")
        return self.cache[key]

    def filled(self, base: int, argb: str) -> int:
        """Cell style ``base`` with a solid fill instead of its own."""
        key = ("filled", base, argb)
        if key not in self.cache:
            fill = self._fill(argb)
            xf = self.xfs[base] if 0 <= base < len(self.xfs) else f'<{self.p}xf numFmtId="0" fontId="0" borderId="0" xfId="0"/>'
            m = re.match(r"<(\w+:)?xf\b([^>]*?)(/?)>", xf)
            attrs = re.sub(r'\s(?:fillId|applyFill)="[^"]*"', "", m.group(2))
            self.cache[key] = self._add("cellXfs", f'<{self.p}xf{attrs} fillId="{fill}" applyFill="1"{m.group(3)}>'
                                        + xf[m.end():])
        return self.cache[key]

    def to_bytes(self) -> bytes:
        text, p = self.text, self.p
        for name in ("fonts", "fills", "cellXfs"):
            if not self.new[name]:
                continue
            count = self._count(name)
            m = re.search(rf"<{p}{name}\b([^>]*)>", text)
            opening = re.sub(r'\scount="\d*"', "", m.group(0)[:-1]) + f' count="{count}">'
            close = text.index(f"</{p}{name}>", m.end())
            text = text[:m.start()] + opening + text[m.end():close] + "".join(self.new[name]) + text[close:]
        if self.new["numFmts"]:
            added = "".join(f'<{p}numFmt numFmtId="{i}" formatCode="{attr(code)}"/>' for i, code in self.new["numFmts"])
            m = re.search(rf"<{p}numFmts\b([^>]*?)(/?)>", text)
            if m is None:
                root = re.search(rf"<{p}styleSheet\b[^>]*>", text)
                text = (text[:root.end()] + f'<{p}numFmts count="{len(self.new["numFmts"])}">' + added
                        + f"</{p}numFmts>" + text[root.end():])
            else:
                count = len(self.formats) + len(self.new["numFmts"])
                opening = re.sub(r'\scount="\d*"', "", m.group(0).rstrip("/>").rstrip()) + f' count="{count}">'
                if m.group(2):
                    text = text[:m.start()] + opening + added + f"</{p}numFmts>" + text[m.end():]
                else:
                    close = text.index(f"</{p}numFmts>", m.end())
                    text = text[:m.start()] + opening + text[m.end():close] + added + text[close:]
        return text.encode("utf-8")


# --------------------------------------------------------------------------- table sheets

def column_widths(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[float]:
    """Column widths (in characters) that fit the headers and the given rows: a number as
    ``1,234.57``, any other value as its longest line, between 8 and 60 characters.

    A number's width grows with its magnitude, so only each column's largest and most
    negative numbers are formatted; a text no longer than the width so far is not looked into.
    """
    n = len(headers)
    widths = [len(h) for h in headers]
    high, low = [0.0] * n, [0.0] * n
    for row in rows:
        for i, v in zip(range(n), row):
            t = type(v)
            if t is Cell:
                v = v.value
                t = type(v)
            if t is str:
                text = v
            elif t is float or isinstance(v, float):
                if v > high[i]:
                    if v != math.inf:
                        high[i] = v
                elif v < low[i]:
                    if v != -math.inf:
                        low[i] = v
                continue
            elif v is None:
                continue
            else:
                text = str(v)
            if len(text) > widths[i]:
                widths[i] = max(widths[i], max((len(line) for line in text.splitlines()), default=0))
    for i in range(n):
        for v in (high[i], low[i]):
            if v:
                widths[i] = max(widths[i], len(f"{v:,.2f}"))
    return [min(max(w + 2, 8), 60) for w in widths]


def _inline(ref: str, text: str, s: int) -> str:
    return f'<c r="{ref}' + _text_tail(text, s)


def _text_tail(text: str, s: int) -> str:
    """What follows ``<c r="A1`` in an inline-text cell of style ``s``: the text cleaned and escaped."""
    text = clean(text)
    style = f' s="{s}"' if s else ""
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'"{style} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def _serial(value: _dt.date, date1904: bool = False) -> float | int:
    """A date as the day number a sheet stores (1900 or 1904 date system)."""
    if not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    days = value - (_dt.datetime(1904, 1, 1) if date1904 else _dt.datetime(1899, 12, 30))
    n = days.days + days.seconds / 86400
    return int(n) if n == int(n) else n


def excel_width(chars: float) -> float:
    """The width Excel stores for a column that shows ``chars`` (≥ 1) characters of Calibri 11:
    7-pixel digits and 5 pixels of padding, in 1/256ths of a character (as xlsxwriter writes it)."""
    return int((int(chars * 7 + 0.5) + 5) / 7 * 256) / 256


def write_table(out, table: Table, styles: Styles, *, selected: bool = False, header_fill: str = "FFD9E1F2",
                chunk_rows: int = 2_000, date1904: bool = False, widths: Sequence[float] | None = None,
                layout: str = PRINT_LAYOUT) -> None:
    """Write ``table`` as a worksheet part into the binary file ``out``: a bold header row on a
    fill, frozen, with an autofilter; strings as inline text (never formulas), numbers as the
    shortest exact decimal, ``Cell`` formats and internal links. Without ``widths`` the
    columns fit the headers and the first ``WIDTH_SAMPLE`` rows; ``layout`` is how it prints."""
    rows = iter(table.rows)
    sample = []
    if widths is None:
        for row in rows:
            sample.append(row)
            if len(sample) >= WIDTH_SAMPLE:
                break
        widths = column_widths(table.headers, sample)
    header_style = styles.style(bold_fill=header_fill)
    quote_style = styles.style(quote=True)
    cell_styles: dict[object, int] = {}   # number format, or (format, link) -> style
    links: list[tuple[str, str, str]] = []
    tab = ' tabSelected="1"' if selected else ""
    out.write((
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{MAIN}" xmlns:r="{REL}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
        f'<sheetViews><sheetView workbookViewId="0"'
        f'{tab}><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/><cols>'
        + "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, 1))
        + '</cols><sheetData><row r="1">'
        + "".join(_inline(f"{_COLS[c]}1", h, header_style) for c, h in enumerate(table.headers))
        + "</row>").encode("utf-8"))
    # Most texts of a table repeat (contract ids, names, statuses, reasons) and so do its
    # months: each is cleaned, escaped and converted once, then reused from these.
    texts: dict[str, str] = {}         # plain text -> what follows the cell reference
    serials: dict[object, str] = {}    # date -> its day number as written
    num_open = {0: '"><v>'}            # style -> what stands between the reference and the number
    # So do formatted values (the same pools, zeros, levels and months on many rows): a Cell
    # with no link, with the type of its value (1, 1.0 and True are equal), -> its cell's tail.
    formatted: dict[tuple[Cell, type], str] = {}
    r = 1
    buf: list[str] = []
    for row in _chain(sample, rows):
        r += 1
        rs = str(r)
        parts = ['<row r="', rs, '">']
        for c, v in enumerate(row):
            t = type(v)
            if t is str:
                if not v:
                    continue
                tail = texts.get(v)
                if tail is None:
                    tail = _text_tail(v, quote_style if v.startswith(FORMULA_START) else 0)
                    if len(texts) < TEXT_CACHE:
                        texts[v] = tail
                parts += (_CELL_OPEN[c], rs, tail)
                continue
            if v is None:
                continue
            s = 0
            cell = None
            if t is Cell:
                tail = formatted.get((v, type(v[0])))
                if tail is not None:
                    parts += (_CELL_OPEN[c], rs, tail)
                    continue
                cell = v
                v, fmt, link = v
                key = (fmt, link) if link else fmt
                s = cell_styles.get(key)
                if s is None:
                    s = cell_styles[key] = styles.style(fmt=fmt, link=bool(link))
                if link:
                    links.append((f"{_COLS[c]}{rs}", link, str(v)))
                t = type(v)
                if v is None or v == "":
                    continue
                if t is str:
                    parts += (_CELL_OPEN[c], rs, _text_tail(v, s))
                    continue
            elif v == "":
                continue
            opening = num_open.get(s)
            if opening is None:
                opening = num_open[s] = f'" s="{s}"><v>'
            if t is float and math.isfinite(v) or t is int:
                number = repr(v) if v else "0" if t is int else "0.0"    # never a negative zero
                if cell is None:
                    parts += (_CELL_OPEN[c], rs, opening, number, "</v></c>")
                    continue
                tail = opening + number + "</v></c>"
            elif t is _dt.date or t is _dt.datetime:
                serial = serials.get(v)
                if serial is None:
                    serial = serials[v] = repr(_serial(v, date1904))
                if cell is None:
                    parts += (_CELL_OPEN[c], rs, opening, serial, "</v></c>")
                    continue
                tail = opening + serial + "</v></c>"
            elif t is bool:
                parts += (_CELL_OPEN[c], rs, opening[:-4], ' t="b"><v>', str(int(v)), "</v></c>")
                continue
            else:
                parts += (_CELL_OPEN[c], rs, _text_tail(str(v), s))
                continue
            if not link and len(formatted) < TEXT_CACHE:
                formatted[(cell, t)] = tail
            parts += (_CELL_OPEN[c], rs, tail)
        parts.append("</row>")
        buf.append("".join(parts))
        if len(buf) >= chunk_rows:
            out.write("".join(buf).encode("utf-8"))
            buf.clear()
    last = _COLS[max(len(table.headers), 1) - 1]
    tail = "".join(buf) + f'</sheetData><autoFilter ref="A1:{last}{max(r, 2)}"/>'
    if links:
        tail += "<hyperlinks>" + "".join(
            f'<hyperlink ref="{ref}" location="{attr(loc)}" display="{attr(clean(text))}"/>'
            for ref, loc, text in links) + "</hyperlinks>"
    out.write((tail + layout + "</worksheet>").encode("utf-8"))


def _chain(first: list, rest):
    yield from first
    yield from rest


# --------------------------------------------------------------------------- comments

def comments_part(notes: Sequence[Note], author: str) -> bytes:
    body = "".join(
        f'<comment ref="{_COLS[n.col]}{n.row + 1}" authorId="0"><text><r><rPr><sz val="9"/>'
        f'<rFont val="Tahoma"/><family val="2"/></rPr><t xml:space="preserve">{escape(clean(n.text))}</t>'
        f"</r></text></comment>" for n in notes)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<comments xmlns="{MAIN}">'
            f"<authors><author>{escape(author)}</author></authors><commentList>{body}</commentList>"
            "</comments>").encode("utf-8")


def vml_part(notes: Sequence[Note], first_block: int) -> bytes:
    """The legacy drawing Excel needs to show the comments (one shape per comment)."""
    blocks = range(first_block, first_block + 1 + len(notes) // 1024)
    shapes = []
    for i, n in enumerate(notes):
        lines = n.text.count("\n") + 1
        shapes.append(
            f'<v:shape id="_x0000_s{first_block * 1024 + i + 1}" type="#_x0000_t202" '
            'style="position:absolute;margin-left:59.25pt;margin-top:1.5pt;width:270pt;'
            f'height:{min(30 + 15 * lines, 300)}pt;z-index:{i + 1};visibility:hidden" fillcolor="#ffffe1" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"></div></v:textbox><x:ClientData ObjectType="Note">'
            f"<x:MoveWithCells/><x:SizeWithCells/><x:Anchor>{n.col + 1}, 15, {n.row}, 10, {n.col + 5}, 15, "
            f"{n.row + min(3 + lines, 20)}, 4</x:Anchor><x:AutoFill>False</x:AutoFill><x:Row>{n.row}</x:Row>"
            f"<x:Column>{n.col}</x:Column></x:ClientData></v:shape>")
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
            f'<o:idmap v:ext="edit" data="{",".join(map(str, blocks))}"/></o:shapelayout>'
            '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
            'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/><v:path gradientshapeok="t" '
            'o:connecttype="rect"/></v:shapetype>' + "".join(shapes) + "</xml>").encode("utf-8")


# --------------------------------------------------------------------------- editing a sheet

_ROW = r"<{p}row\b([^>]*?)(?:/>|>(.*?)</{p}row>)"
_CELL = r"<{p}c\b([^>]*?)(?:/>|>(.*?)</{p}c>)"
_R_ATTR = re.compile(rb'\sr="([A-Z]{0,3})([0-9]+)"')
_S_ATTR = re.compile(rb'\ss="(\d+)"')
# The children of <worksheet> and of <workbook>, in the order the schema fixes (ECMA-376).
WORKSHEET_ORDER = (
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
    "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations",
    "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
    "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing",
    "legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts",
    "extLst")
WORKBOOK_ORDER = (
    "fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
    "functionGroups", "externalReferences", "definedNames", "calcPr", "oleSize", "customWorkbookViews",
    "pivotCaches", "smartTagPr", "smartTagTypes", "webPublishing", "fileRecoveryPr",
    "webPublishObjects", "extLst")


def _prefix(xml: bytes, root: str) -> str:
    m = re.search(rb"<(\w+:)?" + root.encode() + rb"\b", xml[:4096])
    if m is None:
        raise Unsupported(f"no <{root}> element")
    return (m.group(1) or b"").decode()


def merged_ranges(xml: bytes, p: str) -> list[tuple[int, int, int, int]]:
    """(first row, first col, last row, last col), 0-based, of the sheet's merged cells."""
    out = []
    for m in re.finditer(rf'<{p}mergeCell\b[^>]*?ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"'.encode(), xml):
        c1, r1, c2, r2 = m.groups()
        out.append((int(r1) - 1, col_index(c1.decode()), int(r2) - 1, col_index(c2.decode())))
    return out


def mark_cells(xml: bytes, fills: dict[tuple[int, int], str], styles: Styles) -> bytes:
    """The sheet with each (row, col) of ``fills`` (0-based) given a solid fill, keeping the
    cell's own style otherwise; missing cells and rows are added in their place."""
    if not fills:
        return xml
    p = _prefix(xml, "worksheet")
    by_row: dict[int, dict[int, str]] = {}
    for (r, c), color in fills.items():
        by_row.setdefault(r + 1, {})[c] = color
    pending = sorted(by_row)

    def cell_xml(r: int, c: int, color: str) -> bytes:
        return f'<{p}c r="{_COLS[c]}{r}" s="{styles.filled(0, color)}"/>'.encode()

    def new_row(r: int) -> bytes:
        return (f'<{p}row r="{r}">'.encode() + b"".join(cell_xml(r, c, col) for c, col in sorted(by_row[r].items()))
                + f"</{p}row>".encode())

    def edit_row(m: re.Match) -> bytes:
        attrs = m.group(1)
        rm = re.search(rb'\sr="(\d+)"', attrs)
        if rm is None:
            raise Unsupported("a row without a reference")
        r = int(rm.group(1))
        before = b""
        while pending and pending[0] < r:
            before += new_row(pending.pop(0))
        if not pending or pending[0] != r:
            return before + m.group(0)
        pending.pop(0)
        wanted = dict(by_row[r])
        body = m.group(2) or b""

        def edit_cell(cm: re.Match) -> bytes:
            ref = _R_ATTR.search(cm.group(1))
            if ref is None:
                raise Unsupported("a cell without a reference")
            c = col_index(ref.group(1).decode())
            ins = b""
            for k in sorted(k for k in wanted if k < c):
                ins += cell_xml(r, k, wanted.pop(k))
            if c not in wanted:
                return ins + cm.group(0)
            color = wanted.pop(c)
            s = _S_ATTR.search(cm.group(1))
            style = styles.filled(int(s.group(1)) if s else 0, color)
            head = _S_ATTR.sub(b"", cm.group(1)) + f' s="{style}"'.encode()
            whole = cm.group(0)
            return ins + f"<{p}c".encode() + head + whole[len(f"<{p}c") + len(cm.group(1)):]

        body = re.sub(_CELL.format(p=p).encode(), edit_cell, body, flags=re.S)
        body += b"".join(cell_xml(r, k, col) for k, col in sorted(wanted.items()))
        return before + f"<{p}row".encode() + attrs + b">" + body + f"</{p}row>".encode()

    start = re.search(rf"<{p}sheetData\b[^>]*?(/?)>".encode(), xml)
    if start is None:
        raise Unsupported("no sheetData")
    if start.group(1):
        end = start.end()
        data = b"".join(new_row(r) for r in pending)
        return xml[:start.start()] + f"<{p}sheetData>".encode() + data + f"</{p}sheetData>".encode() + xml[end:]
    close = xml.index(f"</{p}sheetData>".encode(), start.end())
    data = re.sub(_ROW.format(p=p).encode(), edit_row, xml[start.end():close], flags=re.S)
    data += b"".join(new_row(r) for r in pending)
    return xml[:start.end()] + data + xml[close:]


_ATTRS = rb"""(?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*"""
_TAG = re.compile(rb"<(?:!--.*?-->|!\[CDATA\[.*?\]\]>|\?.*?\?>|!DOCTYPE[^>]*>|(/?)((?:[\w.-]+:)?)([\w.-]+)"
                  + _ATTRS + rb"(/?)>)", re.S)


def top_level(xml: bytes, root: str) -> tuple[list[tuple[str, int, int]], int, int]:
    """The children of the root element ``root``: (local name, start, end) of each, the end of
    the root's start tag and the start of its end tag. Nested elements (a ``<cfRule>``'s
    ``<extLst>``, a sheet view's) are inside their parent's span; ``<sheetData>`` is skipped
    in one step, whatever its size."""
    pos, depth, out = 0, 0, []
    open_at = name = None
    head = None
    while True:
        t = _TAG.search(xml, pos)
        if t is None:
            raise Unsupported(f"<{root}> is not well-formed")
        pos = t.end()
        if t.group(3) is None:            # comment, CDATA, processing instruction, doctype
            continue
        closing, prefix, local, empty = t.group(1), t.group(2), t.group(3).decode(), t.group(4)
        if head is None:
            if local != root or closing:
                raise Unsupported(f"no <{root}> element")
            head = t.end()
            if empty:
                raise Unsupported(f"an empty <{root}>")
            continue
        if depth == 0:
            if closing:
                return out, head, t.start()
            if empty:
                out.append((local, t.start(), t.end()))
            elif local == "sheetData":
                close = xml.find(b"</" + prefix + b"sheetData>", t.end())
                if close < 0:
                    raise Unsupported("sheetData is not closed")
                pos = close + len(prefix) + len("</sheetData>")
                out.append((local, t.start(), pos))
            else:
                open_at, name, depth = t.start(), local, 1
        elif closing:
            depth -= 1
            if depth == 0:
                out.append((name, open_at, t.end()))
        elif not empty:
            depth += 1


def insert_child(xml: bytes, root: str, name: str, element: bytes, order: Sequence[str]) -> bytes:
    """``xml`` with ``element`` (a child called ``name``) placed among the root's children
    where ``order`` puts it: after the last child that must come before it."""
    children, head, _ = top_level(xml, root)
    rank = order.index(name)
    at = head
    for local, _, end in children:
        if local in order and order.index(local) < rank:
            at = end
    return xml[:at] + element + xml[at:]


def child_span(xml: bytes, root: str, name: str) -> tuple[int, int] | None:
    """(start, end) of the root's first child called ``name``, or None."""
    for local, start, end in top_level(xml, root)[0]:
        if local == name:
            return start, end
    return None


def declare_relationships(xml: bytes, root: str) -> tuple[bytes, str]:
    """``xml`` with the relationships namespace declared on its root start tag (once, whatever
    the children declare themselves) and the prefix bound to it there."""
    m = re.search(rb"<(?:\w+:)?" + root.encode() + rb"\b" + _ATTRS + rb"/?>", xml)
    if m is None:
        raise Unsupported(f"no <{root}> element")
    tag = m.group(0)
    bound = re.search(rb"""\sxmlns:([\w.-]+)\s*=\s*["']""" + re.escape(REL.encode()) + rb"""["']""", tag)
    if bound:
        return xml, bound.group(1).decode()
    bindings = re.findall(rb"""xmlns:([\w.-]+)\s*=\s*["']([^"']*)["']""", xml)
    taken = {p.decode() for p, uri in bindings if uri != REL.encode()}   # bound to another namespace
    prefix = next(p for p in ("r", "rel", *(f"r{i}" for i in range(1, 100))) if p not in taken)
    end = len(tag) - (2 if tag.endswith(b"/>") else 1)
    new = tag[:end] + f' xmlns:{prefix}="{REL}"'.encode() + tag[end:]
    return xml[:m.start()] + new + xml[m.end():], prefix


def add_legacy_drawing(xml: bytes, rid: str) -> bytes:
    p = _prefix(xml, "worksheet")
    if any(local == "legacyDrawing" for local, _, _ in top_level(xml, "worksheet")[0]):
        raise Unsupported("the sheet already has comments")
    xml, rp = declare_relationships(xml, "worksheet")
    element = f'<{p}legacyDrawing {rp}:id="{rid}"/>'.encode()
    return insert_child(xml, "worksheet", "legacyDrawing", element, WORKSHEET_ORDER)


def relative_targets(rels_xml: bytes, rels_name: str, renamed: dict[str, str] | None = None) -> bytes:
    """A relationships part with every internal absolute target (``/xl/worksheets/sheet1.xml``,
    as openpyxl writes them) made relative to the folder of the part it belongs to, as Excel
    writes them and as every reader resolves them; a target named in ``renamed`` (old part ->
    new part) points to the new name."""
    renamed = renamed or {}
    folder, name = posixpath.split(rels_name)
    source = posixpath.join(posixpath.dirname(folder), name[:-len(".rels")]) if name != ".rels" else ""

    def fix(m: re.Match) -> bytes:
        element = m.group(0)
        if re.search(rb"""\sTargetMode\s*=\s*["']External["']""", element):
            return element
        t = re.search(rb"""(\sTarget\s*=\s*)(["'])([^"']*)\2""", element)
        if t is None:
            return element
        target = html.unescape(t.group(3).decode())
        part = ooxml.resolve(source, target)
        if not target.startswith("/") and part not in renamed:
            return element
        part = renamed.get(part, part)
        relative = ooxml.relative_target(source, part) if source else part
        return element[:t.start(3)] + attr(relative).encode() + element[t.end(3):]

    return re.sub(rb"<(?:\w+:)?Relationship\b" + _ATTRS + rb"/?>", fix, rels_xml)


def conventional_names(names: Sequence[str]) -> dict[str, str]:
    """New names for the comment parts openpyxl writes (``xl/comments/comment1.xml``,
    ``xl/drawings/commentsDrawing1.vml``): the names Excel gives them (``xl/comments1.xml``,
    ``xl/drawings/vmlDrawing1.vml``), which some readers require."""
    taken = set(names)
    out = {}
    for name in sorted(names):
        for old, new in ((r"xl/comments/comment(\d+)\.xml", "xl/comments{}.xml"),
                         (r"xl/drawings/commentsDrawing(\d+)\.vml", "xl/drawings/vmlDrawing{}.vml")):
            m = re.fullmatch(old, name)
            if m:
                wanted = new.format(m.group(1))
                out[name] = wanted if wanted.casefold() not in {n.casefold() for n in taken} \
                    else _free_part(taken, new)
                taken.add(out[name])
    return out


def renamed_content_types(xml: bytes, renamed: dict[str, str]) -> bytes:
    """[Content_Types].xml with the overrides of renamed parts following them."""
    for old, new in renamed.items():
        xml = re.sub(rb"""(PartName\s*=\s*["'])/""" + re.escape(old.encode()) + rb"""(["'])""",
                     lambda m, new=new: m.group(1) + b"/" + attr(new).encode() + m.group(2), xml, flags=re.I)
    return xml


# The children of a <font> in the order Excel writes them (and the Open XML SDK expects).
_FONT_ORDER = ("b", "i", "strike", "condense", "extend", "outline", "shadow", "u", "vertAlign", "sz",
               "color", "name", "family", "charset", "scheme")
_FONT = re.compile(rb"(<((?:\w+:)?)font\b" + _ATTRS + rb">)(.*?)(</\2font>)", re.S)
_EMPTY_CHILD = re.compile(rb"<(?:\w+:)?([\w]+)\b" + _ATTRS + rb"/>")


def fonts_in_order(styles_xml: bytes) -> bytes:
    """styles.xml with the children of each font in Excel's order (openpyxl writes the name
    first). A font whose children are not all empty elements is left as it is."""
    def fix(m: re.Match) -> bytes:
        body = m.group(3)
        children = list(_EMPTY_CHILD.finditer(body))
        if b"".join(c.group(0) for c in children) != body.strip() or \
                any(c.group(1).decode() not in _FONT_ORDER for c in children):
            return m.group(0)
        ordered = sorted(children, key=lambda c: _FONT_ORDER.index(c.group(1).decode()))
        return m.group(1) + b"".join(c.group(0) for c in ordered) + m.group(4)
    return _FONT.sub(fix, styles_xml)


def unselect(xml: bytes) -> bytes:
    """The sheet with ``tabSelected`` removed from its sheet views (looked for near the top)."""
    head = xml[:65536]
    new = re.sub(rb'(<(?:\w+:)?sheetView\b[^>]*?)\stabSelected="(?:1|true)"', rb"\1", head)
    return xml if new == head else new + xml[65536:]


# --------------------------------------------------------------------------- the package

_rels_path = ooxml.rels_path


def _relationships(xml: bytes | None) -> list[tuple[str, str, str]]:
    """(Id, Type, Target) of a .rels part."""
    if xml is None:
        return []
    out = []
    for m in re.finditer(rb"<(?:\w+:)?Relationship\b([^>]*?)/?>", xml):
        a = dict((k.decode(), v.decode()) for k, v in re.findall(rb'(\w+)="([^"]*)"', m.group(1)))
        out.append((a.get("Id", ""), a.get("Type", ""), a.get("Target", "")))
    return out


def _add_relationships(xml: bytes | None, new: list[tuple[str, str, str]]) -> bytes:
    items = "".join(f'<Relationship Id="{i}" Type="{t}" Target="{attr(target)}"/>' for i, t, target in new)
    if xml is None:
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PKG_REL}">'
                f"{items}</Relationships>").encode()
    m = re.search(rb"<(\w+:)?Relationships\b[^>]*?(/?)>", xml)
    if m is None:
        raise Unsupported("a relationships part without Relationships")
    p = (m.group(1) or b"").decode()
    if p:
        items = items.replace("<Relationship ", f"<{p}Relationship ")
    if m.group(2):
        return xml[:m.start()] + m.group(0)[:-2].rstrip() + b">" + items.encode() + f"</{p}Relationships>".encode() + xml[m.end():]
    close = xml.rindex(f"</{p}Relationships>".encode())
    return xml[:close] + items.encode() + xml[close:]


def _free_id(taken: set[str], stem: str) -> str:
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    taken.add(f"{stem}{n}")
    return f"{stem}{n}"


def _free_part(names: set[str], pattern: str) -> str:
    """The conventional name ``pattern`` with the first free number (part names compare
    without regard to case); the name is taken."""
    folded = {n.casefold() for n in names}
    n = 1
    while pattern.format(n).casefold() in folded:
        n += 1
    names.add(pattern.format(n))
    return pattern.format(n)


def _content_types(xml: bytes, overrides: list[tuple[str, str]], vml: bool) -> bytes:
    m = re.search(rb"<(\w+:)?Types\b", xml)
    if m is None:
        raise Unsupported("no content types")
    p = (m.group(1) or b"").decode()
    add = "".join(f'<{p}Override PartName="/{attr(name)}" ContentType="{ct}"/>' for name, ct in overrides)
    if vml and not re.search(rb'Extension="vml"', xml, re.I):
        add = f'<{p}Default Extension="vml" ContentType="{CT_VML}"/>' + add
    close = xml.rindex(f"</{p}Types>".encode())
    return xml[:close] + add.encode() + xml[close:]


def sheet_parts(z: zipfile.ZipFile) -> tuple[str, list[tuple[str, str, bool]]]:
    """The workbook part and its worksheets: (title, part, hidden), in tab order."""
    try:
        book, sheets = ooxml.sheet_parts(z)
    except ooxml.PackageError as exc:
        raise Unsupported(str(exc)) from exc
    return book, [(s.title, s.part, s.hidden) for s in sheets]


def _unescape(text: str) -> str:
    return html.unescape(text)


def _read_clean(z: zipfile.ZipFile, name: str) -> bytes:
    data = z.read(name)
    if _RAW_ILLEGAL.search(data):
        raise Unsupported(f"{name} holds characters XML does not allow")
    return data


def _read(z: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return z.read(name)
    except KeyError:
        return None


def add_to_workbook(src, out, edits: Edits, *, compresslevel: int = 1) -> list[str]:
    """Copy the workbook ``src`` to ``out`` with ``edits``; return the titles of the sheets added
    (in the order of ``edits.tables``). Untouched parts are copied as they are."""
    with zipfile.ZipFile(src) as z:
        names = set(z.namelist())
        book, sheets = sheet_parts(z)
        titles = [t for t, _, _ in sheets]
        part_of = {t: part for t, part, _ in sheets}
        book_xml = _read_clean(z, book)
        if b"purl.oclc.org/ooxml" in book_xml[:4096]:
            raise Unsupported("a Strict Open XML workbook")
        p = _prefix(book_xml, "workbook")
        date1904 = bool(re.search(rb"""<(?:\w+:)?workbookPr\b[^>]*\sdate1904\s*=\s*["'](?:1|true)["']""", book_xml))
        book_rels_name = _rels_path(book)
        book_rels = _read(z, book_rels_name)
        rel_items = _relationships(book_rels)
        rel_ids = {i for i, _, _ in rel_items}
        styles_target = next((t for _, typ, t in rel_items if typ.endswith("/styles")), None)
        styles_part = ooxml.resolve(book, styles_target) if styles_target else None
        styles = Styles(_read_clean(z, styles_part) if styles_part and styles_part in names else None)

        # comments and fills on the input sheets
        replaced: dict[str, bytes] = {}
        overrides: list[tuple[str, str]] = []
        block = 100   # VML shape-id blocks, clear of the ones a workbook's own comments use
        for title, notes in edits.notes.items():
            if title in part_of and notes:
                parts, comments = _sheet_notes(z, part_of[title], notes, styles, names, edits.author, block)
                replaced.update(parts)
                overrides.append((comments, CT_COMMENTS))
                block += 1 + len(notes) // 1024

        # the new sheets (and a styles part if the workbook had none)
        new_rels: list[tuple[str, str, str]] = []
        taken = {t.casefold() for t in titles}
        table_parts = []
        for table in edits.tables:
            if table.title.casefold() in taken:
                raise Unsupported(f"a sheet is already called {table.title}")
            taken.add(table.title.casefold())
            part = _free_part(names, "xl/worksheets/sheet{}.xml")
            rid = _free_id(rel_ids, "rIdPs")
            new_rels.append((rid, REL_SHEET, posixpath.relpath(part, posixpath.dirname(book))))
            overrides.append((part, CT_SHEET))
            table_parts.append((table, part, rid))
        if styles_part is None:
            styles_part = ("xl/styles.xml" if "xl/styles.xml" not in {n.casefold() for n in names}
                           else _free_part(names, "xl/styles{}.xml"))
            new_rels.append((_free_id(rel_ids, "rIdPs"), REL_STYLES,
                             posixpath.relpath(styles_part, posixpath.dirname(book))))
            overrides.append((styles_part, CT_STYLES))
        first_new = len(_all_sheet_names(book_xml))
        book_xml = _add_sheet_entries(book_xml, p, [(t.title, rid) for t, _, rid in table_parts])
        book_xml = _add_print_titles(book_xml, p, [(first_new + i, t.title) for i, (t, _, _) in
                                                   enumerate(table_parts)])

        # the tab to open on: no other sheet stays selected
        unselected: set[str] = set()
        if edits.select is not None:
            order = _all_sheet_names(book_xml)
            if edits.select in order:
                book_xml = _set_active(book_xml, p, order.index(edits.select))
            for t in titles:
                part = part_of[t]
                if part in replaced:
                    replaced[part] = unselect(replaced[part])
                else:
                    unselected.add(part)      # done on its first chunk while it is copied
        replaced[book] = book_xml
        replaced[book_rels_name] = _add_relationships(book_rels, new_rels)
        replaced["[Content_Types].xml"] = _content_types(_read_clean(z, "[Content_Types].xml"), overrides,
                                                         vml=bool(edits.notes))

        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as w:
            for info in z.infolist():
                if info.filename in replaced or info.filename == styles_part or z.getinfo(info.filename) is not info:
                    continue   # replaced, written last, or an earlier duplicate of a part
                _copy_part(z, info, w, info.filename in unselected)
            for name, data in replaced.items():
                w.writestr(_new_info(name, compresslevel), data)
            for table, part, _ in table_parts:
                with w.open(_new_info(part, compresslevel), "w") as g:      # standard entries, no zip64
                    write_table(g, table, styles, selected=(table.title == edits.select), date1904=date1904)
            w.writestr(_new_info(styles_part, compresslevel), fonts_in_order(styles.to_bytes()))   # last: the tables add styles
    return [t.title for t, _, _ in table_parts]


CT_WORKBOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
REL_DOCUMENT = REL + "/officeDocument"


def write_workbook(out, tables: Sequence[Table], *, compresslevel: int = 1) -> None:
    """Write a new workbook of table sheets (``write_table``, each table's rows a list) to ``out``.

    The package holds only what a workbook needs: content types, the workbook with each
    sheet's print titles, its relationships, the styles the tables use, the sheets; the
    first sheet is the one open. Columns fit every row, in Excel's stored widths; pages have
    Excel's default margins. Nothing in it depends on the clock: the same tables give the
    same bytes.
    """
    names = [f"xl/worksheets/sheet{i}.xml" for i in range(1, len(tables) + 1)]
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{CT_WORKBOOK}"/>'
        + "".join(f'<Override PartName="/{name}" ContentType="{CT_SHEET}"/>' for name in names)
        + f'<Override PartName="/xl/styles.xml" ContentType="{CT_STYLES}"/></Types>')
    package_rels = _add_relationships(None, [("rId1", REL_DOCUMENT, "xl/workbook.xml")])
    book_rels = _add_relationships(None, [(f"rId{i}", REL_SHEET, posixpath.relpath(name, "xl"))
                                          for i, name in enumerate(names, 1)]
                                   + [(f"rId{len(names) + 1}", REL_STYLES, "styles.xml")])
    book = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        + "".join(f'<sheet name="{attr(t.title)}" sheetId="{i}" r:id="rId{i}"/>' for i, t in enumerate(tables, 1))
        + "</sheets><definedNames>"
        + "".join(f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">{escape(_quoted(t.title))}!$1:$1'
                  "</definedName>" for i, t in enumerate(tables))
        + "</definedNames></workbook>")
    styles = Styles(None)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as w:
        for name, text in (("[Content_Types].xml", content_types), ("_rels/.rels", package_rels),
                           ("xl/workbook.xml", book), ("xl/_rels/workbook.xml.rels", book_rels)):
            w.writestr(_new_info(name, compresslevel), text)
        for i, (table, name) in enumerate(zip(tables, names)):
            widths = [excel_width(chars) for chars in column_widths(table.headers, table.rows)]
            with w.open(_new_info(name, compresslevel), "w") as g:
                write_table(g, table, styles, selected=(i == 0), widths=widths, layout=EXCEL_PRINT_LAYOUT)
        w.writestr(_new_info("xl/styles.xml", compresslevel), styles.to_bytes())   # last: the tables add styles


def _sheet_notes(z: zipfile.ZipFile, part: str, notes: Sequence[Note], styles: Styles, names: set[str],
                 author: str, block: int) -> tuple[dict[str, bytes], str]:
    """The parts that put ``notes`` on one sheet: the sheet with its fills and a legacy
    drawing, its relationships, a comments part and a VML drawing; and the comments part's name."""
    xml = _read_clean(z, part)
    merged = merged_ranges(xml, _prefix(xml, "worksheet"))
    placed: dict[tuple[int, int], Note] = {}
    for n in notes:
        r, c = n.row, n.col
        for r1, c1, r2, c2 in merged:       # a note inside a merged range goes to its first cell
            if r1 <= r <= r2 and c1 <= c <= c2:
                r, c = r1, c1
                break
        prev = placed.get((r, c))
        placed[(r, c)] = Note(r, c, n.text, n.fill) if prev is None else Note(
            r, c, prev.text + "\n\n" + n.text, prev.fill if prev.fill == n.fill else "FFFFC7CE")
    notes = [placed[k] for k in sorted(placed)]
    xml = mark_cells(xml, {(n.row, n.col): n.fill for n in notes}, styles)
    rels_name = _rels_path(part)
    rels = _read(z, rels_name)
    ids = {i for i, _, _ in _relationships(rels)}
    comments = _free_part(names, "xl/comments{}.xml")
    vml = _free_part(names, "xl/drawings/vmlDrawing{}.vml")
    rid_c, rid_v = _free_id(ids, "rIdPs"), _free_id(ids, "rIdPs")
    folder = posixpath.dirname(part)
    return {part: add_legacy_drawing(xml, rid_v),
            rels_name: _add_relationships(rels, [(rid_c, REL_COMMENTS, posixpath.relpath(comments, folder)),
                                                 (rid_v, REL_VML, posixpath.relpath(vml, folder))]),
            comments: comments_part(notes, author),
            vml: vml_part(notes, block)}, comments


def _add_sheet_entries(book_xml: bytes, p: str, sheets: list[tuple[str, str]]) -> bytes:
    """workbook.xml with a <sheet> for each (title, relationship id), after the existing ones;
    the relationships namespace is declared once, on the root."""
    ids = [int(x) for x in re.findall(rb'<(?:\w+:)?sheet\b[^>]*?\ssheetId="(\d+)"', book_xml)]
    next_id = max(ids, default=0) + 1
    book_xml, rp = declare_relationships(book_xml, "workbook")
    entries = "".join(f'<{p}sheet name="{attr(title)}" sheetId="{next_id + i}" {rp}:id="{rid}"/>'
                      for i, (title, rid) in enumerate(sheets))
    span = child_span(book_xml, "workbook", "sheets")
    if span is None or book_xml[span[1] - 2:span[1]] == b"/>":
        raise Unsupported("no sheets element")
    close = book_xml.rindex(b"<", span[0], span[1])
    return book_xml[:close] + entries.encode() + book_xml[close:]


def _add_print_titles(book_xml: bytes, p: str, sheets: list[tuple[int, str]]) -> bytes:
    """workbook.xml with the first row of each (sheet index, title) repeated on every printed
    page (a ``_xlnm.Print_Titles`` defined name)."""
    if not sheets:
        return book_xml
    names = "".join(f'<{p}definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
                    f"{escape(_quoted(title))}!$1:$1</{p}definedName>" for i, title in sheets).encode()
    span = child_span(book_xml, "workbook", "definedNames")
    if span is None:
        return insert_child(book_xml, "workbook", "definedNames",
                            f"<{p}definedNames>".encode() + names + f"</{p}definedNames>".encode(),
                            WORKBOOK_ORDER)
    start, end = span
    if book_xml[end - 2:end] == b"/>":
        opening = book_xml[start:end - 2].rstrip() + b">"
        return (book_xml[:start] + opening + names + f"</{p}definedNames>".encode() + book_xml[end:])
    close = book_xml.rindex(b"<", start, end)
    return book_xml[:close] + names + book_xml[close:]


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _copy_part(z: zipfile.ZipFile, info: zipfile.ZipInfo, w: zipfile.ZipFile, unselect_it: bool) -> None:
    """One part copied in 1 MiB chunks; an XML part must be free of characters XML forbids."""
    xml = info.filename.endswith((".xml", ".rels", ".vml"))
    # zip64 only for a part too large for a standard entry (then both headers carry it)
    with z.open(info) as f, w.open(_copy_info(info, w.compresslevel), "w", force_zip64=info.file_size >= zipfile.ZIP64_LIMIT) as g:
        first = True
        while chunk := f.read(1 << 20):
            if xml and _RAW_ILLEGAL.search(chunk):
                raise Unsupported(f"{info.filename} holds characters XML does not allow")
            if first and unselect_it:
                chunk = unselect(chunk)
            first = False
            g.write(chunk)


def _all_sheet_names(book_xml: bytes) -> list[str]:
    return [_unescape(m.group(1).decode()) for m in
            re.finditer(rb'<(?:\w+:)?sheet\b[^>]*?\sname="([^"]*)"', book_xml)]


def _set_active(book_xml: bytes, p: str, index: int) -> bytes:
    span = child_span(book_xml, "workbook", "bookViews")
    m = re.compile(rf"<{p}workbookView\b([^>]*?)(/?)>".encode()).search(book_xml, *span) if span else None
    if m is None:
        if span is not None:
            raise Unsupported("a bookViews element without a workbookView")
        views = f'<{p}bookViews><{p}workbookView activeTab="{index}"/></{p}bookViews>'.encode()
        return insert_child(book_xml, "workbook", "bookViews", views, WORKBOOK_ORDER)
    attrs = re.sub(rb'\s(?:activeTab|firstSheet)="\d*"', b"", m.group(1))
    return (book_xml[:m.start()] + f"<{p}workbookView".encode() + attrs + f' activeTab="{index}"'.encode()
            + m.group(2) + b">" + book_xml[m.end():])


def _copy_info(info: zipfile.ZipInfo, level: int) -> zipfile.ZipInfo:
    return _deflated(zipfile.ZipInfo(info.filename, info.date_time), level, info.external_attr)


def _new_info(name: str, level: int) -> zipfile.ZipInfo:
    return _deflated(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), level, 0o644 << 16)


def _deflated(info: zipfile.ZipInfo, level: int, external_attr: int) -> zipfile.ZipInfo:
    """``info`` deflated at ``level``. zipfile takes the level of an entry written from a
    ZipInfo from the ZipInfo itself, not from the archive (Python 3.13 names it
    ``compress_level``; before, only the attribute below exists): without it, level 6."""
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = level
    info.external_attr = external_attr
    return info
