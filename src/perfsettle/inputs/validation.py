"""Validation: raw sheets -> typed rows and findings, then the rules of SPEC §2.

Three layers, each producing ``Diagnostic`` values located at their cell:
1. ``parse_workbook``: find the input sheets and their header row, map headers (aliases,
   accents, case), convert every cell (``cells``), flag error cells and uncached formulas.
2. pandera schemas, one per sheet, check each column's values (required, ranges,
   identifiers, duplicates) lazily, all failures at once.
3. ``check_run``: the rules that span rows and workbooks, on each contract as it will stand
   after this run (the stored rows overlaid with this run's rows), and the scope of errors:
   an error that belongs to a contract excludes that contract; a file-level error rejects
   the workbook.
"""
from __future__ import annotations

import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from itertools import compress
from sys import intern


from perfsettle.inputs import amendments as amending, cells


from perfsettle.core import diagnostics, invoicing, schema
from perfsettle.core.diagnostics import Text, make, problem
from perfsettle.inputs.reading import RawWorkbook, col_letter, collector_paused
from perfsettle.core.model import Contract, Diagnostic, Intake, Kpi, Reading, Source, Terms

warnings.filterwarnings("ignore", module="pandera")


@dataclass(slots=True)
class Row:
    """One data row of an input sheet, converted; ``bad`` holds the columns that failed."""
    file: str
    sheet: str                  # the sheet name as written in the file
    row: int                    # Excel row number
    values: dict
    letters: dict               # column name -> Excel column letters
    headers: dict               # column name -> header text as written
    bad: frozenset = frozenset()   # replaced, never mutated: most rows share the empty one

    def mark_bad(self, column: str) -> None:
        self.bad = self.bad | {column}

    def source(self, column: str | None = None) -> Source:
        if column is None or column not in self.letters:
            return Source(self.file, self.sheet, self.row)
        return Source(self.file, self.sheet, self.row, self.letters[column], self.headers.get(column, column))

    @property
    def contract_id(self) -> str | None:
        v = self.values.get("contract_id")
        return v if isinstance(v, str) else None


@dataclass
class ParsedWorkbook:
    name: str
    sheets: dict = field(default_factory=dict)   # canonical sheet name -> list[Row]
    diagnostics: list = field(default_factory=list)

    @property
    def file_rejected(self) -> bool:
        return any(d.rejects_file for d in self.diagnostics)


def file_error(name: str, code: str, sheet: str = "", row: int | None = None, column: str = "", /,
               **data) -> Diagnostic:
    """A finding about the workbook as a whole (no contract), from the catalogue."""
    return make(code, Source(name, sheet, row, column), None, **data)


# --------------------------------------------------------------------------- layer 1

def parse_workbook(name: str, raw: RawWorkbook) -> ParsedWorkbook:
    with collector_paused():
        return _parse_workbook(name, raw)


def _parse_workbook(name: str, raw: RawWorkbook) -> ParsedWorkbook:
    out = ParsedWorkbook(name)
    seen: dict[str, str] = {}
    for sheet in raw.sheets:
        spec = schema.sheet_for(sheet.name)
        if spec is None:
            continue
        if spec.name in seen:
            out.diagnostics.append(file_error(
                name, "sheet-duplicate", sheet.name,
                sheet=Text(spec.name, spec.label_fr), first=seen[spec.name], second=sheet.name))
            continue
        seen[spec.name] = sheet.name
        if sheet.hidden:
            out.diagnostics.append(make("sheet-hidden", Source(name, sheet.name), None, sheet=sheet.name))
        out.sheets[spec.name] = _parse_sheet(name, sheet, spec, out.diagnostics)
    if not seen:
        out.diagnostics.append(file_error(name, "file-no-sheet"))
    return out


HEADER_SEARCH = 20   # non-empty rows among which the header row is looked for (SPEC §2)


def _column_names_in(spec: schema.SheetSpec, row: list) -> int:
    """How many distinct columns of the sheet a row names (by column name or alias)."""
    return len({col.name for col in (schema.column_for(spec, v) for v in row if not cells.is_blank(v))
                if col is not None})


def header_row(spec: schema.SheetSpec, rows) -> int | None:
    """Index in ``rows`` of the header row: the first row, among the first 20 non-empty ones,
    that holds at least two of the sheet's column names; None when there is none. Rows above
    it (a title, a note, a blank row) are not read."""
    seen = 0
    for i, r in enumerate(rows):
        if not any(not cells.is_blank(v) for v in r):
            continue
        if _column_names_in(spec, r) >= 2:
            return i
        seen += 1
        if seen >= HEADER_SEARCH:
            break
    return None


