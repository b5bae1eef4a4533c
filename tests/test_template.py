"""The input template: sheets, headers, validations, formats, instructions, example contract."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from perfsettle.core import months, schema
from perfsettle.outputs.template import (AMENDABLE, ENUM_DISPLAY, GUIDANCE, INSTRUCTIONS_TITLE,
                                         SPEC_COLUMNS, SUGGESTED, example_rows, header,
                                         help_text, sheet_title, write_template)

TODAY = dt.date(2026, 11, 30)
LANGS = ("fr", "en")


@pytest.fixture(scope="module", params=LANGS)
def book(request, tmp_path_factory):
    lang = request.param
    path = write_template(tmp_path_factory.mktemp(lang) / f"modele-{lang}.xlsx", lang, today=TODAY)
    return lang, path, openpyxl.load_workbook(path)


def _validations(ws):
    return list(ws.data_validations.dataValidation)


def _dv_for(ws, cell: str):
    """The data validation covering a cell."""
    for dv in _validations(ws):
        if cell in dv.sqref:
            return dv
    return None


def _col_letter(i: int) -> str:
    return openpyxl.utils.get_column_letter(i + 1)


def test_returns_path_and_rejects_unknown_language(tmp_path):
    out = write_template(tmp_path / "sub" / "t.xlsx", "en")
    assert out == tmp_path / "sub" / "t.xlsx" and out.is_file()
    with pytest.raises(ValueError):
        write_template(tmp_path / "x.xlsx", "de")


def test_sheets_names_and_order(book):
    lang, _, wb = book
    expected = [INSTRUCTIONS_TITLE[lang]] + [sheet_title(s, lang) for s in schema.SHEETS]
    assert wb.sheetnames == expected
    assert wb.sheetnames[1:] == ([s.label_fr for s in schema.SHEETS] if lang == "fr"
                                 else [s.name for s in schema.SHEETS])
    # The instructions sheet is never taken for an input sheet; the others are.
    assert schema.sheet_for(INSTRUCTIONS_TITLE[lang]) is None
    for spec in schema.SHEETS:
        assert schema.sheet_for(sheet_title(spec, lang)) is spec
    assert wb.active.title == INSTRUCTIONS_TITLE[lang]


def test_headers_in_language_and_mapped_back(book):
    lang, _, wb = book
    for spec in schema.SHEETS:
        ws = wb[sheet_title(spec, lang)]
        got = [c.value for c in ws[1]]
        want = [c.label_fr if lang == "fr" else c.name for c in spec.columns]
        assert got == want
        for text, col in zip(got, spec.columns):
            assert schema.column_for(spec, text) is col
        assert ws.freeze_panes == "A2", spec.name


def test_header_input_messages(book):
    lang, _, wb = book
    for spec in schema.SHEETS:
        ws = wb[sheet_title(spec, lang)]
        for i, col in enumerate(spec.columns):
            dv = _dv_for(ws, f"{_col_letter(i)}1")
            assert dv is not None and dv.showInputMessage, (spec.name, col.name)
            text = help_text(col, lang, spec.name)
            assert dv.prompt.startswith(text[:40])
            assert len(dv.prompt) <= 255 and len(dv.promptTitle) <= 32


def _op(dv) -> str:
    return dv.operator or "between"     # 'between' is the default, left out of the file


def _list_values(dv) -> list[str]:
    return dv.formula1.strip('"').split(",")


def test_dropdowns_use_language_values(book):
    lang, _, wb = book

    def dv(sheet_spec, name):
        w = wb[sheet_title(sheet_spec, lang)]
        i = [c.name for c in sheet_spec.columns].index(name)
        found = _dv_for(w, f"{_col_letter(i)}2")
        assert found is not None, name
        return found

    size = dv(schema.CONTRACTS, "company_size")
    assert size.type == "list" and _list_values(size) == ["TPE", "PME", "ETI", "GE"]
    cur = dv(schema.CONTRACTS, "currency")
    assert cur.type == "list" and {"EUR", "USD", "GBP", "CHF", "JPY"} <= set(_list_values(cur))
    yes_no = _list_values(dv(schema.CONTRACTS, "requires_verified"))
    assert yes_no == (["oui", "non"] if lang == "fr" else ["yes", "no"])
    assert _list_values(dv(schema.CONTRACTS, "language")) == ["fr", "en"]
    cat = _list_values(dv(schema.KPIS, "category"))
    direction = _list_values(dv(schema.KPIS, "direction"))
    mode = _list_values(dv(schema.KPIS, "target_mode"))
    status = _list_values(dv(schema.READINGS, "status"))
    if lang == "fr":
        assert cat == ["opérationnel", "robustesse", "financier"]
        assert direction == ["hausse", "baisse"]
        assert mode == ["absolu", "relatif", "points"]
        assert status == ["vérifié", "provisoire", "contesté", "annulé"]
    else:
        assert cat == ["operational", "robustness", "financial"]
        assert direction == ["higher", "lower"]
        assert mode == ["absolute", "relative", "points"]
        assert status == ["verified", "provisional", "disputed", "void"]
    # Every offered value is one that validation reads back.
    for column, values in (("category", cat), ("direction", direction), ("target_mode", mode),
                           ("status", status), ("language", ["fr", "en"])):
        for v in values:
            assert schema.enum_value(column, v) is not None, (column, v)
    for v in yes_no:
        assert schema.key(v) in schema.BOOLS


def test_number_ranges(book):
    lang, _, wb = book

    def dv(spec, name):
        w = wb[sheet_title(spec, lang)]
        i = [c.name for c in spec.columns].index(name)
        return _dv_for(w, f"{_col_letter(i)}2")

    d = dv(schema.CONTRACTS, "duration_months")
    assert (d.type, _op(d), d.formula1, d.formula2) == ("whole", "between", "1", "120")
    w = dv(schema.KPIS, "window_months")
    assert (w.type, _op(w), w.formula1) == ("whole", "greaterThanOrEqual", "1")
    for spec in schema.SHEETS:
        for col in spec.columns:
            if col.kind == "fraction":
                f = dv(spec, col.name)
                assert (f.type, _op(f), f.formula1, f.formula2) == ("decimal", "between", "0", "1"), col.name
    fee = dv(schema.CONTRACTS, "monthly_fee")
    assert (fee.type, _op(fee), fee.formula1) == ("decimal", "greaterThan", "0")
    for name in ("exit_month",):
        e = dv(schema.CONTRACTS, name)
        assert e.type == "whole"
    assert dv(schema.KPIS, "due_month").type == "whole"
    assert dv(schema.READINGS, "value").type == "decimal"


def test_formats(book):
    lang, _, wb = book
    for spec in schema.SHEETS:
        ws = wb[sheet_title(spec, lang)]
        for i, col in enumerate(spec.columns):
            letter = _col_letter(i)
            fmt = _column_format(ws, i + 1)
            if col.kind == "fraction":
                assert "%" in fmt, col.name
                if ws.max_row >= 2 and ws[f"{letter}2"].value is not None:
                    assert "%" in ws[f"{letter}2"].number_format
            if col.kind == "month":
                assert fmt == "yyyy-mm", col.name
                if ws.max_row >= 2 and ws[f"{letter}2"].value is not None:
                    assert ws[f"{letter}2"].number_format == "yyyy-mm"
                    assert isinstance(ws[f"{letter}2"].value, dt.datetime)


def _column_format(ws, index: int) -> str:
    """Number format of a column's default style (adjacent columns may share one <col>)."""
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.min <= index <= dim.max:
            return dim.number_format
    return "General"


