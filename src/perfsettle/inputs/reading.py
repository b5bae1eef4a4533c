"""Intake: which inbox files to take, and reading a workbook into raw cell grids.

``read_raw`` reads only the sheets that SPEC §2 names (by name or alias), as python-calamine
returns them, plus the cells whose value a reader cannot give: Excel error cells (``#N/A``)
and formulas saved without a cached value. Those are flagged so that validation reports them
at their cell instead of reading them as blank.

A sheet's cells are kept by column, each distinct value once (:class:`Grid`): a sheet of
500,000 readings repeats the same contract ids, KPI ids, months and statuses on every row.
The reader runs in a child process (``preflight.safe_read``), and this form is what comes
back through the pipe: a few arrays of small integers and the distinct values, instead of a
Python object per cell. Validation converts each distinct value once.
"""
from __future__ import annotations

import datetime as dt
import gc
import math
import os
import re
import stat
import time
import zipfile
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from perfsettle.core import schema
from perfsettle.infra import ooxml

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods")
OOXML = (".xlsx", ".xlsm")


@dataclass(frozen=True)
class Column:
    """One column of a sheet: each distinct cell value once, and for each row its index.

    The cell at row r is ``values[codes[r]]``. Two cells share an entry only when they hold
    the same value of the same type (1, 1.0 and True stay three entries; so do 0.0 and -0.0).
    """
    values: list
    codes: array


@dataclass(frozen=True)
class Grid:
    """A sheet's cells from A1, by column; every row has ``len(columns)`` cells."""
    height: int
    columns: tuple[Column, ...]

    @classmethod
    def from_rows(cls, rows: list) -> "Grid":
        """The grid of a list of rows (rows[r][c] is the cell at Excel row r+1, column c+1);
        short rows are completed with blank (None) cells."""
        widths = set(map(len, rows))
        width = max(widths, default=0)
        if len(widths) > 1:
            rows = [list(r) + [None] * (width - len(r)) for r in rows]
        return cls(len(rows), tuple(_column(list(map(itemgetter(c), rows))) for c in range(width)))

    def cell(self, r: int, c: int):
        col = self.columns[c]
        return col.values[col.codes[r]]

    def row(self, r: int) -> list:
        return [col.values[col.codes[r]] for col in self.columns]

    def iter_rows(self):
        return (self.row(r) for r in range(self.height))

    def rows(self) -> list[list]:
        return list(self.iter_rows())


# Types whose equal values are the same cell (no two spellings of one value), so that a
# column holding only these, with at most one kind of number, is deduplicated by equality.
_PLAIN = frozenset({str, type(None), float, int, bool, dt.date, dt.timedelta})
_NUMBERS = frozenset({float, int, bool})


def _column(cells: list) -> Column:
    """The distinct values of a column's cells, in order of first appearance, and their codes."""
    types = set(map(type, cells))
    if types <= _PLAIN and len(types & _NUMBERS) <= 1 and not (float in types and _signed_zeros(cells)):
        keys = cells
        index = dict.fromkeys(cells)        # the first of equal cells stands for them all
        values = list(index)
    else:   # 1 / 1.0 / True, 0.0 / -0.0, Decimal('1.0') / Decimal('1'), str subclasses...
        keys = [v if type(v) is str else (type(v), repr(v)) for v in cells]
        index = {}
        for i, k in enumerate(keys):
            index.setdefault(k, i)
        values = [cells[i] for i in index.values()]
    for i, k in enumerate(index):           # each distinct key -> the index of its value
        index[k] = i
    return Column(values, array(_code_type(len(values)), map(index.__getitem__, keys)))


def _signed_zeros(cells: list) -> bool:
    """Both 0.0 and -0.0 among the cells: equal, but read as 0 and -0."""
    if 0.0 not in cells:
        return False
    return len({math.copysign(1.0, v) for v in cells if type(v) is float and v == 0}) > 1


def _code_type(n: int) -> str:
    """The smallest array type that holds the indexes of n distinct values."""
    return "B" if n <= 1 << 8 else "H" if n <= 1 << 16 else "I"


@dataclass(frozen=True)
class RawSheet:
    name: str
    grid: Grid            # a list of rows may be given: it is made a Grid
    flags: dict = field(default_factory=dict)   # (r, c) -> "#N/A" (error) or "formula"
    hidden: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.grid, Grid):
            object.__setattr__(self, "grid", Grid.from_rows(self.grid))

    @property
    def rows(self) -> list[list]:
        """The cells as rows: rows[r][c] is the cell at Excel row r+1, column c+1."""
        return self.grid.rows()


@dataclass(frozen=True)
class RawWorkbook:
    sheets: tuple[RawSheet, ...]
    sheet_names: tuple[str, ...] = ()   # every sheet of the file, in order