def _parse_sheet(name, sheet, spec: schema.SheetSpec, diags: list) -> list[Row]:
    grid = sheet.grid
    first = next((i for i, r in enumerate(grid.iter_rows()) if any(not cells.is_blank(v) for v in r)), None)
    if first is None:   # an empty sheet holds no rows: said, as nothing is read from it
        diags.append(make("sheet-empty", Source(name, sheet.name), None, sheet=sheet.name))
        return []
    header_at = header_row(spec, grid.iter_rows())
    if header_at is None:
        diags.append(file_error(
            name, "sheet-no-header", sheet.name, first + 1, search=HEADER_SEARCH,
            sheet_name=Text(spec.name, spec.label_fr or spec.name),
            columns=Text(", ".join(c.name for c in spec.columns[:3]),
                         ", ".join(c.label_fr or c.name for c in spec.columns[:3]))))
        return []
    mapping: dict[int, schema.Column] = {}
    headers: dict[str, str] = {}
    letters: dict[str, str] = {}
    for c, text in enumerate(grid.row(header_at)):
        if cells.is_blank(text):
            continue
        col = schema.column_for(spec, text)
        if col is None:
            continue
        if col.name in letters:
            diags.append(file_error(
                name, "column-duplicate", sheet.name, header_at + 1, col_letter(c),
                column=_label(col), first=letters[col.name], second=col_letter(c)))
            continue
        mapping[c] = col
        headers[col.name] = str(text).strip()
        letters[col.name] = col_letter(c)
    missing = [col for col in spec.columns if col.required and col.name not in letters]
    for col in missing:
        diags.append(file_error(
            name, "column-missing", sheet.name, header_at + 1, column=_label(col), header_row=header_at + 1))
    if missing:
        return []
    return _data_rows(name, sheet, header_at + 1, mapping, letters, headers, diags)


@dataclass(slots=True)
class _Converted:
    """A column's distinct values converted, by value index: ``typed`` (None when blank or in
    error), ``found`` (the converter's finding or None), ``filled`` (not blank)."""
    typed: list
    found: list
    filled: list


def _convert_column(col: schema.Column, values: list, used: set) -> _Converted:
    """Convert each distinct value of a column that the data rows use, once."""
    convert = cells.converter(col)
    n = len(values)
    out = _Converted([None] * n, [None] * n, [False] * n)
    for k in used:
        v = values[k]
        if cells.is_blank(v):
            continue
        typed, found = convert(v)
        out.filled[k] = True
        out.typed[k] = None if found is not None and found.is_error else typed
        out.found[k] = found
    return out


def _data_rows(name, sheet, start: int, mapping: dict, letters: dict, headers: dict, diags: list) -> list[Row]:
    """The rows from index ``start`` down, converted column by column. A row blank in every
    column of the sheet is skipped, unless one of those cells is an error cell or a formula
    without a value; findings are reported row by row, left to right."""
    grid = sheet.grid
    cols = list(mapping)                                    # left to right
    codes = {c: grid.columns[c].codes[start:] for c in cols}
    conv = {c: _convert_column(mapping[c], grid.columns[c].values, set(codes[c])) for c in cols}

    # (row offset) -> {column index: (finding, whether the cell's value is lost)}
    cell_findings: dict[int, dict] = {}
    for c in cols:
        found = conv[c].found
        bad = {k for k, f in enumerate(found) if f is not None}
        if bad:
            for i, k in enumerate(codes[c]):
                if k in bad:
                    cell_findings.setdefault(i, {})[c] = (found[k], found[k].is_error)
    flagged = set()
    for (r, c), flag in sheet.flags.items():
        if c in mapping and start <= r < grid.height:
            flagged.add(r - start)
            f = problem("formula-no-value") if flag == "formula" else problem("error-cell", error=flag)
            cell_findings.setdefault(r - start, {})[c] = (f, True)

    # A row is kept when a cell of the sheet's columns is filled or flagged.
    keep = list(map(any, zip(*(map(conv[c].filled.__getitem__, codes[c]) for c in cols))))
    for i in flagged:
        keep[i] = True
    names = [mapping[c].name for c in cols]
    numbers = compress(range(start + 1, grid.height + 1), keep)      # Excel row numbers
    values = compress(zip(*(map(conv[c].typed.__getitem__, codes[c]) for c in cols)), keep)
    out = [Row(name, sheet.name, n, dict(zip(names, v)), letters, headers) for n, v in zip(numbers, values)]
    if cell_findings:
        by_offset = {row.row - start - 1: row for row in out}
        for i in sorted(cell_findings):
            row, here, found = by_offset[i], cell_findings[i], []
            for c in sorted(here):
                f, lost = here[c]
                column = mapping[c].name
                if lost:
                    row.mark_bad(column)
                    row.values[column] = None
                found.append((column, f))
            cid = row.contract_id or _raw_id(grid, start + i, mapping)
            for column, f in found:
                diags.append(f.at(row.source(column), cid))
    return out