def test_strings_are_never_formulas(book):
    _, _, wb = book
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.coordinate
                if isinstance(cell.value, str):
                    assert cell.data_type == "s"


def test_instructions_explain_every_column(book):
    lang, _, wb = book
    ws = wb[INSTRUCTIONS_TITLE[lang]]
    text = "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    for spec in schema.SHEETS:
        assert sheet_title(spec, lang) in text
        for col in spec.columns:
            expl = help_text(col, lang, spec.name)
            match = [r for r in rows if r[0] == header(col, lang) and expl in r]
            assert match, (spec.name, col.name)
            if col.example not in (None, ""):
                assert match[0][6], (spec.name, col.name)   # the example column
    assert "perfsettle check" in text
    for v in ENUM_DISPLAY["fr"]["status"].values():
        assert v in text


def _canonical(value, column: schema.Column):
    if column.name == "field":          # an amended field: the canonical name of its column
        found = schema.column_for(schema.CONTRACTS, value) or schema.column_for(schema.KPIS, value)
        return found.name if found else value
    if column.kind == "enum":
        return schema.enum_value(column.name, value)
    if column.kind == "bool":
        return schema.BOOLS[schema.key(value)]
    if column.kind == "month" and isinstance(value, dt.datetime):
        return months.from_date(value)
    return value


