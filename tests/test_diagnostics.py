"""The catalogue of findings: every code made in the code is in it, every code in it is made
somewhere and documented; findings are made from it only; and money does not depend on the
ambient decimal context."""
from __future__ import annotations

import ast
import pickle
import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from perfsettle.core import diagnostics
from perfsettle.core.diagnostics import CATALOGUE, CONTRACT, FILE, Text, make, problem
from perfsettle.core.model import ERROR, WARNING, Source

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "perfsettle"
DOC = REPO / "docs" / "accepted-inputs.md"
CODE = re.compile(r"^[a-z]+(?:-[a-z0-9]+)*$")

# Calls that make a finding, and the position of the code among their arguments.
MAKERS = {"make": 0, "problem": 0, "add": 0, "err": 0, "file_error": 1}


def _codes_made_in(path: Path) -> set[str]:
    """Codes passed to a maker in one source file (and the range checks' table of validation)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            at = MAKERS.get(name)
            if at is not None and len(node.args) > at:
                arg = node.args[at]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and CODE.match(arg.value):
                    found.add(arg.value)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_CHECKS" for t in node.targets):
            for t in ast.walk(node.value):
                if isinstance(t, ast.Tuple) and t.elts and isinstance(t.elts[0], ast.Constant):
                    found.add(t.elts[0].value)
    return found


def codes_made() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "diagnostics.py" and path.parent.name == "core":
            continue
        for code in _codes_made_in(path):
            out.setdefault(code, set()).add(str(path.relative_to(SRC)))
    return out


def test_every_code_made_in_the_code_is_in_the_catalogue():
    made = codes_made()
    assert made, "the scan found no finding at all"
    unknown = {code: files for code, files in made.items() if code not in CATALOGUE}
    assert not unknown, f"codes made but not catalogued: {unknown}"


def test_every_code_of_the_catalogue_is_made_somewhere():
    made = codes_made()
    unused = sorted(set(CATALOGUE) - set(made))
    assert not unused, f"catalogued but never made: {unused}"


def test_every_code_of_the_catalogue_is_documented():
    doc = DOC.read_text(encoding="utf-8")
    missing = sorted(code for code in CATALOGUE if f"`{code}`" not in doc)
    assert not missing, missing


def test_the_documents_table_of_findings_is_the_catalogues():
    doc = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- findings: begin -->\n", "<!-- findings: end -->"
    assert begin in doc and end in doc
    table = doc.split(begin, 1)[1].split(end, 1)[0]
    assert table == diagnostics.markdown(), (
        "docs/accepted-inputs.md is out of date: replace its table with the output of "
        "`python -m perfsettle.core.diagnostics`")


def _findings_made_by_hand(path: Path) -> list[str]:
    """Findings made outside the catalogue: a Diagnostic built directly, an old-style helper
    given its own messages, or a (severity, code, en, fr) tuple."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("Diagnostic", "finding", "_finding", "_err", "_diag"):
                out.append(f"{path.name}:{node.lineno} {name}(…)")
        elif isinstance(node, ast.Tuple) and len(node.elts) >= 3:
            first, second = node.elts[0], node.elts[1]
            if (getattr(first, "id", "") in ("ERROR", "WARNING") or getattr(first, "value", None) in ("error", "warning")) \
                    and isinstance(second, ast.Constant) and isinstance(second.value, str) and CODE.match(second.value):
                out.append(f"{path.name}:{node.lineno} ({second.value!r}, …)")
    return out


def test_no_finding_is_made_by_hand():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "diagnostics.py" and path.parent.name == "core":
            continue
        found += _findings_made_by_hand(path)
    assert not found, "make these from the catalogue (diagnostics.make / problem): " + ", ".join(found)


def test_the_scan_sees_a_new_finding(tmp_path):
    """The walk is meaningful: a finding made with an uncatalogued code is seen."""
    p = tmp_path / "m.py"
    p.write_text('from perfsettle.core.diagnostics import make\n'
                 'def f(src):\n    return make("no-such-code", src, "C1", weight=1)\n', encoding="utf-8")
    assert _codes_made_in(p) == {"no-such-code"}
    p.write_text('from perfsettle.core.model import ERROR, Diagnostic\n'
                 'def f(src):\n    return Diagnostic("weights-sum", ERROR, "en", src), (ERROR, "bad-id", "en", "fr")\n',
                 encoding="utf-8")
    assert len(_findings_made_by_hand(p)) == 2