def _label(col: schema.Column) -> Text:
    """A column's name in each language: its English name, its French header."""
    return Text(col.name, col.label_fr or col.name)


def _raw_id(grid, r: int, mapping: dict) -> str | None:
    """The contract id of row ``r`` as written, when it is not a valid one."""
    for c, col in mapping.items():
        if col.name == "contract_id" and not cells.is_blank(grid.cell(r, c)):
            return str(grid.cell(r, c)).strip()
    return None


# --------------------------------------------------------------------------- layer 2

def _in(lo=None, hi=None, lo_open=False):
    def check(v) -> bool:
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return hi is None or v <= hi
    return check


_CHECKS = {
    # sheet -> column -> list of (code, predicate); the messages are the catalogue's
    "Contracts": {
        "duration_months": [("duration-out-of-range", _in(1, 120))],
        "monthly_fee": [("fee-out-of-range", _in(0, None, True))],
        "variable_share": [("share-out-of-range", _in(0, 1, True))],
        "bonus_rate": [("bonus-rate-out-of-range", _in(0, 1))],
        "malus_rate": [("malus-rate-out-of-range", _in(0, 1))],
        "exit_month": [("exit-month-out-of-range", _in(1, 120))],
        "bonus_every": [("bonus-every-out-of-range", _in(1, 120))],
        "bonus_band": [("bonus-band-out-of-range", _in(0))],
        "exit_window_months": [("exit-window-out-of-range", _in(1, 120))],
        "hold_limit_months": [("hold-limit-out-of-range", _in(1, 120))],
        "vat_rate": [("vat-rate-out-of-range", _in(0, 1))],
        "payment_days": [("payment-days-out-of-range", _in(0, 60))],
    },
    "KPIs": {
        "weight": [("weight-out-of-range", _in(0, 1))],
        "window_months": [("window-out-of-range", _in(1, 120))],
        "due_month": [("due-month-out-of-range", _in(1, 120))],
        "min_coverage": [("coverage-out-of-range", _in(1, 120))],
        "earnback_months": [("earnback-out-of-range", _in(1, 120))],
        "chronic_misses": [("chronic-out-of-range", _in(1, 120))],
        "chronic_months": [("chronic-out-of-range", _in(1, 120))],
    },
}
_UNIQUE = {
    "Contracts": ["contract_id"],
    "KPIs": ["contract_id", "kpi_id"],
    "Readings": ["contract_id", "kpi_id", "month"],
    "Invoiced": ["contract_id", "month"],
    "Amendments": ["contract_id", "kpi_id", "field", "effective_month"],
    "Events": ["contract_id", "event"],
}
_MESSAGES: dict[str, str] = {}   # pandera check name -> finding code


def _schema_for(spec: schema.SheetSpec):
    import pandera.pandas as pa
    columns = {}
    for col in spec.columns:
        checks = []
        for code, predicate in _CHECKS.get(spec.name, {}).get(col.name, []):
            diagnostics.entry(code)   # a range check's code must be catalogued
            name = f"{spec.name}.{col.name}.{code}"
            _MESSAGES[name] = code
            checks.append(pa.Check(predicate, element_wise=True, name=name))
        columns[col.name] = pa.Column(object, checks=checks, nullable=True, required=False)
    return pa.DataFrameSchema(columns, unique=_UNIQUE[spec.name], report_duplicates="exclude_first")


@lru_cache(maxsize=None)
def _schemas() -> dict:
    """The pandera schema of each sheet, built at the first check: a close that reads no
    workbook (a rerun) never loads pandas."""
    return {spec.name: _schema_for(spec) for spec in schema.SHEETS}


def prepare() -> None:
    """Load pandas and pandera and make the schemas ready (about a second), once per process:
    the close calls it while its reader process reads the last workbook."""
    if _schemas.cache_info().currsize:
        return
    import pandas as pd
    for spec in schema.SHEETS:
        # an empty frame: what pandera sets up at its first validation (its backends) done now
        _schemas()[spec.name].validate(pd.DataFrame({c.name: [] for c in spec.columns}, dtype=object), lazy=True)