def test_example_contract_is_consistent(book):
    lang, _, wb = book
    current = months.from_date(TODAY)
    data = {}
    for spec in schema.SHEETS:
        ws = wb[sheet_title(spec, lang)]
        rows = []
        for r in ws.iter_rows(min_row=2, values_only=True):
            if any(v is not None for v in r):
                rows.append({c.name: _canonical(v, c) for c, v in zip(spec.columns, r) if v is not None})
        data[spec.name] = rows
    assert data == {k: [{n: v for n, v in row.items() if v not in (None, "")} for row in rows]
                    for k, rows in _canonical_examples(lang).items()}
    (contract,) = data["Contracts"]
    assert contract["language"] == lang
    assert contract["start_month"] == months.add(current, -3)
    kpis = data["KPIs"]
    paying = [k for k in kpis if k["weight"] > 0]
    assert len(paying) >= 2
    assert sum(Decimal(repr(k["weight"])) for k in kpis) == 1
    assert any(k["category"] == "robustness" for k in paying)
    ids = {k["kpi_id"] for k in kpis}
    assert contract["bonus_kpi"] in ids and contract["exit_kpi"] in ids
    readings = data["Readings"]
    assert len(readings) >= 3
    assert {r["month"] for r in readings} == {months.add(current, -i) for i in (1, 2, 3)}
    assert all(r["kpi_id"] in ids for r in readings)
    lo, hi = schema.BANDS[contract["company_size"]]
    assert Decimal(lo) <= Decimal(repr(contract["variable_share"])) <= Decimal(hi)
    assert data["Invoiced"] == []


def _canonical_examples(lang):
    """The example rows as the schema's sheets and columns show them (the others are skipped)."""
    rows = example_rows(lang, TODAY)
    return {spec.name: [{n: v for n, v in r.items() if n in {c.name for c in spec.columns}}
                        for r in rows.get(spec.name, [])]
            for spec in schema.SHEETS}


def test_template_passes_validation_without_finding(book):
    """Validation layers (intake + validate) find nothing in the template as written."""
    from perfsettle.inputs import reading as intake, validation as validate

    lang, path, _ = book
    period = months.add(months.from_date(TODAY), -1)
    raw = intake.read_raw(path)
    parsed = validate.parse_workbook(path.name, raw)
    result = validate.check_run([parsed], {}, {}, period)
    findings = [d.line() for d in parsed.diagnostics + list(result.diagnostics)]
    assert findings == []
    assert result.outcomes[path.name] == "accepted"
    assert not result.excluded
    assert len(result.contracts) == 1 and len(result.kpis) == 5 and len(result.readings) == 15


def test_template_example_settles_cleanly(book):
    """The example contract, settled by the engine, earns every month without a hold."""
    from perfsettle.inputs import reading as intake, validation as validate
    from perfsettle.core.model import Terms
    from perfsettle.core.settle import settle

    lang, path, _ = book
    period = months.add(months.from_date(TODAY), -1)
    parsed = validate.parse_workbook(path.name, intake.read_raw(path))
    got = validate.check_run([parsed], {}, {}, period)
    contracts = [c for c, _ in got.contracts.values()]
    kpis = [k for k, _ in got.kpis.values()]
    terms = [Terms(c, tuple(k for k in kpis if k.contract_id == c.contract_id)) for c in contracts]
    readings = [r for r, _ in got.readings.values()]
    (result,) = settle(terms, readings, {}, period)
    assert result.status == "settled"
    assert result.exit.status == "ok"
    assert [m.month for m in result.months] == [months.add(period, -2), months.add(period, -1), period]
    for m in result.months:
        assert m.held == 0 and m.deferred == 0
        assert m.fixed + m.earned + m.held + m.deferred + m.forfeited == m.fee
    assert [m.bonus_malus for m in result.months] == ["malus", "malus", "bonus"]
    assert [str(m.due) for m in result.months] == ["7535.00", "8435.00", "10350.00"]


