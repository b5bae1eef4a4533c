"""Preflight and isolated reading of untrusted workbooks.

A workbook is checked here before any parser sees it, and then read in a child process with
memory and time limits, because the fast native reader aborts the whole process (SIGABRT,
which no ``try`` can catch) on some tiny hostile files: a shared-strings table declaring
billions of entries, one cell at ``XFD1048576``.

``preflight(path, limits)`` looks only at bytes, cheaply and with bounded memory:

- the file: size, emptiness, magic number (zip, OLE2 container, or something else: text, CSV,
  HTML, PDF...), and whether the kind matches the extension;
- the zip container, from its central directory and without decompressing anything: member
  count, duplicate names, overlapping members, compression methods, declared uncompressed
  sizes and ratios (zip bombs);
- every member, streamed through zlib in bounded chunks and never held whole: a member that
  inflates to more than it declares is a zip bomb; an XML part with a document type
  declaration (``<!DOCTYPE``, ``<!ENTITY``: entity expansion, external entities) is refused;
- every worksheet part: the declared ``<dimension>``, the row numbers and cell references
  (a stray cell far to the right, a cell at the end of the grid), the size of the grid a
  reader would build, characters that XML forbids, over-long texts;
- the shared-strings table: its declared ``uniqueCount``/``count``, its entries, over-long
  texts.

``safe_read(path, limits)`` runs the preflight and, when it is clean, ``intake.read_raw`` in a
child process (``RLIMIT_AS`` + wall-clock timeout). Whatever happens in the child costs only
that file: it becomes a file-level finding, and the caller goes on.

Every finding is a file-level :class:`~perfsettle.core.model.Diagnostic` (severity ``error``,
``contract_id=None``): the whole workbook is rejected.
"""
from __future__ import annotations

import codecs
import dataclasses
import logging
import math
import os
import pickle
import re
import signal
import stat
import struct
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from perfsettle.core.diagnostics import Problem, Text, make, problem
from perfsettle.core.model import Diagnostic, Source
from perfsettle.infra import ooxml
from perfsettle.infra.procs import die_with_parent

log = logging.getLogger(__name__)

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods")
OOXML = (".xlsx", ".xlsm")

ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY_MAGIC = b"PK\x05\x06"
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

# Excel's own grid (for messages only: the limits are in ``Limits``).
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_TEXT = 32_767


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """Resource limits for one input workbook (``[limits]`` in ``perfsettle.toml``)."""
    max_file_bytes: int = 200 * MiB          # size of the file on disk
    max_uncompressed_bytes: int = 2 * GiB    # sum of the declared sizes of all zip members
    max_member_ratio: float = 200.0          # uncompressed / compressed, per zip member...
    ratio_min_member_bytes: int = 1 * MiB    # ...for members larger than this (uncompressed)
    max_members: int = 10_000                # zip members
    max_rows: int = 2_000_000                # last row number of a sheet
    max_columns: int = 200                   # last column of a sheet (200 = GR)
    max_cells: int = 20_000_000              # rows x columns of the grid a reader builds
    max_shared_strings: int = 5_000_000      # entries of the shared-strings table
    max_string_chars: int = 100_000          # characters of one text
    time_limit_s: float = 300.0              # wall clock for reading one workbook
    memory_limit_bytes: int = 4 * GiB        # address space the reader may add

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"limits.{f.name} must be a number, not {v!r}")
            if not v > 0 or (isinstance(v, float) and not math.isfinite(v)):
                raise ValueError(f"limits.{f.name} must be a positive number, not {v!r}")

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> "Limits":
        """Limits from the ``[limits]`` table of ``perfsettle.toml``; unset keys keep their default.

        Sizes (``*_bytes``) may be integers or strings with a unit: ``"200 MiB"``, ``"2GiB"``,
        ``"500 MB"``. An unknown key or a bad value raises ``ValueError`` naming it.
        """
        if mapping is None:
            return cls()
        if not isinstance(mapping, dict):
            raise ValueError("[limits] must be a table of key = value pairs")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for k, v in mapping.items():
            if k not in fields:
                known = ", ".join(sorted(fields))
                raise ValueError(f"unknown key limits.{k} (known keys: {known})")
            if k.endswith("_bytes"):
                values[k] = _parse_size(k, v)
            elif k in ("max_member_ratio", "time_limit_s"):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(f"limits.{k} must be a number, not {v!r}")
                values[k] = float(v)
            else:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ValueError(f"limits.{k} must be a whole number, not {v!r}")
                values[k] = v
        return cls(**values)


_UNITS = {"": 1, "b": 1, "k": KiB, "kb": 1000, "kib": KiB, "m": MiB, "mb": 1000**2, "mib": MiB,
          "g": GiB, "gb": 1000**3, "gib": GiB, "t": 1 << 40, "tb": 1000**4, "tib": 1 << 40}