def check_sheet_values(name: str, spec: schema.SheetSpec, rows: list[Row]) -> list[Diagnostic]:
    """Required values, ranges and duplicates of one sheet, with pandera (lazy)."""
    if not rows:
        return []
    diags = []
    by_row = {r.row: r for r in rows}
    for r in rows:
        for col in spec.columns:
            if col.required and r.values.get(col.name) is None and col.name not in r.bad:
                if col.name == "contract_id":   # SPEC §2: an error of no contract rejects the workbook
                    diags.append(make("row-without-contract", r.source(col.name), None, column=_label(col)))
                else:
                    diags.append(make("required", r.source(col.name), r.contract_id, column=_label(col)))
    import pandas as pd
    import pandera.pandas as pa
    frame = pd.DataFrame([r.values for r in rows], index=[r.row for r in rows], dtype=object)
    if spec.name == "Amendments" and "kpi_id" in frame:
        frame["kpi_id"] = frame["kpi_id"].map(lambda v: "" if v is None else v)   # blank: a contract term
    # A key with a blank part is reported as missing above, not as a duplicate.
    keys = _UNIQUE[spec.name]
    frame = frame[frame[[k for k in keys if k in frame]].notna().all(axis=1)] if set(keys) <= set(frame) else frame
    try:
        _schemas()[spec.name].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        reported = set()
        first_of = None   # key -> first row holding it, built at the first duplicate
        for case in cases.itertuples(index=False):
            if case.index is None or pd.isna(case.index):
                continue
            row = by_row[int(case.index)]
            if case.check == "multiple_fields_uniqueness":
                if row.row in reported:
                    continue
                reported.add(row.row)
                key = ", ".join(str(row.values.get(k)) for k in keys)
                if first_of is None:
                    first_of = {}
                    for r in rows:
                        first_of.setdefault(tuple(r.values.get(k) for k in keys), r.row)
                first = first_of[tuple(row.values.get(k) for k in keys)]
                diags.append(make("duplicate", row.source(keys[-1]), row.contract_id, key=key, first=first))
            elif case.check in _MESSAGES:
                row.mark_bad(case.column)
                diags.append(make(_MESSAGES[case.check], row.source(case.column), row.contract_id,
                                  found=case.failure_case))
    return diags


# --------------------------------------------------------------------------- layer 3