# --------------------------------------------------------------------------- the maker

def test_the_maker_refuses_an_unknown_code():
    with pytest.raises(KeyError, match="unknown finding code 'out-of-range'"):
        make("out-of-range", Source("book.xlsx", "Contracts", 2, "G"), "C1", found=121)


def test_the_maker_refuses_a_missing_or_an_undeclared_field_and_an_unknown_message():
    with pytest.raises(TypeError, match="needs total"):
        make("weights-sum", Source(), "C1", contract="C1")
    with pytest.raises(TypeError, match="no field colour"):
        make("weights-sum", Source(), "C1", contract="C1", total=D("0.9"), colour="red")
    with pytest.raises(KeyError, match="no message"):
        problem("weights-sum", "no-such-variant", contract="C1", total=D("0.9"))


def test_a_finding_is_rendered_in_both_languages_with_its_data():
    d = make("weights-sum", Source("book.xlsx", "KPIs", 4, "K"), "C1", contract="C1", total=D("0.9"))
    assert (d.code, d.severity, d.scope, d.contract_id) == ("weights-sum", ERROR, CONTRACT, "C1")
    assert d.message == "the weights of contract C1 sum to 0.9, not 1"
    assert d.message_fr == "les poids du contrat C1 font 0,9 au lieu de 1"
    assert d.fields == {"contract": "C1", "total": D("0.9")}
    assert d.line() == "KPIs!K4 (book.xlsx): error [weights-sum] the weights of contract C1 sum to 0.9, not 1"


def test_phrases_sizes_and_counts_follow_the_language():
    d = make("file-too-large", Source("big.xlsx"), size=314_572_800, limit=200 * (1 << 20))
    assert d.message.startswith("the file is 300 MiB (314,572,800 bytes), more than the limit of 200 MiB")
    assert d.message_fr.startswith("le fichier fait 300 Mio (314\u202f572\u202f800 octets), plus que la limite de 200 Mio")
    d = make("sheet-duplicate", Source("b.xlsx", "Mesures"), sheet=Text("Readings", "Mesures"),
             first="Readings", second="Mesures")
    assert d.message.startswith("two sheets hold Readings:") and d.message_fr.startswith("deux feuilles contiennent Mesures :")


def test_a_file_finding_belongs_to_no_contract():
    assert make("column-missing", Source("b.xlsx", "KPIs", 1), column=Text("weight", "poids"), header_row=1).rejects_file
    with pytest.raises(ValueError):
        make("column-missing", Source("b.xlsx", "KPIs", 1), "C1", column=Text("weight", "poids"), header_row=1)


def test_a_pending_problem_survives_a_process_boundary():
    p = problem("file-unreadable", "reader-timeout", seconds=300.0)
    d = pickle.loads(pickle.dumps(p)).at(Source("slow.xlsx"))
    assert d.message == ("the workbook could not be read safely: reading took longer than the limit of 300 s "
                         "(limits.time_limit_s) and was stopped")


def test_every_entry_is_coherent():
    for c in CATALOGUE.values():
        assert CODE.match(c.code), c.code
        assert c.scope in diagnostics.SCOPES[c.severity], c.code
        assert c.doc and c.templates and len(set(c.fields)) == len(c.fields), c.code
        for en, fr in c.templates.values():
            assert en and fr and en != fr, c.code


def test_percent_scale_is_an_error_in_a_fraction_column_and_a_warning_on_a_reading():
    assert CATALOGUE["percent-scale"].severity == ERROR
    assert CATALOGUE["reading-percent-scale"].severity == WARNING


def test_which_workbook_is_rejected_is_the_catalogues_scope_not_a_prefix():
    file_codes = {c.code for c in CATALOGUE.values() if c.scope == FILE}
    assert {"file-no-sheet", "column-missing", "column-duplicate", "sheet-duplicate", "zip-bomb",
            "xml-dtd", "too-many-rows", "internal-error"} <= file_codes
    assert "sheet-hidden" not in file_codes and "required" not in file_codes
