"""Intake: which inbox files to take, and reading a workbook into raw cell grids.

``read_raw`` reads only the sheets that SPEC §2 names (by name or alias), as python-calamine
returns them, plus the cells whose value a reader cannot give: Excel error cells (``#N/A``)
and formulas saved without a cached value. Those are flagged so that validation reports them
at their cell instead of reading them as blank.
"""
from __future__ import annotations

import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from perfsettle.core import schema
from perfsettle.infra import ooxml

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods")
OOXML = (".xlsx", ".xlsm")


@dataclass(frozen=True)
class RawSheet:
    name: str
    rows: list            # grid from A1: rows[r][c] is the cell at Excel row r+1, column c+1
    flags: dict = field(default_factory=dict)   # (r, c) -> "#N/A" (error) or "formula"
    hidden: bool = False


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

    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        names = tuple(wb.sheet_names)
        hidden = {m.name for m in wb.sheets_metadata if not str(m.visible).endswith(".Visible")}
        wanted = [n for n in names if schema.sheet_for(n) is not None]
        flags = _cell_flags(path, wanted) if path.suffix.lower() in OOXML else {}
        sheets = []
        for n in wanted:
            rows = wb.get_sheet_by_name(n).to_python(skip_empty_area=False)
            sheets.append(RawSheet(n, rows, flags.get(n, {}), n in hidden))
    finally:
        wb.close()
    return RawWorkbook(tuple(sheets), names)


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
            data = z.read(part)
            if b't="e"' not in data and b"<f" not in data and b":f" not in data:
                continue
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


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> zip member of its XML, from workbook.xml and its relationships."""
    return ooxml.sheet_part_map(z)


_col_index = ooxml.col_index
col_letter = ooxml.col_letters      # 0-based column index -> Excel letters (0 -> A)
