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

import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from sys import intern


from perfsettle.inputs import cells


from perfsettle.core import schema
from perfsettle.inputs.reading import RawWorkbook, col_letter
from perfsettle.core.money import fr as fr_number
from perfsettle.core.model import ERROR, WARNING, Contract, Diagnostic, Intake, Kpi, Reading, Source

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
        return any(d.is_error and d.contract_id is None and d.code.startswith(("file-", "sheet-", "column-"))
                   for d in self.diagnostics)


def finding(code: str, severity: str, en: str, fr: str, source: Source, contract_id: str | None) -> Diagnostic:
    return Diagnostic(code, severity, en, source, contract_id, fr)


def file_error(name: str, code: str, en: str, fr: str, sheet: str = "", row: int | None = None,
               column: str = "") -> Diagnostic:
    return finding(code, ERROR, en, fr, Source(name, sheet, row, column), None)


# --------------------------------------------------------------------------- layer 1

def parse_workbook(name: str, raw: RawWorkbook) -> ParsedWorkbook:
    out = ParsedWorkbook(name)
    seen: dict[str, str] = {}
    for sheet in raw.sheets:
        spec = schema.sheet_for(sheet.name)
        if spec is None:
            continue
        if spec.name in seen:
            out.diagnostics.append(file_error(
                name, "sheet-duplicate",
                f"two sheets hold {spec.name}: '{seen[spec.name]}' and '{sheet.name}'; keep one",
                f"deux feuilles contiennent {spec.label_fr} : « {seen[spec.name]} » et « {sheet.name} » ; n'en gardez qu'une",
                sheet.name))
            continue
        seen[spec.name] = sheet.name
        if sheet.hidden:
            out.diagnostics.append(finding(
                "sheet-hidden", WARNING, f"sheet '{sheet.name}' is hidden; its rows are read all the same",
                f"la feuille « {sheet.name} » est masquée ; ses lignes sont lues quand même",
                Source(name, sheet.name), None))
        out.sheets[spec.name] = _parse_sheet(name, sheet, spec, out.diagnostics)
    if not seen:
        out.diagnostics.append(file_error(
            name, "file-no-sheet",
            "no input sheet found: expected Contracts, KPIs, Readings or Invoiced (or Contrats, Indicateurs, Mesures, Deja_facture)",
            "aucune feuille reconnue : attendu Contrats, Indicateurs, Mesures ou Deja_facture (ou Contracts, KPIs, Readings, Invoiced)"))
    return out


def _parse_sheet(name, sheet, spec: schema.SheetSpec, diags: list) -> list[Row]:
    rows = sheet.rows
    header_at = next((i for i, r in enumerate(rows) if any(not cells.is_blank(v) for v in r)), None)
    if header_at is None:
        return []   # an empty sheet holds no rows
    mapping: dict[int, schema.Column] = {}
    headers: dict[str, str] = {}
    letters: dict[str, str] = {}
    for c, text in enumerate(rows[header_at]):
        if cells.is_blank(text):
            continue
        col = schema.column_for(spec, text)
        if col is None:
            continue
        if col.name in letters:
            diags.append(file_error(
                name, "column-duplicate",
                f"column {col.name} appears twice (columns {letters[col.name]} and {col_letter(c)})",
                f"la colonne {col.label_fr or col.name} figure deux fois (colonnes {letters[col.name]} et {col_letter(c)})",
                sheet.name, header_at + 1, col_letter(c)))
            continue
        mapping[c] = col
        headers[col.name] = str(text).strip()
        letters[col.name] = col_letter(c)
    missing = [col for col in spec.columns if col.required and col.name not in letters]
    for col in missing:
        diags.append(file_error(
            name, "column-missing",
            f"required column {col.name} is missing from the header row {header_at + 1}",
            f"la colonne obligatoire {col.label_fr or col.name} manque dans la ligne d'en-tête {header_at + 1}",
            sheet.name, header_at + 1))
    if missing:
        return []
    converters = {c: cells.converter(col) for c, col in mapping.items()}
    out = []
    for r in range(header_at + 1, len(rows)):
        raw = rows[r]
        if all(cells.is_blank(raw[c]) and (r, c) not in sheet.flags for c in mapping if c < len(raw)):
            continue
        row = Row(name, sheet.name, r + 1, {}, letters, headers)
        problems = []
        for c, col in mapping.items():
            value = raw[c] if c < len(raw) else None
            flag = sheet.flags.get((r, c))
            if flag is not None:
                row.mark_bad(col.name)
                row.values[col.name] = None
                if flag == "formula":
                    problems.append((col.name, (ERROR, "formula-no-value",
                                                "formula without a saved result: open and save the file in Excel, or paste values",
                                                "formule sans résultat enregistré : ouvrez et enregistrez le fichier dans Excel, ou collez les valeurs")))
                else:
                    problems.append((col.name, (ERROR, "error-cell", f"Excel error {flag} in the cell",
                                                f"erreur Excel {flag} dans la cellule")))
                continue
            if cells.is_blank(value):
                row.values[col.name] = None
                continue
            typed, problem = converters[c](value)
            row.values[col.name] = typed
            if problem is not None:
                problems.append((col.name, problem))
                if problem[0] == ERROR:
                    row.mark_bad(col.name)
                    row.values[col.name] = None
        cid = row.contract_id
        for column, (severity, code, en, fr) in problems:
            diags.append(finding(code, severity, en, fr, row.source(column), cid or _raw_id(raw, mapping)))
        out.append(row)
    return out