def test_dated_from_today_by_default(tmp_path):
    path = write_template(tmp_path / "t.xlsx", "fr")
    ws = openpyxl.load_workbook(path)["Contrats"]
    assert months.from_date(ws["F2"].value) == months.add(months.from_date(dt.date.today()), -3)


# -- real clients -------------------------------------------------------------------------

def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.e2e
@pytest.mark.parametrize("lang", LANGS)
def test_libreoffice_opens_and_resaves(lang, tmp_path):
    soffice = _soffice()
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    src = write_template(tmp_path / f"modele-{lang}.xlsx", lang, today=TODAY)
    out = tmp_path / "out"
    profile = (tmp_path / "lo-profile").as_uri()
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "ods",
         "--outdir", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ods = out / f"modele-{lang}.ods"
    assert ods.is_file() and ods.stat().st_size > 0
    # What LibreOffice wrote back reads as the same input (sheets, headers, rows).
    from perfsettle.inputs import reading as intake, validation as validate
    parsed = validate.parse_workbook(ods.name, intake.read_raw(ods))
    result = validate.check_run([parsed], {}, {}, months.add(months.from_date(TODAY), -1))
    assert [d.line() for d in parsed.diagnostics + list(result.diagnostics)] == []
    assert len(result.readings) == 15


# -- command line ---------------------------------------------------------------------------

def _cli_available() -> bool:
    try:
        import perfsettle.cli  # noqa: F401
    except ImportError:
        return False
    return True