def check_run(workbooks: list[ParsedWorkbook], stored_contracts: dict, stored_kpis: dict,
              period: str | None, *, stored_amendments: dict | None = None, stored_events: dict | None = None,
              invoiced: dict | None = None) -> Intake:
    """Apply SPEC §2's rules to a run's workbooks (in run order) against the stored contracts.

    ``stored_amendments`` (key -> Amendment) and ``stored_events`` (key -> Event) are the
    store's; ``invoiced`` (cid -> months invoiced by closes) turns changed terms into
    ``terms-restated`` warnings."""
    out = Intake()
    live = []
    for wb in workbooks:
        for spec in schema.SHEETS:
            wb.diagnostics.extend(check_sheet_values(wb.name, spec, wb.sheets.get(spec.name, [])))
        if wb.file_rejected:
            out.outcomes[wb.name] = "rejected"
        else:
            live.append(wb)

    run_contracts: dict[str, tuple[Contract, Row]] = {}
    contract_rows: dict[str, Row] = {}
    run_kpis: dict[tuple[str, str], tuple[Kpi, Row]] = {}
    kpi_rows: dict[tuple[str, str], Row] = {}
    for wb in live:
        diags = wb.diagnostics
        for row in wb.sheets.get("Contracts", []):
            if row.contract_id:
                contract_rows[row.contract_id] = row
            c = _contract(row, diags)
            if c is not None:
                run_contracts[c.contract_id] = (c, row)
        for row in wb.sheets.get("KPIs", []):
            kid = row.values.get("kpi_id")
            if row.contract_id and kid:
                kpi_rows[(row.contract_id, kid)] = row
            k = _kpi(row, diags)
            if k is not None:
                run_kpis[(k.contract_id, k.kpi_id)] = (k, row)

    known = set(stored_contracts) | set(contract_rows)

    def contract_of(cid):
        if cid in run_contracts:
            return run_contracts[cid][0]
        return stored_contracts.get(cid)

    kpis_of: dict[str, dict[str, Kpi]] = {cid: dict(ks) for cid, ks in stored_kpis.items()}
    for (cid, kid), (k, _) in run_kpis.items():
        kpis_of.setdefault(cid, {})[kid] = k
    known_kpis = {(cid, kid) for cid, ks in stored_kpis.items() for kid in ks} | set(kpi_rows)

    for wb in live:
        diags = wb.diagnostics
        for row in wb.sheets.get("KPIs", []):
            cid = row.contract_id
            if cid and cid not in known:
                diags.append(_unknown_contract(row))
        for row in wb.sheets.get("Readings", []):
            _reading(row, known, known_kpis, contract_of, kpis_of, period, out, diags)
        for row in wb.sheets.get("Invoiced", []):
            _invoiced(row, known, contract_of, out, diags)
        for row in wb.sheets.get("Amendments", []):
            amending.amendment(row, known, known_kpis, contract_of, out, diags)
        for row in wb.sheets.get("Events", []):
            amending.event(row, known, contract_of, out, diags)
    diags_of = {wb.name: wb.diagnostics for wb in live}

    def row_diags(row: Row) -> list:
        return diags_of[row.file]

    for cid, (c, row) in run_contracts.items():
        amending.restated(stored_contracts.get(cid), c, row, (invoiced or {}).get(cid, []), row_diags(row))
    for (cid, kid), (k, row) in run_kpis.items():
        amending.restated(stored_kpis.get(cid, {}).get(kid), k, row, (invoiced or {}).get(cid, []), row_diags(row))

    # Rules that span a contract, on the contract as it will stand after this run.
    # Checked even when some of the contract's rows have errors, so that every finding comes
    # at once; a rule that depends on a value that could not be read is left for the next run.
    rows_of: dict[str, dict[str, Row]] = {}
    for (cid, kid), row in kpi_rows.items():
        rows_of.setdefault(cid, {})[kid] = row
    by_name = {wb.name: wb for wb in live}
    _check_amended(out, by_name, run_contracts, contract_rows, run_kpis, kpis_of, contract_of,
                   stored_amendments or {}, stored_events or {})
    for cid in sorted(set(contract_rows) | set(rows_of)):
        contract = contract_of(cid)
        if contract is None:
            continue
        kpis = dict(kpis_of.get(cid, {}))
        for kid, row in rows_of.get(cid, {}).items():
            if (cid, kid) not in run_kpis:
                kpis[kid] = _KpiFacts(kid, row.values.get("weight"), row.values.get("category"),
                                      row.values.get("due_month"))
        anchor = contract_rows.get(cid) or min(rows_of[cid].items())[1]
        by_name[anchor.file].diagnostics.extend(_contract_rules(contract, kpis, anchor, kpi_rows))

    for wb in workbooks:
        out.diagnostics.extend(wb.diagnostics)
    for d in out.diagnostics:
        if d.contract_id:
            counts = out.findings.setdefault(d.contract_id, [0, 0])
            counts[0 if d.is_error else 1] += 1
            if d.is_error and d.source.file in by_name:
                out.excluded.add(d.contract_id)

    for cid, (c, row) in run_contracts.items():
        if cid not in out.excluded:
            out.contracts[cid] = (c, row.source())
    for key, (k, row) in run_kpis.items():
        if key[0] not in out.excluded:
            out.kpis[key] = (k, row.source())
    out.readings = {k: v for k, v in out.readings.items() if k[0] not in out.excluded}
    out.invoiced = {k: v for k, v in out.invoiced.items() if k[0] not in out.excluded}
    out.amendments = {k: v for k, v in out.amendments.items() if k[0] not in out.excluded}
    out.events = {k: v for k, v in out.events.items() if k[0] not in out.excluded}
    out.invoice_refs = {k: v for k, v in out.invoice_refs.items() if k in out.invoiced}
    for cid, row in contract_rows.items():
        out.names[cid] = (row.values.get("client") or "", row.values.get("provider") or "",
                          row.values.get("currency") or "EUR")

    for wb in workbooks:
        ids = sorted({r.contract_id for rows in wb.sheets.values() for r in rows if r.contract_id})
        out.file_contracts[wb.name] = ids
        if wb.name in out.outcomes:
            continue
        rows = [r for rows in wb.sheets.values() for r in rows]
        kept = [r for r in rows if r.contract_id and r.contract_id not in out.excluded and not r.bad]
        has_error = any(d.is_error for d in wb.diagnostics)
        if not kept:
            out.outcomes[wb.name] = "rejected"
        elif has_error or len(kept) < len(rows):
            out.outcomes[wb.name] = "partially_accepted"
        else:
            out.outcomes[wb.name] = "accepted"
    return out