def _raw_id(raw: list, mapping: dict) -> str | None:
    for c, col in mapping.items():
        if col.name == "contract_id" and c < len(raw) and not cells.is_blank(raw[c]):
            return str(raw[c]).strip()
    return None


# --------------------------------------------------------------------------- layer 2

def _in(lo=None, hi=None, lo_open=False):
    def check(v) -> bool:
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return hi is None or v <= hi
    return check


_CHECKS = {
    # sheet -> column -> list of (code, predicate, en, fr)
    "Contracts": {
        "duration_months": [("out-of-range", _in(1, 120), "duration must be a whole number from 1 to 120",
                             "la durée doit être un nombre entier de 1 à 120")],
        "monthly_fee": [("out-of-range", _in(0, None, True), "the monthly fee must be greater than 0",
                         "les honoraires mensuels doivent être supérieurs à 0")],
        "variable_share": [("out-of-range", _in(0, 1, True), "the variable share must be a fraction above 0 and at most 1 (40 % = 0.40)",
                            "la part variable doit être une fraction supérieure à 0 et au plus 1 (40 % = 0,40)")],
        "bonus_rate": [("out-of-range", _in(0, 1), "the bonus rate must be a fraction from 0 to 1",
                        "le taux de bonus doit être une fraction de 0 à 1")],
        "malus_rate": [("out-of-range", _in(0, 1), "the malus rate must be a fraction from 0 to 1",
                        "le taux de malus doit être une fraction de 0 à 1")],
        "exit_month": [("out-of-range", _in(1, 120), "the exit month must be a contract month number from 1",
                        "le mois de sortie doit être un numéro de mois du contrat à partir de 1")],
    },
    "KPIs": {
        "weight": [("out-of-range", _in(0, 1), "the weight must be a fraction from 0 to 1",
                    "le poids doit être une fraction de 0 à 1")],
        "window_months": [("out-of-range", _in(1, 120), "the window must be a whole number of months from 1",
                           "la fenêtre doit être un nombre entier de mois à partir de 1")],
        "due_month": [("out-of-range", _in(1, 120), "the due month must be a contract month number from 1",
                       "l'échéance doit être un numéro de mois du contrat à partir de 1")],
    },
}
_UNIQUE = {
    "Contracts": ["contract_id"],
    "KPIs": ["contract_id", "kpi_id"],
    "Readings": ["contract_id", "kpi_id", "month"],
    "Invoiced": ["contract_id", "month"],
}
_MESSAGES: dict[str, tuple[str, str, str]] = {}


