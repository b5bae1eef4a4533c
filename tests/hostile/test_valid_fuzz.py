"""Fuzz of valid inputs: random workbooks written the ways people write them must be accepted,
with exactly the values meant.

The hostile fuzz (test_hostile.py) proves that nothing raises and nothing is read wrong
silently; it cannot see a valid input being refused. Here every generated workbook is valid
(SPEC §2): numbers as numbers or as text with decimal commas, grouped thousands and ``40 %``;
months as dates, ``YYYY-MM`` or ``MM/YYYY``; French sheet names, headers and values; headers
in any case, with accents, spaces or dashes; columns in any order, extra columns; a title, a
note and blank rows above the header. Each must be accepted with no error and the values meant.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfsettle.core import schema
from perfsettle.inputs.reading import RawSheet, RawWorkbook, read_raw
from perfsettle.inputs.validation import check_run, parse_workbook

GROUPS = (" ", "\u00a0", "\u202f")
ACCENTS = {"e": "é", "a": "à", "E": "É", "o": "ô", "i": "î", "u": "û"}


# ----------------------------------------------------------------------------- values as typed

@st.composite
def number_cell(draw, value: Decimal, percent: bool = False):
    """A cell meaning ``value``: a number, or text with a decimal comma or point, grouped
    thousands, a sign, or (for a fraction) a percentage."""
    forms = ["number", "comma", "point"] + (["percent"] if percent else [])
    form = draw(st.sampled_from(forms))
    if form == "number":
        return int(value) if value == value.to_integral_value() and draw(st.booleans()) else float(value)
    if form == "percent":
        pct = (value * 100).normalize()
        text = _grouped(f"{pct:f}", ",", draw(st.sampled_from(GROUPS)))
        return text + draw(st.sampled_from([" %", "%", "\u00a0%", "\u202f%"]))
    sep = "," if form == "comma" else "."
    text = f"{value:f}"
    intpart, _, frac = text.partition(".")
    if frac and len(frac) == 3 and len(intpart.lstrip("-")) <= 3 and intpart.lstrip("-") != "0":
        frac += "0"    # '1,234' would be ambiguous by design (SPEC §2): write '1,2340'
    grouped = draw(st.booleans()) and len(intpart.lstrip("-")) > 3
    group = draw(st.sampled_from(GROUPS)) if grouped else ""
    out = _grouped(intpart + ("." + frac if frac else ""), sep, group)
    return out


def _grouped(text: str, sep: str, group: str) -> str:
    sign = "-" if text.startswith("-") else ""
    intpart, _, frac = text.lstrip("-").partition(".")
    if group:
        chunks = []
        while len(intpart) > 3:
            chunks.insert(0, intpart[-3:])
            intpart = intpart[:-3]
        intpart = group.join([intpart] + chunks)
    return sign + intpart + (sep + frac if frac else "")


@st.composite
def month_cell(draw, month: str, as_file: bool):
    y, m = int(month[:4]), int(month[5:])
    forms = ["iso", "slash", "date", "datetime"]
    form = draw(st.sampled_from(forms))
    if form == "iso":
        return month
    if form == "slash":
        return f"{m:02d}/{y}"
    day = draw(st.integers(1, 28))
    if form == "date" and not as_file:
        return dt.date(y, m, day)
    return dt.datetime(y, m, day, draw(st.integers(0, 23)) if not as_file else 0)


@st.composite
def header_text(draw, col: schema.Column):
    name = draw(st.sampled_from((col.name, *col.aliases)))
    if draw(st.booleans()):
        name = name.replace("_", draw(st.sampled_from([" ", "-", "_", ""])))
    name = draw(st.sampled_from([name, name.upper(), name.title(), name.capitalize()]))
    if draw(st.booleans()):
        name = "".join(ACCENTS.get(ch, ch) if draw(st.booleans()) else ch for ch in name)
    return draw(st.sampled_from([name, " " + name, name + " "]))


def enum_cell(draw, column: str, value: str) -> str:
    words = [k for k, v in schema.ENUMS[column].items() if v == value]
    word = draw(st.sampled_from(words))
    word = "".join(ACCENTS.get(ch, ch) if ch == "e" and draw(st.booleans()) else ch for ch in word)
    return draw(st.sampled_from([word, word.upper(), word.capitalize()]))


# ----------------------------------------------------------------------------- whole workbooks

MONTHS = ("2026-01", "2026-02", "2026-03")


@st.composite
def contract_values(draw):
    cents = draw(st.integers(100, 10 ** 9))
    return {
        "contract_id": draw(st.from_regex(r"[A-Z][A-Za-z0-9._-]{0,12}", fullmatch=True)),
        "client": draw(st.sampled_from(["Boulangeries Martin SAS", "Transports Lefèvre", "Müller GmbH"])),
        "provider": draw(st.sampled_from(["Agence Lumen IA", "Data & Co"])),
        "company_size": draw(st.sampled_from(["TPE", "PME", "ETI", "GE"])),
        "start_month": "2026-01",
        "duration_months": draw(st.integers(3, 36)),
        "monthly_fee": Decimal(cents).scaleb(-2),
        "variable_share": Decimal(draw(st.integers(1, 99))).scaleb(-2),
    }


@st.composite
def valid_workbook(draw, as_file: bool = False):
    """(sheets {name: rows}, the values meant) for one contract with two KPIs and readings."""
    c = draw(contract_values())
    w = Decimal(draw(st.integers(1, 99))).scaleb(-2)
    kpis = [
        {"contract_id": c["contract_id"], "kpi_id": "detection", "name": "Taux de détection",
         "category": "operational", "direction": "higher", "target_mode": "absolute",
         "target": Decimal(draw(st.integers(1, 999))).scaleb(-3), "weight": w},
        {"contract_id": c["contract_id"], "kpi_id": "stabilite", "name": "Stabilité",
         "category": "robustness", "direction": draw(st.sampled_from(["higher", "lower"])),
         "target_mode": "absolute", "target": Decimal(draw(st.integers(1, 999))).scaleb(-3),
         "weight": 1 - w},
    ]
    readings = [{"contract_id": c["contract_id"], "kpi_id": k["kpi_id"], "month": m,
                 "value": Decimal(draw(st.integers(0, 100000))).scaleb(-draw(st.integers(0, 4))),
                 "status": draw(st.sampled_from(["verified", "provisional"]))}
                for k in kpis for m in MONTHS[:draw(st.integers(1, 3))]]

    def cell(column: str, value):
        kind = _kind(column)
        if kind == "month":
            return draw(month_cell(value, as_file))
        if kind in ("money", "number"):
            return draw(number_cell(value))
        if kind == "fraction":
            return draw(number_cell(value, percent=True))
        if kind == "int":
            return draw(st.sampled_from([value, float(value), str(value)]))
        if kind == "enum":
            return enum_cell(draw, column, value)
        return value

    def sheet(spec: schema.SheetSpec, records: list[dict]) -> tuple[str, list[list]]:
        name = draw(st.sampled_from((spec.name, *spec.aliases)))
        name = draw(st.sampled_from([name, name.upper(), name.lower(), name.capitalize()]))
        columns = list(records[0])
        columns = draw(st.permutations(columns))
        extra = draw(st.sampled_from([[], ["notes"], ["notes", "owner"]]))
        header = [draw(header_text(spec.column(col))) for col in columns] + extra
        rows = [[cell(col, r[col]) for col in columns] + ["libre" for _ in extra] for r in records]
        above = draw(st.lists(st.sampled_from(["title", "note", "blank", "one-name"]), max_size=3))
        lead = []
        for kind in above:
            lead.append({"title": [f"{spec.label_fr.capitalize()} — arrêté au 30/04/2026"],
                         "note": ["Saisi par le contrôle de gestion", None, "v3"],
                         "blank": [],
                         "one-name": [columns[0]]}[kind])
        if draw(st.booleans()) and len(rows) > 1:
            rows.insert(draw(st.integers(1, len(rows) - 1)), [])     # a blank row among the data
        return name, lead + [header] + rows

    sheets = dict([sheet(schema.CONTRACTS, [{**c, "currency": "EUR"}]),
                   sheet(schema.KPIS, kpis), sheet(schema.READINGS, readings)])
    return sheets, {"contract": c, "kpis": kpis, "readings": readings}


def _kind(column: str) -> str:
    for spec in schema.SHEETS:
        for col in spec.columns:
            if col.name == column:
                return col.kind
    raise KeyError(column)


def _raw(sheets: dict[str, list[list]]) -> RawWorkbook:
    return RawWorkbook(tuple(RawSheet(n, rows, {}, False) for n, rows in sheets.items()), tuple(sheets))


def _write(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None:
                    continue
                cell = ws.cell(row=r, column=c, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"
                elif isinstance(value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd"
    wb.save(path)
    return path


def assert_accepted_as_meant(raw: RawWorkbook, meant: dict, name: str = "valid.xlsx") -> None:
    wb = parse_workbook(name, raw)
    out = check_run([wb], {}, {}, "2026-03")
    errors = [d.line() for d in out.diagnostics if d.is_error]
    assert not errors, errors
    assert out.outcomes[name] == "accepted"
    # warnings (a number typed as text, a share outside its band) are allowed: the values must be right
    c = meant["contract"]
    got, _ = out.contracts[c["contract_id"]]
    for field in ("client", "provider", "company_size", "start_month", "duration_months",
                  "monthly_fee", "variable_share"):
        assert getattr(got, field) == c[field], (field, getattr(got, field), c[field])
    assert got.currency == "EUR"
    for k in meant["kpis"]:
        kpi, _ = out.kpis[(c["contract_id"], k["kpi_id"])]
        for field in ("name", "category", "direction", "target_mode", "target", "weight"):
            assert getattr(kpi, field) == k[field], (field, getattr(kpi, field), k[field])
    assert len(out.readings) == len(meant["readings"])
    for r in meant["readings"]:
        reading, _ = out.readings[(c["contract_id"], r["kpi_id"], r["month"])]
        assert (reading.value, reading.status) == (r["value"], r["status"]), (reading, r)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=valid_workbook())
def test_valid_workbooks_are_accepted_with_the_values_meant(case):
    sheets, meant = case
    assert_accepted_as_meant(_raw(sheets), meant)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=valid_workbook(as_file=True))
def test_valid_xlsx_files_are_accepted_with_the_values_meant(tmp_path, case):
    sheets, meant = case
    path = _write(tmp_path / "valid.xlsx", sheets)
    assert_accepted_as_meant(read_raw(path), meant)