def _check_amended(out: Intake, by_name: dict, run_contracts: dict, contract_rows: dict, run_kpis: dict,
                   kpis_of: dict, contract_of, stored_amendments: dict, stored_events: dict) -> None:
    """The rules of §2 on the terms in force in every month of each contract this run
    touches, once the stored and this run's amendments apply."""
    touched = set(contract_rows) | {cid for cid, _ in run_kpis} | {k[0] for k in out.amendments}
    stored_of: dict = defaultdict(dict)      # contract_id -> its stored amendments (one pass, not one per contract)
    for key, a in stored_amendments.items():
        stored_of[key[0]][key] = a
    run_of: dict = defaultdict(list)         # contract_id -> this run's amendments, in their order
    for key, value in out.amendments.items():
        run_of[key[0]].append((key, value))
    for cid in sorted(touched):
        contract = contract_of(cid)
        if contract is None:
            continue
        merged = dict(stored_of.get(cid, {}))
        sources = {}
        for key, (a, src) in run_of.get(cid, ()):
            if a is None:
                merged.pop(key, None)
            else:
                merged[key] = a
                sources[key] = src
        if not merged:
            continue
        kpis = kpis_of.get(cid, {})
        if any(a.kpi_id and a.kpi_id not in kpis for a in merged.values()):
            continue   # reported as unknown-kpi
        terms = Terms(contract, tuple(sorted(kpis.values(), key=lambda k: k.kpi_id)),
                      tuple(sorted(merged.values(), key=lambda a: a.key)))
        row = contract_rows.get(cid) or next((r for (c, _), (_, r) in sorted(run_kpis.items()) if c == cid), None)
        found: list[Diagnostic] = []
        amending.check_amended_terms(terms, sources, row.source() if row is not None else None, found)
        for d in found:
            wb = by_name.get(d.source.file)
            if wb is not None:
                wb.diagnostics.append(d)


def _unknown_contract(row: Row) -> Diagnostic:
    cid = row.contract_id
    return make("unknown-contract", row.source("contract_id"), cid, contract=cid)


def _complete(row: Row, spec: schema.SheetSpec) -> bool:
    """A row with no bad cell, a contract id and every required column of its sheet."""
    return not row.bad and row.contract_id is not None and \
        all(row.values.get(c.name) is not None for c in spec.columns if c.required)


def _contract(row: Row, diags: list) -> Contract | None:
    v, cid = row.values, row.contract_id
    if not _complete(row, schema.CONTRACTS):
        return None
    problems = []
    currency = v.get("currency") or "EUR"
    p = cells.money_digits_problem(v["monthly_fee"], currency)
    if p:
        problems.append(("monthly_fee", p))
    if v.get("bonus_kpi") and v.get("bonus_target") is None:
        problems.append(("bonus_target", problem("required", "when-set", column=_label(schema.CONTRACTS.column("bonus_target")),
                                                 other=_label(schema.CONTRACTS.column("bonus_kpi")))))
    if v.get("exit_kpi") and v.get("exit_threshold") is None:
        problems.append(("exit_threshold", problem("required", "when-set", column=_label(schema.CONTRACTS.column("exit_threshold")),
                                                   other=_label(schema.CONTRACTS.column("exit_kpi")))))
    if v.get("exit_month") is not None and v["exit_month"] > v["duration_months"]:
        problems.append(("exit_month", problem(
            "exit-month-after-term", exit_month=v["exit_month"], duration=v["duration_months"])))
    lo, hi = schema.BANDS[v["company_size"]]
    if not Decimal(lo) <= v["variable_share"] <= Decimal(hi):
        share = f"{v['variable_share'] * 100:f}".rstrip("0").rstrip(".")
        problems.append(("variable_share", problem("share-band", share=share, company_size=v["company_size"],
                                                   low=Decimal(lo) * 100, high=Decimal(hi) * 100)))
    problems += _invoicing_problems(v)
    for column, p in problems:
        diags.append(p.at(row.source(column), cid))
    if any(p.is_error for _, p in problems):
        return None
    return Contract(
        contract_id=cid, client=v["client"], provider=v["provider"], company_size=v["company_size"],
        currency=currency, start_month=v["start_month"], duration_months=v["duration_months"],
        monthly_fee=v["monthly_fee"], variable_share=v["variable_share"],
        requires_verified=bool(v.get("requires_verified") or False),
        bonus_kpi=v.get("bonus_kpi"), bonus_target=v.get("bonus_target"),
        bonus_rate=v["bonus_rate"] if v.get("bonus_rate") is not None else Decimal("0.10"),
        malus_rate=v["malus_rate"] if v.get("malus_rate") is not None else Decimal("0.10"),
        exit_kpi=v.get("exit_kpi"), exit_threshold=v.get("exit_threshold"), exit_month=v.get("exit_month"),
        mediator=v.get("mediator") or "", contact_email=v.get("contact_email") or "",
        language=v.get("language") or "fr", bonus_base=v.get("bonus_base") or "earned",
        bonus_every=v.get("bonus_every") or 1,
        bonus_band=v["bonus_band"] if v.get("bonus_band") is not None else Decimal(0),
        exit_window_months=v.get("exit_window_months"), hold_limit_months=v.get("hold_limit_months"),
        deemed_outcome=v.get("deemed_outcome") or "missed",
        **_invoicing_terms(v))


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _invoicing_problems(v: dict) -> list:
    """SPEC §8's rules on the Contracts row: a VAT rate only under category S, a country code."""
    out = []
    rate, category = v.get("vat_rate"), v.get("vat_category") or "S"
    if rate is not None and category != "S" and rate != 0:
        out.append(("vat_rate", problem("vat-rate-category", category=category, rate=rate)))
    country = v.get("client_country")
    if country is not None and not _COUNTRY.match(country.strip().upper()):
        out.append(("client_country", problem("bad-country", country=country)))
    siren = v.get("client_siren") or ""
    address = invoicing.compact(v.get("client_einvoicing_address") or "")   # blank: the SIREN's
    for variant, column, found, compact_siren in invoicing.identifier_problems(siren, address, "client_siren",
                                                                              "client_einvoicing_address"):
        out.append((column, problem("bad-party-identifier", variant, found=found, siren=compact_siren)))
    return out