def _schema_for(spec: schema.SheetSpec):
    import pandera.pandas as pa
    columns = {}
    for col in spec.columns:
        checks = []
        for code, predicate, en, fr in _CHECKS.get(spec.name, {}).get(col.name, []):
            name = f"{spec.name}.{col.name}.{code}"
            _MESSAGES[name] = (code, en, fr)
            checks.append(pa.Check(predicate, element_wise=True, name=name))
        columns[col.name] = pa.Column(object, checks=checks, nullable=True, required=False)
    return pa.DataFrameSchema(columns, unique=_UNIQUE[spec.name], report_duplicates="exclude_first")


@lru_cache(maxsize=None)
def _schemas() -> dict:
    """The pandera schema of each sheet, built at the first check: a close that reads no
    workbook (a rerun) never loads pandas."""
    return {spec.name: _schema_for(spec) for spec in schema.SHEETS}


def check_sheet_values(name: str, spec: schema.SheetSpec, rows: list[Row]) -> list[Diagnostic]:
    """Required values, ranges and duplicates of one sheet, with pandera (lazy)."""
    if not rows:
        return []
    diags = []
    by_row = {r.row: r for r in rows}
    for r in rows:
        for col in spec.columns:
            if col.required and r.values.get(col.name) is None and col.name not in r.bad:
                diags.append(finding("required", ERROR, f"{col.name} is required",
                                     f"{col.label_fr or col.name} est obligatoire", r.source(col.name), r.contract_id))
    import pandas as pd
    import pandera.pandas as pa
    frame = pd.DataFrame([r.values for r in rows], index=[r.row for r in rows], dtype=object)
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
                diags.append(finding(
                    "duplicate", ERROR, f"duplicate row for ({key}): already in row {first}",
                    f"ligne en double pour ({key}) : déjà en ligne {first}", row.source(keys[-1]), row.contract_id))
            elif case.check in _MESSAGES:
                code, en, fr = _MESSAGES[case.check]
                row.mark_bad(case.column)
                diags.append(finding(code, ERROR, f"{en} (found {case.failure_case})",
                                     f"{fr} (trouvé {case.failure_case})", row.source(case.column), row.contract_id))
    return diags


# --------------------------------------------------------------------------- layer 3

def check_run(workbooks: list[ParsedWorkbook], stored_contracts: dict, stored_kpis: dict,
              period: str | None) -> Intake:
    """Apply SPEC §2's rules to a run's workbooks (in run order) against the stored contracts."""
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

    # Rules that span a contract, on the contract as it will stand after this run.
    # Checked even when some of the contract's rows have errors, so that every finding comes
    # at once; a rule that depends on a value that could not be read is left for the next run.
    rows_of: dict[str, dict[str, Row]] = {}
    for (cid, kid), row in kpi_rows.items():
        rows_of.setdefault(cid, {})[kid] = row
    by_name = {wb.name: wb for wb in live}
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


def _unknown_contract(row: Row) -> Diagnostic:
    cid = row.contract_id
    return finding("unknown-contract", ERROR,
                   f"contract {cid} is defined neither in this workbook nor in the store",
                   f"le contrat {cid} n'est défini ni dans ce classeur ni dans la base",
                   row.source("contract_id"), cid)