def candidates(inbox: Path, min_age: float, now: float | None = None) -> list[Path]:
    """Stable regular files of supported types, oldest first (modification time, then name).

    Left alone: Office lock files (``~$…``), hidden files, symlinks, folders, and files
    modified less than ``min_age`` seconds ago (``scan`` also names those).
    """
    return scan(inbox, min_age, now)[0]


def scan(inbox: Path, min_age: float, now: float | None = None) -> tuple[list[Path], list[tuple[Path, float]]]:
    """(``candidates``, [(file too recent to be taken, seconds since it was modified)])."""
    now = time.time() if now is None else now
    found, recent = [], []
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return [], []
    for entry in entries:
        name = entry.name
        if name.startswith(("~$", ".")) or not name.lower().endswith(SUPPORTED):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if now - st.st_mtime < min_age:
            recent.append((Path(entry.path), max(0.0, now - st.st_mtime)))
            continue
        found.append((st.st_mtime, name, Path(entry.path)))
    found.sort(key=lambda t: (t[0], t[1]))
    recent.sort(key=lambda t: t[0].name)
    return [p for _, _, p in found], recent


def looks_incomplete(path: Path) -> bool:
    """A zip-based workbook without its end-of-central-directory record: still being copied?"""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65_557))
            return b"PK\x05\x06" not in f.read()
    except OSError:
        return True


def fingerprint(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, to see whether it changed while it was read."""
    try:
        st = path.stat(follow_symlinks=False)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def read_raw(path: Path) -> RawWorkbook:
    """Read the input sheets of a workbook (any format python-calamine reads).

    Raises on an unreadable file; callers turn that into a file-level finding.
    """
    import python_calamine

    with collector_paused():
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
        try:
            names = tuple(wb.sheet_names)
            hidden = {m.name for m in wb.sheets_metadata if not str(m.visible).endswith(".Visible")}
            wanted = [n for n in names if schema.sheet_for(n) is not None]
            flags = _cell_flags(path, wanted) if path.suffix.lower() in OOXML else {}
            sheets = []
            for n in wanted:
                grid = Grid.from_rows(wb.get_sheet_by_name(n).to_python(skip_empty_area=False))
                sheets.append(RawSheet(n, grid, flags.get(n, {}), n in hidden))
        finally:
            wb.close()
    return RawWorkbook(tuple(sheets), names)


@contextmanager
def collector_paused():
    """No cyclic garbage collection inside: reading a sheet, and parsing its rows, make
    millions of objects without cycles (cells, rows), which every collection would scan
    again for nothing (a third of the time at 500,000 rows). Memory is freed as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_ERR = re.compile(rb'\bt="e"')
_VALUE = re.compile(rb"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)


def _cell_flags(path: Path, sheet_names: list[str]) -> dict[str, dict]:
    """Error cells and formulas without a cached value, per sheet, from the sheet XML."""
    out: dict[str, dict] = {}
    with zipfile.ZipFile(path) as z:
        parts = _sheet_parts(z)
        for name in sheet_names:
            part = parts.get(name)
            if part is None or part not in z.namelist():
                continue
            if not _may_hold_flags(z, part):
                continue
            data = z.read(part)
            found = {}
            for m in _CELL.finditer(data):
                attrs, body = m.group(1), m.group(3) or b""
                is_err = bool(_ERR.search(attrs))
                has_formula = b"<f" in body or b":f" in body
                if not is_err and not has_formula:
                    continue
                ref = _REF.search(attrs)
                if not ref:
                    continue
                v = _VALUE.search(body)
                cached = v.group(1).strip() if v else b""
                pos = (int(ref.group(2)) - 1, _col_index(ref.group(1).decode()))
                if is_err:
                    found[pos] = cached.decode("utf-8", "replace") or "#ERROR"
                elif not cached and b't="str"' not in attrs and b't="inlineStr"' not in attrs:
                    found[pos] = "formula"
            if found:
                out[name] = found
    return out


_MARKERS = (b't="e"', b"<f", b":f")    # an error cell; a formula, with or without a prefix


def _may_hold_flags(z: zipfile.ZipFile, part: str) -> bool:
    """Whether a sheet's XML holds an error cell or a formula, read in chunks: a sheet of
    500,000 rows is 125 MB of XML, and usually holds neither."""
    carry = b""
    with z.open(part) as f:
        while chunk := f.read(4 << 20):
            buf = carry + chunk
            if any(m in buf for m in _MARKERS):
                return True
            carry = buf[-4:]
    return False


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> zip member of its XML, from workbook.xml and its relationships."""
    return ooxml.sheet_part_map(z)


_col_index = ooxml.col_index
col_letter = ooxml.col_letters      # 0-based column index -> Excel letters (0 -> A)