def _invoicing_terms(v: dict) -> dict:
    return dict(
        vat_rate=v["vat_rate"] if v.get("vat_rate") is not None else Decimal("0.20"),
        vat_category=v.get("vat_category") or "S",
        payment_days=v["payment_days"] if v.get("payment_days") is not None else 30,
        client_siren=v.get("client_siren") or "", client_vat_id=v.get("client_vat_id") or "",
        client_address=v.get("client_address") or "", client_postcode=v.get("client_postcode") or "",
        client_city=v.get("client_city") or "",
        client_country=(v.get("client_country") or "FR").strip().upper(),
        client_einvoicing_address=v.get("client_einvoicing_address") or "")


def _kpi(row: Row, diags: list) -> Kpi | None:
    v, cid = row.values, row.contract_id
    if not _complete(row, schema.KPIS):
        return None
    mode, direction, base = v["target_mode"], v["direction"], v.get("baseline")
    problems = []
    if mode in ("relative", "points") and base is None:
        problems.append(("baseline", problem("required", "baseline",
                                             mode=Text(mode, "relatif" if mode == "relative" else "en points"))))
    elif mode == "relative" and base <= 0:
        problems.append(("baseline", problem("baseline-out-of-range")))
    elif mode in ("relative", "points"):
        sign = 1 if direction == "higher" else -1
        for column in ("target", "floor"):
            change = v.get(column)
            if column == "target" and (change is None or change * sign <= 0):
                problems.append(("target", problem(
                    "target-direction", mode=mode, change=change,
                    direction=Text("higher", "à la hausse") if sign > 0 else Text("lower", "à la baisse"),
                    sign=Text("positive", "positif") if sign > 0 else Text("negative", "négatif"))))
    window = v.get("window_months") or 1
    if v.get("min_coverage") is not None and v["min_coverage"] > window:
        problems.append(("min_coverage", problem("coverage-over-window", coverage=v["min_coverage"], window=window)))
    misses, span = v.get("chronic_misses"), v.get("chronic_months")
    if (misses is None) != (span is None):
        column = "chronic_misses" if misses is not None else "chronic_months"   # the one given
        problems.append((column, problem("chronic-pair")))
    elif misses is not None and misses > span:
        problems.append(("chronic_misses", problem("chronic-pair", "more", misses=misses, months=span)))
    if not problems and v.get("floor") is not None:
        k = _make_kpi(row)
        if not k.better(k.target_level, k.floor_level):
            problems.append(("floor", problem("floor-not-worse", floor=k.floor_level, target=k.target_level)))
    problems += _invoicing_problems(v)
    for column, p in problems:
        diags.append(p.at(row.source(column), cid))
    return None if problems else _make_kpi(row)


def _make_kpi(row: Row) -> Kpi:
    v = row.values
    return Kpi(contract_id=row.contract_id, kpi_id=v["kpi_id"], name=v["name"], category=v["category"],
               direction=v["direction"], target_mode=v["target_mode"], target=v["target"], weight=v["weight"],
               unit=v.get("unit") or "", baseline=v.get("baseline"), floor=v.get("floor"),
               window_months=v.get("window_months") or 1, due_month=v.get("due_month"),
               window_agg=v.get("window_agg") or "worst", min_coverage=v.get("min_coverage"),
               earnback_months=v.get("earnback_months"), chronic_misses=v.get("chronic_misses"),
               chronic_months=v.get("chronic_months"))