def _contract(row: Row, diags: list) -> Contract | None:
    v, cid = row.values, row.contract_id
    if row.bad or cid is None:
        return None
    if any(v.get(c.name) is None for c in schema.CONTRACTS.columns if c.required):
        return None
    problems = []
    currency = v.get("currency") or "EUR"
    p = cells.money_digits_problem(v["monthly_fee"], currency)
    if p:
        problems.append(("monthly_fee", p))
    if v.get("bonus_kpi") and v.get("bonus_target") is None:
        problems.append(("bonus_target", cells._err("required", "bonus_target is required when bonus_kpi is set",
                                                    "objectif_bonus est obligatoire quand kpi_bonus est renseigné")))
    if v.get("exit_kpi") and v.get("exit_threshold") is None:
        problems.append(("exit_threshold", cells._err("required", "exit_threshold is required when exit_kpi is set",
                                                      "seuil_sortie est obligatoire quand kpi_sortie est renseigné")))
    if v.get("exit_month") is not None and v["exit_month"] > v["duration_months"]:
        problems.append(("exit_month", cells._err(
            "out-of-range", f"exit month {v['exit_month']} is after the last contract month {v['duration_months']}",
            f"le mois de sortie {v['exit_month']} dépasse le dernier mois du contrat {v['duration_months']}")))
    lo, hi = schema.BANDS[v["company_size"]]
    if not Decimal(lo) <= v["variable_share"] <= Decimal(hi):
        share = f"{v['variable_share'] * 100:f}".rstrip("0").rstrip(".")
        problems.append(("variable_share", (WARNING, "share-band",
                         f"variable share {share} % is outside the usual {v['company_size']} band "
                         f"({Decimal(lo) * 100:.0f}–{Decimal(hi) * 100:.0f} %)",
                         f"part variable de {share} % hors de la fourchette usuelle {v['company_size']} "
                         f"({Decimal(lo) * 100:.0f}–{Decimal(hi) * 100:.0f} %)")))
    for column, (severity, code, en, fr) in problems:
        diags.append(finding(code, severity, en, fr, row.source(column), cid))
    if any(p[1][0] == ERROR for p in problems):
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
        language=v.get("language") or "fr")


def _kpi(row: Row, diags: list) -> Kpi | None:
    v, cid = row.values, row.contract_id
    if row.bad or cid is None:
        return None
    if any(v.get(c.name) is None for c in schema.KPIS.columns if c.required):
        return None
    mode, direction, base = v["target_mode"], v["direction"], v.get("baseline")
    problems = []
    if mode in ("relative", "points") and base is None:
        problems.append(("baseline", ("required", f"baseline is required for a {mode} target",
                                      f"la référence est obligatoire pour un objectif {'relatif' if mode == 'relative' else 'en points'}")))
    elif mode == "relative" and base <= 0:
        problems.append(("baseline", ("out-of-range", "a relative target needs a baseline above 0",
                                      "un objectif relatif exige une référence supérieure à 0")))
    elif mode in ("relative", "points"):
        sign = 1 if direction == "higher" else -1
        for column in ("target", "floor"):
            change = v.get(column)
            if column == "target" and (change is None or change * sign <= 0):
                problems.append(("target", ("target-direction",
                                 f"a {'higher' if sign > 0 else 'lower'}-is-better KPI needs a "
                                 f"{'positive' if sign > 0 else 'negative'} {mode} target (found {change:f})",
                                 f"un indicateur {'à la hausse' if sign > 0 else 'à la baisse'} exige un objectif "
                                 f"{'positif' if sign > 0 else 'négatif'} (trouvé {fr_number(change)})")))
    if not problems and v.get("floor") is not None:
        k = _make_kpi(row)
        if not k.better(k.target_level, k.floor_level):
            problems.append(("floor", ("floor-not-worse",
                             f"the floor level {k.floor_level:f} must be strictly worse than the target level {k.target_level:f}",
                             f"le niveau plancher {fr_number(k.floor_level)} doit être strictement moins bon que l'objectif {fr_number(k.target_level)}")))
    for column, (code, en, fr) in problems:
        diags.append(finding(code, ERROR, en, fr, row.source(column), cid))
    return None if problems else _make_kpi(row)


def _make_kpi(row: Row) -> Kpi:
    v = row.values
    return Kpi(contract_id=row.contract_id, kpi_id=v["kpi_id"], name=v["name"], category=v["category"],
               direction=v["direction"], target_mode=v["target_mode"], target=v["target"], weight=v["weight"],
               unit=v.get("unit") or "", baseline=v.get("baseline"), floor=v.get("floor"),
               window_months=v.get("window_months") or 1, due_month=v.get("due_month"))