def _parse_size(key: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"limits.{key} must be a size in bytes, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        if m and m.group(2).lower() in _UNITS:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise ValueError(f"limits.{key} must be a size in bytes (e.g. 209715200 or \"200 MiB\"), not {value!r}")


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------

class _Findings:
    """Collects file-level findings (at most ``cap``; the first ones are the useful ones)."""

    def __init__(self, name: str, cap: int = 20) -> None:
        self.name = name
        self.cap = cap
        self.items: list[Diagnostic] = []

    def add(self, code: str, variant: str = "", **data) -> None:
        """A finding of the catalogue about the file."""
        if len(self.items) < self.cap:
            self.items.append(make(code, Source(file=self.name), None, variant, **data))


def col_letters(index1: int) -> str:
    """1-based column number -> Excel letters (1 -> A, 200 -> GR)."""
    return ooxml.col_letters(index1 - 1)


def col_number(letters: str) -> int:
    """Excel letters -> 1-based column number (A -> 1)."""
    return ooxml.col_index(letters) + 1


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

def preflight(path: Path, limits: Limits | None = None) -> list[Diagnostic]:
    """Check a file before any parser sees it; ``[]`` when it may be parsed.

    Never raises for any input: an unexpected failure becomes an ``internal-error`` finding
    (logged with its traceback).
    """
    limits = limits or Limits()
    path = Path(path)
    out = _Findings(path.name)
    try:
        _preflight(path, limits, out)
    except Exception as exc:  # a bug here must cost only this file
        log.exception("preflight of %s failed", path)
        out.add("internal-error", kind=type(exc).__name__, error=str(exc))
    return out.items


def _preflight(path: Path, limits: Limits, out: _Findings) -> None:
    suffix = path.suffix.lower()
    try:
        st = os.stat(path)
    except OSError as exc:
        out.add("file-unreadable", "open", error=str(exc.strerror or exc))
        return
    if not stat.S_ISREG(st.st_mode):
        out.add("file-unreadable", "not-regular")
        return
    if st.st_size == 0:
        out.add("file-empty")
        return
    if st.st_size > limits.max_file_bytes:
        out.add("file-too-large", size=st.st_size, limit=limits.max_file_bytes)
        return
    if suffix not in SUPPORTED:
        out.add("file-unsupported-type", suffix=Text(suffix or "(none)", suffix or "(aucun)"))
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(8 * KiB)
    except OSError as exc:
        out.add("file-unreadable", "read", error=str(exc.strerror or exc))
        return

    if head.startswith((ZIP_MAGIC, ZIP_EMPTY_MAGIC)):
        _check_zip(path, suffix, st.st_size, limits, out)
    elif head.startswith(OLE2_MAGIC):
        _check_ole2(path, suffix, out)
    else:
        out.add("file-not-workbook", kind=Text(*_describe(head)), suffix=suffix)


def _describe(head: bytes) -> tuple[str, str]:
    """What a file that is neither a zip nor an OLE2 container looks like."""
    h = head.lstrip(b"\xef\xbb\xbf").lstrip()
    low = h[:2048].lower()
    if h.startswith(b"%PDF"):
        return "a PDF document", "un document PDF"
    if h.startswith(b"{\\rtf"):
        return "an RTF document", "un document RTF"
    if h.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "an image", "une image"
    if h.startswith((b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BZh")):
        return "a compressed archive (not a workbook)", "une archive compressée (pas un classeur)"
    if h.startswith(b"<"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head.lower():
            return ("an Excel 2003 XML spreadsheet (not supported)",
                    "une feuille de calcul XML Excel 2003 (format non pris en charge)")
        if b"<html" in low or b"<table" in low or b"<!doctype html" in low:
            return ("a web page (HTML), as some tools export tables",
                    "une page web (HTML), comme en exportent certains outils")
        return "an XML file", "un fichier XML"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" not in head and _is_text(head)):
        if _looks_csv(head):
            return "a CSV file", "un fichier CSV"
        return "a text file", "un fichier texte"
    return "an unknown kind of file", "un fichier de type inconnu"


def _looks_csv(head: bytes) -> bool:
    """At least two lines with the same number (> 0) of one separator."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", "replace")
    else:
        text = head.decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) > 1 and len(text) >= len(head) - 4:
        lines = lines[:-1] if len(lines) > 2 else lines      # the last line may be cut
    if len(lines) < 2:
        return False
    for sep in (",", ";", "\t", "|"):
        counts = {ln.count(sep) for ln in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return True
    return False


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:   # not just a character cut at the end of the sample
            text = head.decode("cp1252", "replace")
        else:
            text = head[:exc.start].decode("utf-8")
    printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return printable >= 0.95 * max(1, len(text))


# --------------------------------------------------------------------------------------------
# OLE2 containers: legacy .xls, or an encrypted OOXML workbook
# --------------------------------------------------------------------------------------------

def _ole_streams(path: Path) -> set[str] | None:
    """Lower-case stream names of an OLE2 file; None when it cannot be listed."""
    try:
        import olefile
    except ImportError:
        return None
    try:
        with olefile.OleFileIO(str(path)) as ole:
            return {"/".join(e).lower() for e in ole.listdir(streams=True, storages=False)}
    except Exception:
        return None


def _xls_encrypted(path: Path) -> bool:
    try:
        import msoffcrypto
    except ImportError:
        return False
    try:
        with open(path, "rb") as fh:
            return bool(msoffcrypto.OfficeFile(fh).is_encrypted())
    except Exception:
        return False


def _check_ole2(path: Path, suffix: str, out: _Findings) -> None:
    streams = _ole_streams(path)
    encrypted = streams is not None and ("encryptedpackage" in streams or "encryptioninfo" in streams)
    legacy = streams is not None and ("workbook" in streams or "book" in streams)
    if encrypted:
        out.add("file-encrypted")
        return
    if suffix in OOXML or suffix == ".ods":
        if legacy:
            out.add("file-wrong-extension", "xls", suffix=suffix)
        elif streams is None:
            out.add("file-encrypted", "or-damaged")
        else:
            out.add("file-not-workbook", "office", kind=_ole_kind(streams), suffix=suffix)
        return
    # .xls
    if streams is None:
        out.add("file-damaged", "xls")
    elif not legacy:
        out.add("file-not-workbook", "office", kind=_ole_kind(streams), suffix=".xls")
    elif _xls_encrypted(path):
        out.add("file-encrypted")


def _ole_kind(streams: set[str]) -> Text:
    if "worddocument" in streams:
        return Text("(a Word document) ", "(un document Word) ")
    if "powerpoint document" in streams:
        return Text("(a PowerPoint presentation) ", "(une présentation PowerPoint) ")
    return Text("", "")


# --------------------------------------------------------------------------------------------
# Zip containers: .xlsx, .xlsm, .ods
# --------------------------------------------------------------------------------------------

def _eocd_entries(path: Path, size: int) -> tuple[int, int] | None:
    """(declared member count, central-directory size) from the end-of-central-directory record."""
    with open(path, "rb") as fh:
        tail_len = min(size, 22 + 65535 + 20)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        i = tail.rfind(b"PK\x05\x06")
        if i < 0 or len(tail) - i < 22:
            return None
        count = struct.unpack("<H", tail[i + 10:i + 12])[0]
        cd_size = struct.unpack("<L", tail[i + 12:i + 16])[0]
        if (count == 0xFFFF or cd_size == 0xFFFFFFFF) and i >= 20 and tail[i - 20:i - 16] == b"PK\x06\x07":
            z64_off = struct.unpack("<Q", tail[i - 12:i - 4])[0]
            if z64_off + 56 <= size:
                fh.seek(z64_off)
                rec = fh.read(56)
                if rec[:4] == b"PK\x06\x06":
                    count = struct.unpack("<Q", rec[32:40])[0]
                    cd_size = struct.unpack("<Q", rec[40:48])[0]
        return count, cd_size


def _check_zip(path: Path, suffix: str, size: int, limits: Limits, out: _Findings) -> None:
    eocd = _eocd_entries(path, size)
    if eocd is None:
        out.add("file-damaged", "no-directory")
        return
    count, cd_size = eocd
    if count > limits.max_members or cd_size > limits.max_members * 1200:
        out.add("zip-too-many-members", count=count, limit=limits.max_members)
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError,
            NotImplementedError, struct.error) as exc:
        out.add("file-damaged", "directory", error=str(exc))
        return
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            out.add("zip-too-many-members", "listed", count=len(infos), limit=limits.max_members)
            return
        names = [i.filename for i in infos]
        if not _check_container(infos, names, size, limits, out):
            return
        if not _check_kind(zf, names, suffix, out):
            return
        sheet_names = _sheet_names(zf, names) if suffix in OOXML else {}
        with open(path, "rb") as fh:
            for info in infos:
                if info.is_dir() or info.file_size == 0 and info.compress_size == 0:
                    continue
                _scan_member(fh, info, sheet_names, limits, out)
                if len(out.items) >= out.cap:
                    return


def _check_container(infos, names, size, limits, out) -> bool:
    """Central-directory checks: nothing is decompressed. False: stop here."""
    seen: set[str] = set()
    for n in names:
        key = n.replace("\\", "/").lower()
        if key in seen:
            out.add("zip-duplicate-member", part=n)
            return False
        seen.add(key)
    for info in infos:
        if info.flag_bits & 0x1:
            out.add("file-encrypted", "zip")
            return False
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            out.add("zip-unsupported", part=info.filename, method=info.compress_type)
            return False
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        out.add("zip-bomb", total=total, size=size, limit=limits.max_uncompressed_bytes)
        return False
    for info in infos:
        if info.file_size > limits.ratio_min_member_bytes and \
                info.file_size > limits.max_member_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            out.add("zip-bomb", "ratio", part=info.filename, ratio=ratio, compressed=info.compress_size,
                    expanded=info.file_size, limit=limits.max_member_ratio)
            return False
    # Overlapping members (many directory entries sharing the same compressed data).
    spans = sorted((i.header_offset, i.header_offset + 30 + len(i.orig_filename.encode("utf-8", "replace"))
                    + i.compress_size, i.filename) for i in infos)
    for (s1, e1, n1), (s2, _, n2) in zip(spans, spans[1:]):
        if s2 < e1:
            out.add("zip-bomb", "overlap", first=n1, second=n2)
            return False
    if spans and spans[-1][1] > size:
        out.add("file-damaged", "past-end", part=spans[-1][2])
        return False
    return True


def _check_kind(zf: zipfile.ZipFile, names: list[str], suffix: str, out: _Findings) -> bool:
    """The zip holds the kind of document its extension says. False: stop here."""
    name_set = set(names)
    lower = {n.lower() for n in names}
    mimetype = b""
    if "mimetype" in name_set:
        info = zf.getinfo("mimetype")
        if info.file_size <= 200:
            try:
                mimetype = zf.read("mimetype").strip()
            except Exception:
                mimetype = b""
    is_ods = mimetype == ODS_MIMETYPE
    is_ooxml = "xl/workbook.xml" in name_set
    if suffix in OOXML:
        if is_ooxml:
            return True
        if is_ods:
            out.add("file-wrong-extension", "ods", suffix=suffix)
            return False
        if "xl/workbook.bin" in lower:
            out.add("file-wrong-extension", "xlsb", suffix=suffix)
            return False
        out.add("file-not-workbook", "zip", kind=Text(*_zip_kind(lower, mimetype)))
        return False
    if suffix == ".ods":
        if is_ods and "content.xml" in name_set:
            return True
        if is_ooxml:
            out.add("file-wrong-extension", "xlsx", suffix=".ods")
            return False
        out.add("file-not-workbook", "not-ods", kind=Text(*_zip_kind(lower, mimetype)))
        return False
    # .xls that is a zip
    if is_ooxml:
        out.add("file-wrong-extension", "xlsx", suffix=".xls")
    elif is_ods:
        out.add("file-wrong-extension", "ods-as-xls")
    else:
        out.add("file-not-workbook", "zip-xls", kind=Text(*_zip_kind(lower, mimetype)))
    return False


def _zip_kind(lower: set[str], mimetype: bytes) -> tuple[str, str]:
    if "word/document.xml" in lower:
        return "a Word document", "un document Word"
    if "ppt/presentation.xml" in lower:
        return "a PowerPoint presentation", "une présentation PowerPoint"
    if mimetype.startswith(b"application/vnd.oasis.opendocument."):
        return "an OpenDocument file of another kind", "un fichier OpenDocument d'un autre type"
    return "a zip archive", "une archive zip"


def _sheet_names(zf: zipfile.ZipFile, names: list[str]) -> dict[str, str]:
    """Worksheet part -> sheet name, for messages. Best effort: {} when it cannot be told."""
    try:
        for n in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
            if n not in names or zf.getinfo(n).file_size > 4 * MiB:
                return {}
        return {s.part: s.title for s in ooxml.sheet_parts(zf)[1]}
    except Exception:
        return {}


# --------------------------------------------------------------------------------------------
# Streaming one member
# --------------------------------------------------------------------------------------------

CHUNK_IN = 1 * MiB
CHUNK_OUT = 4 * MiB
HEAD = 64 * KiB
MAX_PROLOG = 1 * MiB


class _Stop(Exception):
    """A member cannot be scanned further (the finding is already recorded)."""


def _inflate(fh, info: zipfile.ZipInfo, out: _Findings) -> Iterator[bytes]:
    """Decompressed chunks of one member; never more than it declares."""
    fh.seek(info.header_offset)
    hdr = fh.read(30)
    if len(hdr) < 30 or hdr[:4] != ZIP_MAGIC:
        out.add("file-damaged", "no-header", part=info.filename)
        raise _Stop
    nlen, xlen = struct.unpack("<HH", hdr[26:30])
    fh.seek(info.header_offset + 30 + nlen + xlen)
    left = info.compress_size
    produced = 0
    declared = info.file_size

    def too_much():
        out.add("zip-bomb", "inflate", part=info.filename, declared=declared)
        raise _Stop

    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != declared:
            too_much()
        while left > 0:
            data = fh.read(min(CHUNK_IN, left))
            if not data:
                break
            left -= len(data)
            yield data
        return
    d = zlib.decompressobj(-15)
    while left > 0 and not d.eof:
        data = fh.read(min(CHUNK_IN, left))
        if not data:
            break
        left -= len(data)
        buf = data
        while True:
            try:
                chunk = d.decompress(buf, CHUNK_OUT)
            except zlib.error as exc:
                out.add("file-damaged", "inflate", part=info.filename, error=str(exc))
                raise _Stop
            buf = d.unconsumed_tail
            if chunk:
                produced += len(chunk)
                if produced > declared:
                    too_much()
                yield chunk
            if not buf and len(chunk) < CHUNK_OUT:
                break
    rest = d.flush()
    if rest:
        produced += len(rest)
        if produced > declared:
            too_much()
        yield rest


def _utf16_to_utf8(chunks: Iterator[bytes], first: bytes) -> Iterator[bytes]:
    dec = codecs.getincrementaldecoder("utf-16")("replace")
    yield dec.decode(first).encode("utf-8")
    for c in chunks:
        yield dec.decode(c).encode("utf-8")
    yield dec.decode(b"", final=True).encode("utf-8")


_ROOT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def _prolog(head: bytes) -> tuple[str, bytes, bytes] | None:
    """Read an XML prolog: ('root', prefix, local name), ('dtd', b'', b''), ('long', ...) or None.

    None: not XML (binary, text) or incomplete.
    """
    i = 0
    n = len(head)
    if head.startswith(b"\xef\xbb\xbf"):
        i = 3
    while True:
        while i < n and head[i] in b" \t\r\n":
            i += 1
        if i >= n:
            return ("long", b"", b"") if n >= MAX_PROLOG else None
        if head.startswith(b"<?", i):
            j = head.find(b"?>", i)
            if j < 0:
                return ("long", b"", b"") if n >= MAX_PROLOG else None
            i = j + 2
        elif head.startswith(b"<!--", i):
            j = head.find(b"-->", i)
            if j < 0:
                return ("long", b"", b"") if n >= MAX_PROLOG else None
            i = j + 3
        elif head.startswith(b"<!", i):
            return ("dtd", b"", b"")
        elif head.startswith(b"<", i):
            m = _ROOT.match(head, i)
            if not m:
                return None
            return ("root", m.group(1) or b"", m.group(2))
        else:
            return None


_DTD_ANYWHERE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.I)


def _scan_member(fh, info: zipfile.ZipInfo, sheet_names: dict[str, str], limits: Limits,
                 out: _Findings) -> None:
    name = info.filename
    try:
        chunks = _inflate(fh, info, out)
        head = b""
        for c in chunks:
            head += c
            if len(head) >= HEAD:
                break
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            chunks = _utf16_to_utf8(chunks, head)
            head = b""
            for c in chunks:
                head += c
                if len(head) >= HEAD:
                    break
        looks_xml = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
        scanner = None
        if looks_xml:
            pro = _prolog(head)
            while pro is None and len(head) < MAX_PROLOG:
                more = next(chunks, None)
                if more is None:
                    break
                head += more
                pro = _prolog(head)
            if (pro and pro[0] == "dtd") or _DTD_ANYWHERE.search(head[:HEAD]):
                out.add("xml-dtd", part=name)
                return
            if pro and pro[0] == "long":
                out.add("xml-dtd", "long-prolog", part=name, limit=MAX_PROLOG)
                return
            if pro and pro[0] == "root":
                prefix, root = pro[1], pro[2]
                if root == b"worksheet":
                    sheet = sheet_names.get(name) or name
                    scanner = _SheetScan(sheet, prefix, limits, out)
                elif root == b"sst":
                    scanner = _SstScan(prefix, limits, out)
        if scanner is None:
            for _ in chunks:        # drain: measures the real size
                pass
            return
        scanner.feed(head)
        for c in chunks:
            scanner.feed(c)
            if scanner.done:
                break
        scanner.finish()
    except _Stop:
        return


# --------------------------------------------------------------------------------------------
# Scanning sheets and the shared-strings table
# --------------------------------------------------------------------------------------------

_CTRL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CTRL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
_CONT = bytes(range(0x80, 0xC0))
_ENTITY = re.compile(rb"&#?[A-Za-z0-9]{1,8};")
_LAST_REF = re.compile(rb'\sr="([A-Z]{1,3}\d{1,12})"')


def _chars(b: bytes) -> int:
    """Characters of UTF-8 text as written in XML (an entity counts as one)."""
    if b"&" in b:
        b = _ENTITY.sub(b"_", b)
    return len(b.translate(None, _CONT))


class _TextRuns:
    """Finds texts longer than ``limit`` characters: runs between two '<' of the stream."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.run = 0                 # characters since the last '<' (spans chunks)
        self.gap = re.compile(rb"<[^<]{%d}" % limit)
        # Any run of ``limit`` bytes holds a whole aligned stretch of this many bytes.
        self.stretch = (int(limit) + 1) // 2

    def _may_hold_a_gap(self, chunk: bytes, start: int, end: int) -> bool:
        """False when every stretch of ``self.stretch`` bytes from ``start`` to ``end`` holds a
        '<': then ``self.gap`` cannot match there, and the text needs no closer look."""
        if self.stretch < 1:
            return True
        find = chunk.find
        return any(find(b"<", i, i + self.stretch) < 0 for i in range(start, end, self.stretch))

    def feed(self, chunk: bytes) -> tuple[int, int] | None:
        """(offset in chunk, characters) of the first over-long text, else None."""
        first = chunk.find(b"<")
        if first < 0:
            self.run += _chars(chunk)
            return (0, self.run) if self.run > self.limit else None
        self.run += _chars(chunk[:first])
        if self.run > self.limit:
            return (0, self.run)
        last = chunk.rfind(b"<")
        pos = first
        while self._may_hold_a_gap(chunk, first, last):
            m = self.gap.search(chunk, pos, last)
            if not m:
                break
            end = chunk.find(b"<", m.start() + 1)
            if end < 0:
                break
            k = _chars(chunk[m.start():end])
            if k > self.limit:
                return (m.start(), k)
            pos = end
        self.run = _chars(chunk[last + 1:])
        if self.run > self.limit:
            return (last, self.run)
        return None


class _SheetScan:
    OVERLAP = 1024

    def __init__(self, sheet: str, prefix: bytes, limits: Limits, out: _Findings) -> None:
        self.sheet, self.limits, self.out = sheet, limits, out
        p = re.escape(prefix)
        self.row_re = re.compile(rb"<" + p + rb"row\b[^>]{0,1024}?\sr=\"(\d{1,15})\"")
        self.dim_re = re.compile(rb"<" + p + rb"dimension\b[^>]{0,1024}?\sref=\"([^\"]{0,128})\"")
        self.data_tag = b"<" + prefix + b"sheetData"
        self.carry = b""
        self.dimension: str | None = None
        self.seen_data = False
        self.max_row = 0             # from <row r=...> and cell references
        self.max_col = 0
        self.max_col_letters = ""
        self.row_fast = re.compile(rb"<" + p + rb"row r=\"(\d{1,15})\"")
        self.row_tag = b"<" + prefix + b"row"
        self.digits = 0
        self.cell_re = self._cell_re("", 1)
        self.bad_cell: tuple[str, int, int] | None = None   # (ref, column, row) beyond limits
        self.bad_refs: set[str] = set()
        self.bad_row: str | None = None
        self.text = _TextRuns(limits.max_string_chars)
        self.done = False
        self.reported = False

    @staticmethod
    def _cell_re(cur: str, digits: int) -> re.Pattern:
        """Cell references beyond column ``cur``, or with more than ``digits - 1`` row digits.

        Written the way every producer writes them (`` r="B7"``): the literal start keeps the
        scan fast. Other spellings (single quotes, spaces around '=') are left to the reader's
        limits in the child process.
        """
        return re.compile(rb' r="(?:(' + _greater_letters(cur).encode() + rb')(\d{1,15})|([A-Z]{1,3})(\d{'
                          + str(max(1, digits)).encode() + rb',15}))"')

    def feed(self, chunk: bytes) -> None:
        buf = self.carry + chunk
        if not self.seen_data:
            if self.dimension is None:
                m = self.dim_re.search(buf)
                if m:
                    self.dimension = m.group(1).decode("ascii", "replace")
            if self.data_tag in buf:
                self.seen_data = True
        # rows declared by <row r="...">
        rows = self.row_fast.findall(buf)
        if len(rows) < buf.count(self.row_tag):     # r is not the first attribute somewhere
            rows = self.row_re.findall(buf)
        if rows:
            top = max(map(int, rows))
            if top > self.max_row:
                self.max_row = top
        # cells beyond the furthest column so far, or with more row digits than any row so far
        digits = len(str(self.max_row)) + 1 if self.max_row else 1
        if digits != self.digits:
            self.digits = digits
            self.cell_re = self._cell_re(self.max_col_letters, digits)
        found = self.cell_re.findall(buf)
        if found:
            self._cells(found)
            self.digits = len(str(self.max_row)) + 1
            self.cell_re = self._cell_re(self.max_col_letters, self.digits)
        # characters XML forbids
        m = _CTRL.search(chunk) if len(chunk.translate(None, _CTRL_BYTES)) != len(chunk) else None
        if m and not self.reported:
            cell = self._near(chunk, m.start())
            self.out.add("xml-invalid-char", "near" if cell else "", sheet=self.sheet, byte=chunk[m.start()],
                         **({"cell": cell} if cell else {}))
            self.reported = True
        long = self.text.feed(chunk)
        if long and not self.done:
            near = self._near(chunk, long[0])
            self._long_text(long[1], near)
            self.done = True
        self.carry = buf[-self.OVERLAP:] if len(buf) > self.OVERLAP else buf

    def _near(self, chunk: bytes, pos: int) -> str:
        """The last cell reference before ``pos`` ('' when there is none nearby)."""
        start = max(0, pos - 64 * KiB)
        refs = _LAST_REF.findall(chunk, start, pos)
        return refs[-1].decode() if refs else ""

    def _long_text(self, chars: int, cell: str) -> None:
        self.out.add("string-too-long", "near" if cell else "", sheet=self.sheet, limit=self.limits.max_string_chars,
                     excel=EXCEL_MAX_TEXT, **({"cell": cell} if cell else {}))

    def _cells(self, found: list[tuple[bytes, bytes, bytes, bytes]]) -> None:
        """The cells ``cell_re`` found, in order: the furthest column, the last row, and the
        cells beyond the limits. The first buffer of a sheet finds all its cells: one pass,
        column letters converted once each."""
        max_columns, max_rows = self.limits.max_columns, self.limits.max_rows
        numbers: dict[bytes, int] = {}
        furthest = self.max_col
        max_row = self.max_row
        for far, far_row, any_col, long_row in found:
            letters, row = (far, int(far_row)) if far else (any_col, int(long_row))
            col = numbers.get(letters)
            if col is None:
                col = numbers[letters] = col_number(letters.decode())
            if far and col > furthest:
                furthest = col
            if row > max_row:
                max_row = row
            if col > max_columns:
                ref = f"{letters.decode()}{row}"
                if len(self.bad_refs) < 10_000:
                    self.bad_refs.add(ref)
                if self.bad_cell is None:
                    self.bad_cell = (ref, col, row)
            if row > max_rows and self.bad_row is None:
                self.bad_row = f"{letters.decode()}{row}"
        self.max_row = max_row
        if furthest != self.max_col:
            self.max_col = furthest
            self.max_col_letters = col_letters(furthest)

    def finish(self) -> None:
        L = self.limits
        last_col = col_letters(L.max_columns)
        if self.bad_cell:
            ref, col, row = self.bad_cell
            more = len(self.bad_refs) - 1
            self.out.add("cell-out-of-range", "more" if more > 0 else "", sheet=self.sheet, cell=ref,
                         last_column=last_col, limit=L.max_columns, **({"others": more} if more > 0 else {}))
            return
        if self.max_row > L.max_rows:
            self.out.add("too-many-rows", "at-cell" if self.bad_row else "", sheet=self.sheet, last_row=self.max_row,
                         limit=L.max_rows, **({"cell": self.bad_row} if self.bad_row else {}))
            return
        if self.dimension and self._check_dimension(self.dimension):
            return
        grid = self.max_row * self.max_col
        if grid > L.max_cells:
            rng = f"A1:{self.max_col_letters}{self.max_row}"
            self.out.add("too-many-cells", sheet=self.sheet, range=rng, cells=grid, limit=L.max_cells)

    def _check_dimension(self, ref: str) -> bool:
        L = self.limits
        m = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d{1,15})(?::\$?([A-Za-z]{1,3})\$?(\d{1,15}))?", ref.strip())
        if not m:
            return False
        c1, r1 = col_number(m.group(1)), int(m.group(2))
        c2, r2 = (col_number(m.group(3)), int(m.group(4))) if m.group(3) else (c1, r1)
        rows, cols = abs(r2 - r1) + 1, abs(c2 - c1) + 1
        if max(r1, r2) > L.max_rows:
            self.out.add("too-many-rows", "declared", sheet=self.sheet, range=ref, rows=max(r1, r2), limit=L.max_rows)
            return True
        if max(c1, c2) > L.max_columns:
            self.out.add("too-many-columns", sheet=self.sheet, range=ref, last_column=col_letters(L.max_columns),
                         limit=L.max_columns)
            return True
        if rows * cols > L.max_cells:
            self.out.add("too-many-cells", "declared", sheet=self.sheet, range=ref, cells=rows * cols,
                         limit=L.max_cells)
            return True
        return False


def _greater_letters(cur: str) -> str:
    """A regex matching column letters (1 to 3 of A-Z) that come after ``cur`` in Excel order."""
    if not cur:
        return "[A-Z]{1,3}"
    alts = []
    n = len(cur)
    if n < 3:
        alts.append("[A-Z]{%d,3}" % (n + 1))
    for i, ch in enumerate(cur):
        if ch < "Z":
            nxt = chr(ord(ch) + 1)
            rng = nxt if nxt == "Z" else f"{nxt}-Z"
            rest = n - i - 1
            alts.append(re.escape(cur[:i]) + f"[{rng}]" + ("[A-Z]{%d}" % rest if rest else ""))
    return "(?:" + "|".join(alts) + ")" if alts else "(?!)"


class _SstScan:
    OVERLAP = 16

    def __init__(self, prefix: bytes, limits: Limits, out: _Findings) -> None:
        self.limits, self.out = limits, out
        self.prefix = prefix
        self.si_tokens = (b"<" + prefix + b"si>", b"<" + prefix + b"si ")
        self.root_re = re.compile(rb"<" + re.escape(prefix) + rb"sst\b([^>]{0,4096})>")
        self.attr_re = re.compile(rb"\s(count|uniqueCount)\s*=\s*[\"'](\d{1,30})[\"']")
        self.head_done = False
        self.entries = 0
        self.carry = b""
        self.text = _TextRuns(limits.max_string_chars)
        self.done = False
        self.reported_ctrl = False

    def _count(self, b: bytes) -> int:
        return sum(b.count(t) for t in self.si_tokens)

    def feed(self, chunk: bytes) -> None:
        L = self.limits
        if not self.head_done:
            self.head_done = True
            m = self.root_re.search(chunk)
            if m:
                attrs = dict((k.decode(), int(v)) for k, v in self.attr_re.findall(m.group(1)))
                unique = attrs.get("uniqueCount")
                count = attrs.get("count")
                if unique is not None and unique > L.max_shared_strings:
                    self._too_many(unique, "declares")
                    return
                if count is not None and count > L.max_cells:
                    self.out.add("shared-strings-too-many", "cells", count=count, limit=L.max_cells)
                    self.done = True
                    return
        before = self.entries
        buf = self.carry + chunk
        self.entries += self._count(buf) - self._count(self.carry)
        self.carry = buf[-self.OVERLAP:]
        if self.entries > L.max_shared_strings:
            self._too_many(self.entries, "holds")
            return
        m = _CTRL.search(chunk) if len(chunk.translate(None, _CTRL_BYTES)) != len(chunk) else None
        if m and not self.reported_ctrl:
            idx = before + self._count(chunk[:m.start()])
            self.out.add("xml-invalid-char", "shared-strings", byte=chunk[m.start()], index=max(idx, 1))
            self.reported_ctrl = True
        long = self.text.feed(chunk)
        if long:
            idx = before + self._count(chunk[:long[0]])
            self.out.add("string-too-long", "shared-strings", limit=L.max_string_chars, index=max(idx, 1),
                         excel=EXCEL_MAX_TEXT)
            self.done = True

    def _too_many(self, n: int, verb: str) -> None:
        self.out.add("shared-strings-too-many", "declared" if verb == "declares" else "", count=n,
                     limit=self.limits.max_shared_strings)
        self.done = True

    def finish(self) -> None:
        pass


# --------------------------------------------------------------------------------------------
# Reading in a child process
# --------------------------------------------------------------------------------------------

def safe_read(path: Path, limits: Limits | None = None, isolate: bool = True,
              meanwhile: Callable[[], object] | None = None):
    """Preflight, then read the workbook: ``(RawWorkbook, [])`` or ``(None, findings)``.

    With ``isolate`` (the default) ``intake.read_raw`` runs in a child process with
    ``limits.memory_limit_bytes`` of extra address space and ``limits.time_limit_s`` of wall
    clock; a crash, a timeout or an exception there becomes a file-level finding. Never raises
    for any input. ``meanwhile``: work of this process done while the child reads (the
    validation's libraries loaded, for instance), instead of after it.
    """
    limits = limits or Limits()
    path = Path(path)
    found = preflight(path, limits)
    if found:
        return None, found
    name = path.name
    try:
        if isolate:
            status, payload = _read_isolated(path, limits, meanwhile)
        else:
            status, payload = _read_here(path)
    except Exception as exc:
        log.exception("reading %s failed", path)
        return None, [make("internal-error", Source(file=name), None, "reading", kind=type(exc).__name__,
                           error=str(exc))]
    if status == "ok":
        return payload, []
    return None, [payload.at(Source(file=name))]


def read_in_process(path: Path, limits: Limits | None = None):
    """``safe_read`` without the child process (tests and benchmarks)."""
    return safe_read(path, limits, isolate=False)


def _read_here(path: Path):
    from perfsettle.inputs.reading import read_raw
    try:
        return "ok", read_raw(path)
    except MemoryError:
        return "error", problem("file-unreadable", "reader-memory")
    except Exception as exc:
        return "error", _explain(exc)


def _explain(exc: BaseException) -> Problem:
    """The finding for an exception raised by the reader."""
    kind = type(exc).__name__
    text = " ".join(str(exc).split())[:300] or kind
    low = text.lower()
    if kind == "PasswordError" or "password" in low or "encrypt" in low:
        return problem("file-encrypted", "reader")
    if kind == "ZipError" or "zip" in low:
        return problem("file-damaged", "reader-zip", error=text)
    if kind == "XmlError" or "xml" in low:
        return problem("file-damaged", "reader-xml", error=text)
    return problem("file-unreadable", "reader-failed", kind=kind, error=text)


def _start_method() -> str:
    import multiprocessing as mp
    methods = mp.get_all_start_methods()
    # fork is cheapest; with other threads running, a forkserver avoids inheriting their locks
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    if "forkserver" in methods:
        return "forkserver"
    return "spawn"


def _read_isolated(path: Path, limits: Limits, meanwhile: Callable[[], object] | None = None):
    """Run ``intake.read_raw`` in a child process: ('ok', RawWorkbook) or ('error', Problem);
    ``meanwhile()`` runs here once the child has started."""
    import multiprocessing as mp
    ctx = mp.get_context(_start_method())
    recv, send = ctx.Pipe(duplex=False)
    with tempfile.TemporaryDirectory(prefix="perfsettle-read-") as tmp:
        errlog = os.path.join(tmp, "stderr")
        proc = ctx.Process(target=_child_main,
                           args=(send, str(path), limits.memory_limit_bytes, limits.time_limit_s, errlog,
                                 os.getpid() if ctx.get_start_method() == "fork" else None),
                           name="perfsettle-reader", daemon=True)
        proc.start()
        send.close()
        if meanwhile is not None:
            meanwhile()
        data = None
        timed_out = False
        deadline = time.monotonic() + limits.time_limit_s
        try:
            # Read before joining: a large result must not block the child on a full pipe.
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                if recv.poll(min(left, 1.0)):
                    try:
                        data = recv.recv_bytes()
                    except (EOFError, OSError):
                        data = None
                    break
                if not proc.is_alive() and not recv.poll(0):
                    break
        finally:
            if timed_out or data is None:
                if proc.is_alive():
                    proc.kill()
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            recv.close()
        stderr_tail = _tail(errlog)
    if data is not None:
        try:
            status, payload = pickle.loads(data)
        except Exception as exc:
            return "error", problem("file-unreadable", "reader-unusable", kind=type(exc).__name__)
        return status, payload
    if timed_out:
        return "error", problem("file-unreadable", "reader-timeout", seconds=limits.time_limit_s)
    return "error", _explain_death(proc.exitcode, stderr_tail, limits)


def _tail(path: str, size: int = 8192) -> str:
    """The start and the end of what the child wrote (its first and last words matter)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(size)
            fh.seek(0, os.SEEK_END)
            n = fh.tell()
            if n <= size:
                return head.decode("utf-8", "replace")
            fh.seek(max(size, n - size))
            return (head + b"\n" + fh.read()).decode("utf-8", "replace")
    except OSError:
        return ""


_ALLOC = re.compile(r"memory allocation of (\d+) bytes failed")


def _explain_death(exitcode: int | None, stderr: str, limits: Limits) -> Problem:
    m = _ALLOC.search(stderr)
    if m:
        return problem("file-unreadable", "reader-out-of-memory-asked", limit=limits.memory_limit_bytes,
                       asked=int(m.group(1)))
    if "MemoryError" in stderr or "out of memory" in stderr.lower():
        return problem("file-unreadable", "reader-out-of-memory", limit=limits.memory_limit_bytes)
    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode).name
        except ValueError:
            sig = f"signal {-exitcode}"
        if sig == "SIGKILL":
            return problem("file-unreadable", "reader-killed")
        if sig == "SIGXCPU":
            return problem("file-unreadable", "reader-cpu", seconds=limits.time_limit_s)
        line = _last_line(stderr)
        return problem("file-unreadable", "reader-crashed", signal=sig, detail=f": {line}" if line else "")
    line = _last_line(stderr)
    return problem("file-unreadable", "reader-no-result", exit_code=exitcode, detail=f": {line}" if line else "")


def _last_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if "panicked at" in line or line.startswith(("fatal", "Fatal", "error", "Error")):
            return line[:200]
    return ""


def _child_main(conn, path: str, memory_limit: int, time_limit: float, errlog: str,
                parent_pid: int | None = None) -> None:
    """Child process body: limits, read, send the pickled result, exit."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    try:
        fd = os.open(errlog, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        os.dup2(fd, 1)
        os.close(fd)
        sys.stdout = sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace",
                                       closefd=False)
    except OSError:
        pass
    os.environ["RUST_BACKTRACE"] = "0"      # a native crash says one line, not a stack
    try:
        import faulthandler                 # inherited handlers would write to the parent's stderr
        faulthandler.disable()
    except Exception:
        pass
    try:
        _set_limits(memory_limit, time_limit)
    except Exception:
        pass
    try:
        result = _read_here(Path(path))
    except BaseException as exc:    # e.g. a panic of the native reader
        result = ("error", _explain(exc))
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        data = pickle.dumps(("error", problem("file-unreadable", "reader-not-passed", kind=type(exc).__name__)))
    try:
        conn.send_bytes(data)
        conn.close()
    except Exception:
        pass
    os._exit(0)


def _set_limits(memory_limit: int, time_limit: float) -> None:
    try:
        import resource
    except ImportError:     # not on this platform: the timeout still applies
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    base = _address_space()
    want = base + memory_limit
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    cpu = int(math.ceil(time_limit)) + 5
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or cpu < hard:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))


def _address_space() -> int:
    """Current virtual size of this process (the limit is added to it)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