def _reading(row, known, known_kpis, contract_of, kpis_of, period, out: Intake, diags):
    v, cid = row.values, row.contract_id
    if cid is None:
        return
    if cid not in known:
        diags.append(_unknown_contract(row))
        return
    kid = v.get("kpi_id")
    if kid and (cid, kid) not in known_kpis:
        diags.append(make("unknown-kpi", row.source("kpi_id"), cid, contract=cid, kpi_id=kid))
        return
    status = v.get("status") or "provisional"
    if v.get("value") is None and status != "void" and "value" not in row.bad:
        diags.append(make("required", row.source("value"), cid, "value"))
        return
    if row.bad or not kid or v.get("month") is None:
        return
    month = v["month"]
    contract = contract_of(cid)
    if contract is not None:
        if not contract.start_month <= month <= contract.last_month:
            diags.append(make("month-outside-term", row.source("month"), cid, month=month, contract=cid,
                              start=contract.start_month, last=contract.last_month))
        kpi = kpis_of.get(cid, {}).get(kid)
        value = v.get("value")
        if kpi is not None and value is not None and Decimal(1) < abs(value) <= 100 and _fraction_kpi(kpi):
            diags.append(make("reading-percent-scale", row.source("value"), cid, value=value, fraction=value / 100))
    if period and month > period:
        diags.append(make("month-after-period", row.source("month"), cid, month=month, period=period))
    # Shared strings: hundreds of thousands of readings repeat a few thousand ids and months.
    cid, kid, month, status = intern(cid), intern(kid), intern(month), intern(status)
    out.readings[(cid, kid, month)] = (
        Reading(cid, kid, month, v.get("value") if status != "void" else None, status, v.get("comment") or ""),
        row.source("value"))


def _fraction_kpi(kpi: Kpi) -> bool:
    """A KPI measured as a fraction: a % unit, or target and baseline levels within ±1."""
    if kpi.unit.strip() == "%":
        return True
    levels = [kpi.target_level] + ([kpi.baseline] if kpi.baseline is not None else [])
    return all(abs(level) <= 1 for level in levels)


def _invoiced(row, known, contract_of, out: Intake, diags):
    v, cid = row.values, row.contract_id
    if cid is None:
        return
    if cid not in known:
        diags.append(_unknown_contract(row))
        return
    if row.bad or v.get("month") is None or v.get("amount") is None:
        return
    contract = contract_of(cid)
    if contract is not None:
        p = cells.money_digits_problem(v["amount"], contract.currency)
        if p:
            diags.append(p.at(row.source("amount"), cid))
            return
    out.invoiced[(cid, v["month"])] = (v["amount"], row.source("amount"))
    out.invoice_refs[(cid, v["month"])] = (v.get("invoice_number") or "", v.get("invoice_date") or "")


@dataclass(frozen=True)
class _KpiFacts:
    """What the contract-wide rules need of a KPI row that has errors elsewhere (None: unreadable)."""
    kpi_id: str
    weight: Decimal | None
    category: str | None
    due_month: int | None


def _contract_rules(contract: Contract, kpis: dict, anchor: Row, kpi_rows: dict) -> list[Diagnostic]:
    cid = contract.contract_id
    out = []
    weights_known = all(k.weight is not None for k in kpis.values())

    def at(kid, column):
        row = kpi_rows.get((cid, kid))
        return row.source(column) if row is not None else anchor.source()

    def err(code, source, variant="", **data):
        out.append(make(code, source, cid, variant, contract=cid, **data))

    paying = [k for k in kpis.values() if k.weight is not None and k.weight > 0]
    first = min(kpis) if kpis else None
    weight_src = at(first, "weight") if first else anchor.source()
    if not weights_known:
        pass
    elif len(paying) < 2:
        err("kpi-count", weight_src, paying=len(paying))
    total = sum((k.weight for k in kpis.values() if k.weight is not None), Decimal(0))
    if weights_known and abs(total - 1) > Decimal("1e-9"):
        err("weights-sum", weight_src, total=total)
    for column, kid in (("bonus_kpi", contract.bonus_kpi), ("exit_kpi", contract.exit_kpi)):
        if kid and kid not in kpis:
            src = anchor.source(column) if anchor.values.get("contract_id") and column in anchor.letters else anchor.source()
            err("unknown-kpi", src, "reference", column=column, kpi_id=kid)
    for k in kpis.values():
        if k.due_month is not None and k.due_month > contract.duration_months:
            out.append(make("due-month-after-term", at(k.kpi_id, "due_month"), cid, due_month=k.due_month,
                            kpi_id=k.kpi_id, duration=contract.duration_months))
    if weights_known and all(k.category for k in paying) and not any(k.category == "robustness" for k in paying):
        err("no-robustness", weight_src)
    return out