def _reading(row, known, known_kpis, contract_of, kpis_of, period, out: Intake, diags):
    v, cid = row.values, row.contract_id
    if cid is None:
        return
    if cid not in known:
        diags.append(_unknown_contract(row))
        return
    kid = v.get("kpi_id")
    if kid and (cid, kid) not in known_kpis:
        diags.append(finding("unknown-kpi", ERROR, f"contract {cid} has no KPI {kid}",
                             f"le contrat {cid} n'a pas d'indicateur {kid}", row.source("kpi_id"), cid))
        return
    status = v.get("status") or "provisional"
    if v.get("value") is None and status != "void" and "value" not in row.bad:
        diags.append(finding("required", ERROR, "value is required unless the status is void",
                             "la valeur est obligatoire sauf si le statut est annule", row.source("value"), cid))
        return
    if row.bad or not kid or v.get("month") is None:
        return
    month = v["month"]
    contract = contract_of(cid)
    if contract is not None:
        if not contract.start_month <= month <= contract.last_month:
            diags.append(finding("month-outside-term", WARNING,
                                 f"{month} is outside the term of {cid} ({contract.start_month} to {contract.last_month}); stored all the same",
                                 f"{month} est hors de la durée de {cid} ({contract.start_month} à {contract.last_month}) ; enregistré quand même",
                                 row.source("month"), cid))
        kpi = kpis_of.get(cid, {}).get(kid)
        value = v.get("value")
        if kpi is not None and value is not None and Decimal(1) < abs(value) <= 100 and _fraction_kpi(kpi):
            diags.append(finding("percent-scale", WARNING,
                                 f"{value:f} looks like a percentage on a 0–100 scale where fractions are expected ({value / 100:f})",
                                 f"{fr_number(value)} ressemble à un pourcentage sur 0–100 alors qu'une fraction est attendue ({fr_number(value / 100)})",
                                 row.source("value"), cid))
    if period and month > period:
        diags.append(finding("month-after-period", WARNING,
                             f"{month} is after the close period {period}; it counts from a later close",
                             f"{month} est après la période clôturée {period} ; il comptera lors d'une clôture ultérieure",
                             row.source("month"), cid))
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
            diags.append(finding(p[1], ERROR, p[2], p[3], row.source("amount"), cid))
            return
    out.invoiced[(cid, v["month"])] = (v["amount"], row.source("amount"))


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

    def err(code, en, fr, source, severity=ERROR):
        out.append(finding(code, severity, en, fr, source, cid))

    paying = [k for k in kpis.values() if k.weight is not None and k.weight > 0]
    first = min(kpis) if kpis else None
    weight_src = at(first, "weight") if first else anchor.source()
    if not weights_known:
        pass
    elif len(paying) < 2:
        err("kpi-count", f"contract {cid} needs at least two KPIs with a weight above 0 (has {len(paying)})",
            f"le contrat {cid} doit avoir au moins deux indicateurs de poids non nul (en a {len(paying)})", weight_src)
    total = sum((k.weight for k in kpis.values() if k.weight is not None), Decimal(0))
    if weights_known and abs(total - 1) > Decimal("1e-9"):
        err("weights-sum", f"the weights of contract {cid} sum to {total:f}, not 1",
            f"les poids du contrat {cid} font {fr_number(total)} au lieu de 1", weight_src)
    for column, kid in (("bonus_kpi", contract.bonus_kpi), ("exit_kpi", contract.exit_kpi)):
        if kid and kid not in kpis:
            src = anchor.source(column) if anchor.values.get("contract_id") and column in anchor.letters else anchor.source()
            err("unknown-kpi", f"{column} {kid} names no KPI of contract {cid}",
                f"{column} {kid} ne désigne aucun indicateur du contrat {cid}", src)
    for k in kpis.values():
        if k.due_month is not None and k.due_month > contract.duration_months:
            err("out-of-range", f"due month {k.due_month} of {k.kpi_id} is after the last contract month {contract.duration_months}",
                f"l'échéance {k.due_month} de {k.kpi_id} dépasse le dernier mois du contrat {contract.duration_months}",
                at(k.kpi_id, "due_month"))
    if weights_known and all(k.category for k in paying) and not any(k.category == "robustness" for k in paying):
        err("no-robustness", f"contract {cid} has no robustness KPI with a weight: operational gains should be crossed with technical robustness",
            f"le contrat {cid} n'a pas d'indicateur de robustesse pondéré : les gains opérationnels devraient être croisés avec la robustesse technique",
            weight_src, WARNING)
    return out
