"""The parts of an Office Open XML workbook, and A1 references.

One place that knows how a workbook package is laid out: the workbook part is named by the
package relationships (``_rels/.rels``), each sheet of ``workbook.xml`` names its part through
the workbook's relationships, a relationship target is relative to the folder of the part that
holds it (or absolute from the package root when it starts with ``/``), and a part's content
type is its ``Override`` in ``[Content_Types].xml`` or else the ``Default`` for its extension.
Inputs (reading, preflight) and outputs (annotated copies) use it alike.

The XML parts read here are small (workbook, relationships, content types); they are parsed
with defusedxml. Anything malformed raises ``PackageError``.
"""
from __future__ import annotations

import posixpath
import re
import zipfile
from typing import NamedTuple

import defusedxml.ElementTree as DET
from xml.etree.ElementTree import ParseError

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_DOCUMENT = REL_NS + "/officeDocument"
WORKSHEET = REL_NS + "/worksheet"
_R_ID = "{%s}id" % REL_NS


class PackageError(ValueError):
    """The package does not have the layout of a workbook (or a part is not well-formed)."""


# ----------------------------------------------------------------- A1 references

_A1 = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]+)")


def col_letters(index: int) -> str:
    """0-based column index -> letters: 0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index > 0:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: str) -> int:
    """Letters -> 0-based column index: A -> 0, AA -> 26 (case ignored)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def a1(row: int, col: int) -> str:
    """0-based (row, column) -> A1 reference: (0, 0) -> A1."""
    return f"{col_letters(col)}{row + 1}"


def parse_a1(ref: str) -> tuple[int, int]:
    """A1 reference (``$`` allowed) -> 0-based (row, column); ValueError if it is not one."""
    m = _A1.fullmatch(ref.strip())
    if m is None or int(m.group(2)) < 1:
        raise ValueError(f"not a cell reference: {ref!r}")
    return int(m.group(2)) - 1, col_index(m.group(1))


def parse_range(ref: str) -> tuple[int, int, int, int]:
    """``A1:C5`` (or one cell) -> 0-based (first row, first column, last row, last column)."""
    first, _, last = ref.partition(":")
    r1, c1 = parse_a1(first)
    r2, c2 = parse_a1(last) if last else (r1, c1)
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


# ----------------------------------------------------------------- parts

class Relationship(NamedTuple):
    id: str
    type: str
    target: str          # as written
    part: str            # the part it points to, resolved ("" for an external target)


class SheetPart(NamedTuple):
    title: str
    part: str            # zip member name, e.g. xl/worksheets/sheet1.xml
    hidden: bool
    rel_id: str


def rels_path(part: str) -> str:
    """The relationships part of ``part``: xl/workbook.xml -> xl/_rels/workbook.xml.rels."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def resolve(source_part: str, target: str) -> str:
    """The zip member a relationship target of ``source_part`` names ('' for the package)."""
    target = target.replace("\\", "/")
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def relative_target(source_part: str, part: str) -> str:
    """The relative target by which ``source_part`` names ``part``."""
    return posixpath.relpath(part, posixpath.dirname(source_part) or ".")


def _parse(data: bytes, name: str):
    try:
        return DET.fromstring(data)
    except (ParseError, ValueError) as exc:      # defusedxml's refusals are ValueErrors
        raise PackageError(f"{name}: {exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _member(z: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return z.read(name)
    except KeyError:
        return None


def relationships(z: zipfile.ZipFile, source_part: str) -> list[Relationship]:
    """The relationships of ``source_part`` ('' for the package itself); [] when it has none."""
    name = rels_path(source_part) if source_part else "_rels/.rels"
    data = _member(z, name)
    if data is None:
        return []
    return parse_relationships(data, source_part, name)


def parse_relationships(data: bytes, source_part: str, name: str = ".rels") -> list[Relationship]:
    out = []
    for el in _parse(data, name):
        if _local(el.tag) != "Relationship":
            continue
        target = el.get("Target", "")
        external = el.get("TargetMode", "Internal") == "External"
        out.append(Relationship(el.get("Id", ""), el.get("Type", ""), target,
                                "" if external else resolve(source_part, target)))
    return out


def workbook_part(z: zipfile.ZipFile) -> str:
    """The zip member of the workbook part (usually xl/workbook.xml)."""
    for rel in relationships(z, ""):
        if rel.type.endswith("/officeDocument") and rel.part:
            return rel.part
    if "xl/workbook.xml" in z.namelist():        # a package without its root relationships
        return "xl/workbook.xml"
    raise PackageError("no workbook part")


def sheet_parts(z: zipfile.ZipFile) -> tuple[str, list[SheetPart]]:
    """The workbook part and its worksheets (title, part, hidden, relationship id), in tab
    order. Chartsheets and dialog sheets are left out."""
    book = workbook_part(z)
    data = _member(z, book)
    if data is None:
        raise PackageError(f"no part {book}")
    targets = {r.id: r for r in relationships(z, book)}
    out = []
    for el in _parse(data, book).iter():
        if _local(el.tag) != "sheet":
            continue
        rid = el.get(_R_ID) or next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
        rel = targets.get(rid)
        if rel is None or not rel.type.endswith("/worksheet") or not rel.part:
            continue
        out.append(SheetPart(el.get("name", ""), rel.part, el.get("state", "visible") != "visible", rid))
    return book, out


def sheet_part_map(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> worksheet part."""
    return {s.title: s.part for s in sheet_parts(z)[1]}


def content_type(z: zipfile.ZipFile, part: str) -> str:
    """The content type of ``part`` from [Content_Types].xml ('' when it declares none)."""
    data = _member(z, "[Content_Types].xml")
    if data is None:
        raise PackageError("no [Content_Types].xml")
    wanted = "/" + part.lstrip("/")
    ext = posixpath.splitext(part)[1].lstrip(".").lower()
    default = ""
    for el in _parse(data, "[Content_Types].xml"):
        kind = _local(el.tag)
        if kind == "Override" and el.get("PartName", "").casefold() == wanted.casefold():
            return el.get("ContentType", "")
        if kind == "Default" and el.get("Extension", "").lower() == ext:
            default = el.get("ContentType", "")
    return default


def has_macros(z: zipfile.ZipFile) -> bool:
    """A macro-enabled workbook: its workbook part says so, or it holds a VBA project."""
    names = {n.casefold() for n in z.namelist()}
    if "xl/vbaproject.bin" in names:
        return True
    return "macroenabled" in content_type(z, workbook_part(z)).casefold()


def is_template(z: zipfile.ZipFile) -> bool:
    """A workbook template (.xltx/.xltm): its workbook part's content type says so."""
    return "template" in content_type(z, workbook_part(z)).casefold()