def _perfsettle(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PERFSETTLE_CONFIG", None)
    script = Path(sys.executable).with_name("perfsettle")
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from perfsettle.cli import main; sys.exit(main())"]
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


needs_cli = pytest.mark.skipif(not _cli_available(), reason="perfsettle.cli is not there yet")


@needs_cli
@pytest.mark.parametrize("lang", LANGS)
def test_cli_check_finds_nothing(lang, tmp_path):
    path = write_template(tmp_path / f"modele-{lang}.xlsx", lang)
    proc = _perfsettle("check", str(path), "--lang", lang, cwd=tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    # No finding line ("file sheet!cell: error [code] …"), and a summary of zero findings,
    # in the language asked for.
    assert not re.search(r"(error|warning|erreur|avertissement) \[", text), text
    error, warning = ("error", "warning") if lang == "en" else ("erreur", "avertissement")
    assert re.search(rf"\b0 {error}", text) and re.search(rf"\b0 {warning}", text), text


@needs_cli
@pytest.mark.parametrize("lang", LANGS)
def test_cli_run_settles_the_example(lang, tmp_path):
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    write_template(inbox / f"modele-{lang}.xlsx", lang)
    period = months.add(months.from_date(dt.date.today()), -1)
    proc = _perfsettle("run", "--period", period, "--min-age", "0", "--inbox", str(inbox),
                       "--outbox", str(outbox), "--store", str(tmp_path / "store.sqlite"),
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    contracts = (outbox / period / "contracts.csv").read_text(encoding="utf-8").splitlines()
    assert contracts[0].startswith("contract_id,")
    (row,) = contracts[1:]
    fields = row.split(",")
    assert fields[0] == "C-PME-01" and fields[4] == "settled" and fields[5] == "ok"
    assert fields[6:8] == ["0", "0"]          # no error, no warning
    assert fields[8] == "26320.00"            # 7535 + 8435 + 10350


# -- the columns and sheets of SPEC §2 that the schema may not define yet --------------------

# Canonical values of the new enumerations and the spellings SPEC §2 accepts for them.
SPEC_ENUMS = {
    "bonus_base": {"earned": ("earned", "acquis"), "pool": ("pool", "part_variable")},
    "deemed_outcome": {"missed": ("missed", "non_atteint"), "met": ("met", "atteint")},
    "window_agg": {"worst": ("worst", "min", "pire"), "mean": ("mean", "moyenne")},
    "event": {"terminated": ("terminated", "resilie")},
    "vat_category": {c: (c,) for c in ("S", "Z", "E", "AE", "K", "G", "O")},
}


def test_guidance_for_every_spec_column():
    """Every column of SPEC §2 is explained in both languages, by this module or the schema."""
    in_schema = {spec.name: {c.name: c for c in spec.columns} for spec in schema.SHEETS}
    for sheet, names in SPEC_COLUMNS.items():
        for name in names:
            own = GUIDANCE.get(sheet, {}).get(name)
            col = in_schema.get(sheet, {}).get(name)
            if own is None:
                assert col is not None and col.help_fr and col.help_en, (sheet, name)
            else:
                assert own["fr"].strip() and own["en"].strip(), (sheet, name)
                assert own["fr"] != own["en"], (sheet, name)
    # Every guided name is a column of SPEC §2 (no typo that would silently never show).
    for sheet, cols in GUIDANCE.items():
        assert set(cols) <= set(SPEC_COLUMNS[sheet]), sheet
    # Every new column of this issue is guided here, whatever the schema says of it.
    new = {"Contracts": SPEC_COLUMNS["Contracts"][20:], "KPIs": SPEC_COLUMNS["KPIs"][13:],
           "Invoiced": ("invoice_number", "invoice_date"),
           "Amendments": SPEC_COLUMNS["Amendments"], "Events": SPEC_COLUMNS["Events"]}
    assert "bonus_base" in new["Contracts"] and "window_agg" in new["KPIs"]
    for sheet, names in new.items():
        for name in names:
            assert name in GUIDANCE[sheet], (sheet, name)
    # The amendable fields are columns of their sheets.
    for sheet, names in AMENDABLE.items():
        assert set(names) <= set(SPEC_COLUMNS[sheet])


def test_new_dropdown_values_read_back_as_spec_says():
    for name, values in SPEC_ENUMS.items():
        for lang in LANGS:
            shown = ENUM_DISPLAY[lang][name]
            assert set(shown) == set(values), (lang, name)
            for canonical, text in shown.items():
                assert schema.key(text) in {schema.key(v) for v in values[canonical]}, text
                if name in schema.ENUMS:      # once the schema reads this enumeration
                    assert schema.enum_value(name, text) == canonical, (name, text)


def _future_sheets():
    """The sheets of SPEC §2 with the columns of the clause options, invoices, amendments and
    events, as the schema is expected to define them."""
    from dataclasses import replace
    C = schema.Column

    def extend(spec, *cols):
        known = {c.name for c in spec.columns}
        return replace(spec, columns=spec.columns + tuple(c for c in cols if c.name not in known))

    contracts = extend(
        schema.CONTRACTS,
        C("bonus_base", "enum", ("base_bonus",), default="earned", label_fr="base_bonus"),
        C("bonus_every", "int", ("periodicite_bonus",), default=1, label_fr="periodicite_bonus"),
        C("bonus_band", "number", ("tolerance_bonus",), default=0, label_fr="tolerance_bonus"),
        C("exit_window_months", "int", ("delai_sortie",), label_fr="delai_sortie"),
        C("hold_limit_months", "int", ("delai_blocage",), label_fr="delai_blocage"),
        C("deemed_outcome", "enum", ("issue_reputee",), default="missed", label_fr="issue_reputee"),
        C("vat_rate", "fraction", ("taux_tva",), default="0.20", label_fr="taux_tva"),
        C("vat_category", "enum", ("categorie_tva",), default="S", label_fr="categorie_tva"),
        C("payment_days", "int", ("delai_paiement",), default=30, label_fr="delai_paiement"),
        C("client_siren", "text", ("siren_client",), label_fr="siren_client"),
        C("client_vat_id", "text", ("tva_client",), label_fr="tva_client"),
        C("client_address", "text", ("adresse_client",), label_fr="adresse_client"),
        C("client_postcode", "text", ("code_postal_client",), label_fr="code_postal_client"),
        C("client_city", "text", ("ville_client",), label_fr="ville_client"),
        C("client_country", "text", ("pays_client",), default="FR", label_fr="pays_client"))
    kpis = extend(
        schema.KPIS,
        C("window_agg", "enum", ("agregation",), default="worst", label_fr="agregation"),
        C("min_coverage", "int", ("couverture_min",), label_fr="couverture_min"),
        C("earnback_months", "int", ("rattrapage_mois",), label_fr="rattrapage_mois"),
        C("chronic_misses", "int", ("echecs_repetes",), label_fr="echecs_repetes"),
        C("chronic_months", "int", ("fenetre_echecs",), label_fr="fenetre_echecs"))
    invoiced = extend(
        schema.INVOICED,
        C("invoice_number", "text", ("numero_facture",), label_fr="numero_facture"),
        C("invoice_date", "date", ("date_facture",), label_fr="date_facture"))
    amendments = schema.SheetSpec("Amendments", ("avenants",), (
        C("contract_id", "id", ("contrat",), True, label_fr="contrat"),
        C("kpi_id", "id", ("indicateur",), label_fr="indicateur"),
        C("field", "text", ("champ",), True, label_fr="champ"),
        C("value", "text", ("valeur",), label_fr="valeur"),
        C("effective_month", "month", ("mois_effet",), True, label_fr="mois_effet"),
        C("reason", "text", ("motif",), True, label_fr="motif"),
        C("reference", "text", ("reference",), label_fr="reference"),
    ), "Avenants")
    events = schema.SheetSpec("Events", ("evenements",), (
        C("contract_id", "id", ("contrat",), True, label_fr="contrat"),
        C("event", "enum", ("evenement",), True, label_fr="evenement"),
        C("month", "month", ("mois",), label_fr="mois"),
        C("reason", "text", ("motif",), label_fr="motif"),
    ), "Evenements")
    return (contracts, kpis, schema.READINGS, invoiced, amendments, events)


@pytest.fixture(scope="module", params=LANGS)
def future_book(request, tmp_path_factory):
    lang = request.param
    sheets = _future_sheets()
    path = write_template(tmp_path_factory.mktemp("future-" + lang) / f"t-{lang}.xlsx", lang,
                          today=TODAY, sheets=sheets)
    return lang, sheets, openpyxl.load_workbook(path)


def test_new_columns_and_sheets_shown_once_the_schema_has_them(future_book):
    lang, sheets, wb = future_book
    assert wb.sheetnames == [INSTRUCTIONS_TITLE[lang]] + [sheet_title(s, lang) for s in sheets]
    assert wb.sheetnames[-2:] == (["Avenants", "Evenements"] if lang == "fr"
                                  else ["Amendments", "Events"])
    for spec in sheets:
        ws = wb[sheet_title(spec, lang)]
        assert [c.value for c in ws[1]] == [header(c, lang) for c in spec.columns]
        for i, col in enumerate(spec.columns):
            head = _dv_for(ws, f"{_col_letter(i)}1")
            cells = _dv_for(ws, f"{_col_letter(i)}2")
            expl = help_text(col, lang, spec.name)
            own = GUIDANCE.get(spec.name, {}).get(col.name)
            if own is not None:
                assert expl == own[lang]
            for dv in (head, cells):
                assert dv is not None and dv.prompt.startswith(expl), (spec.name, col.name)
                assert len(dv.prompt) <= 255 and not dv.prompt.endswith("…"), (spec.name, col.name)


def test_new_dropdowns(future_book):
    lang, sheets, wb = future_book
    by_name = {s.name: s for s in sheets}

    def dv(sheet, name):
        spec = by_name[sheet]
        i = [c.name for c in spec.columns].index(name)
        return _dv_for(wb[sheet_title(spec, lang)], f"{_col_letter(i)}2")

    fr = lang == "fr"
    assert _list_values(dv("Contracts", "bonus_base")) == (["acquis", "part_variable"] if fr
                                                           else ["earned", "pool"])
    assert _list_values(dv("Contracts", "deemed_outcome")) == (["non_atteint", "atteint"] if fr
                                                               else ["missed", "met"])
    assert _list_values(dv("KPIs", "window_agg")) == (["pire", "moyenne"] if fr
                                                      else ["worst", "mean"])
    assert _list_values(dv("Contracts", "vat_category")) == ["S", "Z", "E", "AE", "K", "G", "O"]
    assert _list_values(dv("Events", "event")) == (["résilié"] if fr else ["terminated"])
    # The termination reasons are suggestions: free text passes (an information, not a stop).
    reason = dv("Events", "reason")
    assert _list_values(reason) == list(SUGGESTED["Events"]["reason"])
    assert reason.errorStyle == "information"
    # Whole numbers and bounds.
    pay = dv("Contracts", "payment_days")
    assert (pay.type, _op(pay), pay.formula1, pay.formula2) == ("whole", "between", "0", "60")
    for sheet, name in (("Contracts", "bonus_every"), ("Contracts", "exit_window_months"),
                        ("Contracts", "hold_limit_months"), ("KPIs", "earnback_months"),
                        ("KPIs", "chronic_misses"), ("KPIs", "chronic_months")):
        d = dv(sheet, name)
        assert (d.type, _op(d), d.formula1) == ("whole", "greaterThanOrEqual", "1"), name
    band = dv("Contracts", "bonus_band")
    assert (band.type, _op(band), band.formula1) == ("decimal", "greaterThanOrEqual", "0")
    assert dv("Contracts", "vat_rate").type == "decimal"
    # The amended field: a dropdown over the list of amendable fields on the instructions sheet.
    field = dv("Amendments", "field")
    assert field.type == "list" and field.formula1.startswith("'")
    ref = field.formula1
    sheet_part, cells = ref.rsplit("!", 1)
    assert sheet_part.strip("'").replace("''", "'") == INSTRUCTIONS_TITLE[lang]
    first, last = (int(x.strip("$A")) for x in cells.split(":"))
    listed = [wb[INSTRUCTIONS_TITLE[lang]][f"A{r}"].value for r in range(first, last + 1)]
    want = [header(by_name[s].column(n), lang) for s in ("Contracts", "KPIs") for n in AMENDABLE[s]]
    assert listed == want
    assert ("honoraires_mensuels" if fr else "monthly_fee") in listed
    assert ("objectif" if fr else "target") in listed
    # The new value is typed as in its own column: no list, General format (not text).
    assert dv("Amendments", "value").type is None


def test_worked_example_rows_of_the_new_sheets(future_book):
    lang, sheets, wb = future_book
    by_name = {s.name: s for s in sheets}
    start = months.add(months.from_date(TODAY), -3)

    def rows(sheet):
        spec = by_name[sheet]
        ws = wb[sheet_title(spec, lang)]
        return [dict(zip([c.name for c in spec.columns], r))
                for r in ws.iter_rows(min_row=2, values_only=True) if any(v is not None for v in r)]

    (amendment,) = rows("Amendments")
    assert amendment["contract_id"] == "C-PME-01" and amendment["kpi_id"] is None
    assert amendment["field"] == ("honoraires_mensuels" if lang == "fr" else "monthly_fee")
    assert amendment["value"] == 11000
    assert months.from_date(amendment["effective_month"]) == months.add(start, 6)
    assert amendment["reason"] and amendment["reference"]
    (event,) = rows("Events")
    assert event["event"] == ("résilié" if lang == "fr" else "terminated")
    assert months.from_date(event["month"]) == months.add(start, 8)
    assert event["reason"] == "mutual"
    # Both take effect after the default close period: the months closed so far keep their terms.
    period = months.add(months.from_date(TODAY), -1)
    assert months.add(start, 6) > period and months.add(start, 8) > period
    (contract,) = rows("Contracts")
    assert contract["bonus_base"] == ("acquis" if lang == "fr" else "earned")
    assert contract["bonus_every"] == 1 and contract["bonus_band"] == 0
    assert contract["vat_rate"] == 0.2 and contract["payment_days"] == 30
    assert contract["client_postcode"] == "69002"       # text: a leading zero would survive
    ws = wb[sheet_title(by_name["Contracts"], lang)]
    i = [c.name for c in by_name["Contracts"].columns].index("client_postcode")
    assert ws.cell(row=2, column=i + 1).number_format == "@"
    assert not rows("Invoiced")


def test_instructions_explain_the_new_columns(future_book):
    lang, sheets, wb = future_book
    rows = [[c.value for c in r] for r in wb[INSTRUCTIONS_TITLE[lang]].iter_rows()]
    for spec in sheets:
        for col in spec.columns:
            expl = help_text(col, lang, spec.name)
            assert [r for r in rows if r[0] == header(col, lang) and expl in r], (spec.name, col.name)
    text = "\n".join(str(v) for r in rows for v in r if v is not None)
    for values in ENUM_DISPLAY["fr"]["window_agg"].values(), ENUM_DISPLAY["en"]["bonus_base"].values():
        for v in values:
            assert v in text
    # Defaults of SPEC §2 are shown.
    contracts = {}
    for r in rows:                      # the first row of a name: its column's line
        if r[0]:
            contracts.setdefault(r[0], r)
    assert contracts[header(sheets[0].column("payment_days"), lang)][3] == "30"
    assert contracts[header(sheets[0].column("bonus_base"), lang)][3] == (
        "acquis" if lang == "fr" else "earned")
