"""Workbooks people read: the annotated copy of each input and the close workbook (SPEC §5).

``write_annotated`` copies one input workbook and marks every finding at its cell (a comment
and a red or amber fill), lists the findings in an ``Issues``/``Anomalies`` sheet with links
to the cells, and adds result sheets for the workbook's contracts. The copy stays a valid
input: input cell values are never changed and the added sheets match no input sheet name.

Three ways to make the copy, chosen by what the source is:

- an OOXML workbook under the cell budget: openpyxl load + modify + save, so sheets, styles,
  formulas and widths are kept. openpyxl saves formulas without their cached values and
  numbers with 16 significant digits; both are copied back from the source, so that readers
  without a calculation engine (calamine, pandas) read exactly the original values;
- an OOXML workbook above the cell budget: its parts are copied as they are and the
  annotations are added to them as XML (``xlsxparts``): new sheets written row by row,
  comments, fills appended to its styles. Nothing of the input is rewritten, so this is fast
  and lean at hundreds of thousands of rows, and keeps everything;
- a workbook openpyxl cannot load (.xls, .ods), or a large one ``xlsxparts`` does not edit
  (e.g. an earlier annotated copy): a copy of the values read with python-calamine, written
  row by row (xlsxwriter, constant memory) with the same comments and fills, a note in the
  Issues sheet that formatting was not preserved, and the tables added as in the second way.

python-calamine aborts the process on some hostile files (EXCEL-FACTS), so an OOXML file is
checked before it reads it (``_check_zip``); openpyxl is not affected by those files.

``write_close_workbook`` writes ``settlement-<period>.xlsx``: the invoice lines of the close,
totals per currency and the status of every contract, as a new workbook of ``xlsxparts``
tables (the writer of the annotated copy's result sheets: several times faster than a
cell-by-cell writer, and nothing in it depends on the clock).

Every text written here goes through ``_text``: control characters removed, at most 32,767
characters, and never stored as a formula.
"""
from __future__ import annotations

import datetime as _dt
import functools
import re
import warnings
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Sequence

import python_calamine
import xlsxwriter
import xlsxwriter.worksheet

from perfsettle.core import months, schema
from perfsettle.infra import ooxml
from perfsettle.infra.files import atomic_path

from perfsettle.outputs import xlsxparts
from perfsettle.outputs.exports import bonus_reason, exit_reason, kpi_reason
from perfsettle.core.model import CloseReport, ContractResult, Diagnostic
from perfsettle.core.money import minor_digits
from perfsettle.outputs import formatting
from perfsettle.outputs.i18n import translator

RED = "FFFFC7CE"        # fill of a cell with an error
AMBER = "FFFFE699"      # fill of a cell with a warning only
HEADER_FILL = "FFD9E1F2"
MARK = "[perfsettle]"   # first line of the comment block this module writes
AUTHOR = "perfsettle"
FORMULA_START = xlsxparts.FORMULA_START
_RANK = {"error": 0, "warning": 1, "info": 2}

LABELS = {
    "fr": {
        "error": "ERREUR", "warning": "AVERTISSEMENT", "info": "INFO",
        "none": "Aucune anomalie.",
        "streamed": "Classeur volumineux (environ {cells} cellules) : copie en valeurs seules ; "
                    "mise en forme, formules et commentaires d'origine non conservés.",
        "converted": "Classeur {suffix} converti en .xlsx : valeurs seules ; mise en forme et "
                     "formules d'origine non conservées.",
        "current": "mois courant", "catch_up": "mois antérieur, première facturation",
        "adjustment": "ajustement", "out_of_term": "hors durée du contrat (avoir)",
        "new_reading": "nouveau relevé", "held": "retenu",
        "held_kpi": "« {kpi} » retenu ({month})",
    },
    "en": {
        "error": "ERROR", "warning": "WARNING", "info": "INFO",
        "none": "No findings.",
        "streamed": "Large workbook (about {cells} cells): values-only copy; original "
                    "formatting, formulas and comments not preserved.",
        "converted": "{suffix} workbook converted to .xlsx: values only; original formatting "
                     "and formulas not preserved.",
        "current": "current month", "catch_up": "earlier month, first invoice",
        "adjustment": "adjustment", "out_of_term": "outside the contract term (credit)",
        "new_reading": "new reading", "held": "held",
        "held_kpi": "“{kpi}” held ({month})",
    },
}

# Added sheets: title and headers per language. None of the titles is an input sheet name.
SHEETS = {
    "issues": {
        "fr": ("Anomalies", ["gravité", "code", "cellule", "contrat", "message"]),
        "en": ("Issues", ["severity", "code", "cell", "contract", "message"]),
    },
    "settlement": {
        "fr": ("Règlement", ["contrat", "mois", "devise", "honoraires", "fixe", "variable",
                             "acquis", "retenu", "différé", "perdu", "bonus-malus", "bonus",
                             "malus", "dû", "déjà facturé", "à facturer"]),
        "en": ("Settlement", ["contract", "month", "currency", "fee", "fixed", "pool", "earned",
                              "held", "deferred", "forfeited", "bonus-malus", "bonus", "malus",
                              "due", "invoiced before", "invoice now"]),
    },
    "kpis": {
        "fr": ("Résultats KPI", ["contrat", "mois", "indicateur", "nom", "statut", "valeur",
                                 "niveau objectif", "niveau plancher", "atteinte", "enveloppe",
                                 "acquis", "retenu", "différé", "perdu", "motif"]),
        "en": ("KPI results", ["contract", "month", "kpi", "name", "status", "value",
                               "target level", "floor level", "attainment", "pool", "earned",
                               "held", "deferred", "forfeited", "reason"]),
    },
    "flags": {
        "fr": ("Alertes", ["contrat", "alerte", "mois", "mois évalué", "indicateur", "statut",
                           "valeur", "seuil", "motif"]),
        "en": ("Flags", ["contract", "flag", "month", "evaluated month", "kpi", "status",
                         "value", "threshold", "reason"]),
    },
    "lines": {
        "fr": ("Lignes de facture", ["contrat", "client", "prestataire", "mois", "devise",
                                     "ligne", "dû", "déjà facturé", "à facturer", "détail"]),
        "en": ("Invoice lines", ["contract", "client", "provider", "month", "currency", "line",
                                 "due", "invoiced before", "invoice now", "detail"]),
    },
    "totals": {
        "fr": ("Totaux", ["devise", "lignes", "mois courant", "mois antérieurs", "à facturer"]),
        "en": ("Totals", ["currency", "lines", "current month", "earlier months", "invoice now"]),
    },
    "contracts": {
        "fr": ("Synthèse contrats", ["contrat", "client", "prestataire", "devise", "statut",
                                     "statut sortie", "erreurs", "avertissements", "à facturer",
                                     "mois de sortie", "motif sortie"]),
        "en": ("Contract status", ["contract", "client", "provider", "currency", "status",
                                   "exit status", "errors", "warnings", "invoice now",
                                   "exit month", "exit reason"]),
    },
}
# Header rows earlier versions wrote, so that their sheets are still recognised (and replaced)
# when such a copy is annotated again.
OLD_HEADERS = {
    "settlement": {
        "fr": ["contrat", "mois", "devise", "honoraires", "fixe", "variable", "acquis", "retenu",
               "différé", "perdu", "bonus_malus", "bonus", "malus", "dû", "déjà facturé", "à facturer"],
        "en": ["contract", "month", "currency", "fee", "fixed", "pool", "earned", "held", "deferred",
               "forfeited", "bonus_malus", "bonus", "malus", "due", "invoiced_before", "invoice_now"],
    },
}

# What a status code says, per kind of status: code -> (French, English). A code missing here
# (a status the engine adds later) is shown as it is, with spaces for underscores.
STATUS_WORDS = {
    "contract": {"settled": ("clôturé", "settled"), "excluded": ("exclu", "excluded"),
                 "not_started": ("pas encore commencé", "not started")},
    "exit": {"ok": ("pas de droit de sortie", "no exit right"), "watch": ("sous surveillance", "watch"),
             "exit_right": ("droit de sortie", "exit right"), "undetermined": ("indéterminé", "undetermined"),
             "exercised": ("droit de sortie exercé", "exit right exercised"),
             "lapsed": ("droit de sortie expiré", "exit right lapsed"),
             "n/a": ("sans clause", "no clause"), "": ("", "")},
    "kpi": {"earned": ("acquis", "earned"), "held": ("retenu", "held"), "deferred": ("différé", "deferred"),
            "forfeited": ("perdu", "forfeited"), "met": ("atteint", "met"),
            "partly_met": ("partiellement atteint", "partly met"), "missed": ("manqué", "missed")},
    "bonus_malus": {"bonus": ("bonus", "bonus"), "malus": ("malus", "malus"),
                    "none": ("ni bonus ni malus", "neither"), "held": ("retenu", "held"),
                    "n/a": ("sans objet", "n/a"), "pending": ("en attente du bloc", "pending")},
    "reading": {"verified": ("vérifié", "verified"), "provisional": ("provisoire", "provisional"),
                "disputed": ("contesté", "disputed"), "void": ("annulé", "void")},
    "right": {"chronic": ("droit de résiliation", "termination right")},
}
# Months are dates shown as months; the French format names the months in French whatever
# the reader's own locale (LCID 040C).
MONTH_FORMAT = {"fr": "[$-40C]mmmm yyyy", "en": "mmmm yyyy"}
PERCENT_FORMAT = "0.0#%"     # a KPI whose unit is %: 0.805 shows 80.5%
HEADER_FONT = "Calibri"


def status_word(kind: str, code: str, lang: str) -> str:
    """The words for a status code (``settled`` → ``clôturé``)."""
    words = STATUS_WORDS.get(kind, {}).get(code)
    if words is None:
        return (code or "").replace("_", " ")
    return words[1] if lang == "en" else words[0]


FLAG_WORDS = {"fr": {"exit": "sortie", "hold": "retenue", "dispute": "litige", "contract": "contrat",
                     "chronic": "échecs répétés", "deemed": "réputé"},
              "en": {"exit": "exit", "hold": "hold", "dispute": "dispute", "contract": "contract",
                     "chronic": "chronic", "deemed": "deemed"}}
ANNOTATION_SHEETS = ("issues", "settlement", "kpis", "flags")
_RESERVED = {SHEETS[k][lang][0].casefold() for k in ANNOTATION_SHEETS for lang in ("fr", "en")}


class UnreadableWorkbook(ValueError):
    """Neither openpyxl nor python-calamine can read the source workbook."""


# --------------------------------------------------------------------------- tables

_Cell = xlsxparts.Cell     # value, number format, internal link (e.g. "'KPIs'!F7")
_Table = xlsxparts.Table   # title, headers, rows (plain values or _Cell; any iterable)


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "fr"


def _text(value: str) -> str:
    """A string safe for a cell: no control characters, at most 32,767 characters."""
    return xlsxparts.clean(value)


@functools.lru_cache(maxsize=256)
def money_format(currency: str, lang: str = "fr") -> str:
    """The number format of an amount: the currency's ISO 4217 minor-unit digits, exactly
    (so the amount shown is the CSV's), and its code (``#,##0.00 "EUR"``; en ``"EUR" #,##0.00``)."""
    digits = minor_digits(currency)
    number = "#,##0." + "0" * digits if digits else "#,##0"
    code = '"' + currency.replace('"', "") + '"' if currency else ""
    if not code:
        return number
    return f"{code} {number}" if lang == "en" else f"{number} {code}"


def _money(amount: Decimal | None, currency: str, lang: str = "fr") -> _Cell | None:
    return None if amount is None else _Cell(float(amount), money_format(currency, lang))


@functools.lru_cache(maxsize=4096)
def _month(month: str, lang: str) -> _Cell | str:
    """A 'YYYY-MM' month as a date (its first day) formatted as a month (one value per month
    and language: result sheets show the same few dozen months on every row)."""
    if not month:
        return ""
    try:
        day = _dt.date(int(month[:4]), int(month[5:7]), 1)
    except ValueError:
        return month
    return _Cell(day, MONTH_FORMAT[lang])


def _kpi_number(value: Decimal | None, unit: str) -> _Cell | float | None:
    """A reading or level: a percentage when the KPI's unit is %."""
    if value is None:
        return None
    return _Cell(float(value), PERCENT_FORMAT) if (unit or "").strip() == "%" else float(value)


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _widths(table: _Table) -> list[float]:
    return xlsxparts.column_widths(table.headers, table.rows)


# --------------------------------------------------------------------------- findings

def _message(d: Diagnostic, lang: str) -> str:
    return d.message_fr if lang == "fr" and d.message_fr else d.message


def _location(sheet: str, row: int | None, column: str) -> str:
    quoted = "'" + sheet.replace("'", "''") + "'"
    return f"{quoted}!{column or 'A'}{row or 1}"


def _resolve_sheet(name: str, titles: Sequence[str]) -> str | None:
    """The workbook's sheet a finding names: exact, then ignoring case, then schema.key."""
    if not name:
        return None
    for same in (lambda t: t == name, lambda t: t.casefold() == name.casefold(),
                 lambda t: schema.key(t) == schema.key(name)):
        for t in titles:
            if same(t):
                return t
    return None


def _cell_findings(diagnostics: Iterable[Diagnostic], titles: Sequence[str]):
    """{(sheet, row, column index): [diagnostics]} for the findings that have a cell."""
    cells: dict[tuple[str, int, int], list[Diagnostic]] = defaultdict(list)
    for d in diagnostics:
        sheet = _resolve_sheet(d.source.sheet, titles)
        if sheet is None:
            continue
        row = d.source.row or 1
        try:
            col = ooxml.parse_a1(d.source.column + "1")[1] + 1 if d.source.column else 1
        except ValueError:
            col = 1
        cells[(sheet, row, col)].append(d)
    return cells


def _comment_text(diags: Sequence[Diagnostic], lang: str) -> str:
    labels = LABELS[lang]
    lines = [MARK] + [f"{labels.get(d.severity, d.severity.upper())} [{d.code}] {_message(d, lang)}"
                      for d in sorted(diags, key=lambda d: _RANK.get(d.severity, 9))]
    return _text("\n".join(lines))


def _fill_color(diags: Sequence[Diagnostic]) -> str:
    return RED if any(d.is_error for d in diags) else AMBER


def _issues_table(diagnostics: Sequence[Diagnostic], titles: Sequence[str], lang: str,
                  note: str = "") -> _Table:
    title, headers = SHEETS["issues"][lang]
    labels = LABELS[lang]
    order = {t: i for i, t in enumerate(titles)}

    def sort_key(d: Diagnostic):
        sheet = _resolve_sheet(d.source.sheet, titles)
        col = d.source.column
        return (_RANK.get(d.severity, 9), sheet is not None, order.get(sheet, -1),
                d.source.row or 0, len(col), col)

    rows: list[list[object]] = []
    if note:
        rows.append([labels["info"], "format-not-preserved", "", "", note])
    for d in sorted(diagnostics, key=sort_key):
        sheet = _resolve_sheet(d.source.sheet, titles)
        where: object = d.source.cell
        if sheet is not None:
            where = _Cell(d.source.cell, link=_location(sheet, d.source.row, d.source.column))
        rows.append([labels.get(d.severity, d.severity), d.code, where, d.contract_id or "",
                     _message(d, lang)])
    if not diagnostics and not note:
        rows.append(["", "", "", "", labels["none"]])
    return _Table(title, headers, rows)


# --------------------------------------------------------------------------- result sheets

def _result_tables(results: Sequence[ContractResult], lang: str) -> list[_Table]:
    """The Settlement, KPI results and Flags sheets; their rows are made as they are written."""
    results = sorted(results, key=lambda r: r.contract_id)
    tables = []
    for kind, rows in (("settlement", _settlement_rows), ("kpis", _kpi_rows), ("flags", _flag_rows)):
        title, headers = SHEETS[kind][lang]
        tables.append(_Table(title, headers, rows(results, lang)))
    return tables


def _settlement_rows(results: Sequence[ContractResult], lang: str):
    for r in results:
        for m in sorted(r.months, key=lambda m: m.month):
            cur = m.currency
            fmt = money_format(cur, lang)
            yield [m.contract_id, _month(m.month, lang), cur] + [
                None if v is None else _Cell(float(v), fmt) for v in (
                    m.fee, m.fixed, m.pool, m.earned, m.held, m.deferred, m.forfeited)] + [
                status_word("bonus_malus", m.bonus_malus, lang)] + [
                None if v is None else _Cell(float(v), fmt) for v in (
                    m.bonus, m.malus, m.due, m.invoiced_before, m.invoice_now)]


def _kpi_rows(results: Sequence[ContractResult], lang: str):
    for r in results:
        names = {k.kpi_id: k.name for k in r.terms.kpis} if r.terms else {}
        units = {k.kpi_id: k.unit for k in r.terms.kpis} if r.terms else {}
        for m in sorted(r.months, key=lambda m: m.month):
            fmt = money_format(m.currency, lang)
            for k in sorted(m.kpis, key=lambda k: k.kpi_id):
                attainment = None if k.attainment is None else _Cell(float(k.attainment), "0.00%")
                unit = units.get(k.kpi_id, "")
                yield [k.contract_id, _month(k.month, lang), k.kpi_id, names.get(k.kpi_id, ""),
                       status_word("kpi", k.status, lang), _kpi_number(k.value, unit),
                       _kpi_number(k.target_level, unit), _kpi_number(k.floor_level, unit), attainment,
                       _Cell(float(k.pool_k), fmt), _Cell(float(k.earned_k), fmt), _Cell(float(k.held_k), fmt),
                       _Cell(float(k.deferred_k), fmt), _Cell(float(k.forfeited_k), fmt), kpi_reason(k)]


def _unit(r: ContractResult, kpi_id: str | None) -> str:
    kpi = r.terms.kpi(kpi_id) if r.terms and kpi_id else None
    return kpi.unit if kpi else ""


def _flag_rows(results: Sequence[ContractResult], lang: str):
    words = FLAG_WORDS[lang]
    for r in results:
        c = r.terms.contract if r.terms else None
        if r.status != "settled":
            yield [r.contract_id, words["contract"], "", "", "", status_word("contract", r.status, lang),
                   None, None, ""]
        if r.exit.status not in ("", "n/a"):
            e = r.exit
            u = _unit(r, c.exit_kpi if c else None)
            yield [r.contract_id, words["exit"], _month(e.month, lang), _month(e.evaluated_month, lang),
                   c.exit_kpi if c else "", status_word("exit", e.status, lang), _kpi_number(e.value, u),
                   _kpi_number(e.threshold, u),
                   exit_reason(e) or (f"→ {formatting.month(e.deadline, lang)}" if e.status == "exit_right" and e.deadline else "")]
        for right in r.chronic:
            yield [r.contract_id, words["chronic"], _month(right.window[-1], lang), "", right.kpi_id,
                   status_word("right", "chronic", lang), None, None,
                   ", ".join(formatting.month(m, lang) for m in right.missed)]
        for m in sorted(r.months, key=lambda m: m.month):
            if m.bonus_malus == "held":
                u = _unit(r, c.bonus_kpi if c else None)
                yield [r.contract_id, words["hold"], _month(m.month, lang), "", c.bonus_kpi if c else "",
                       status_word("bonus_malus", "held", lang), _kpi_number(m.bonus_value, u),
                       _kpi_number(c.bonus_target, u) if c else None, bonus_reason(m)]
            for k in sorted(m.kpis, key=lambda k: k.kpi_id):
                if k.status == "held":
                    kind = "dispute" if any(p.why == "disputed" for p in k.problems) else "hold"
                    u = _unit(r, k.kpi_id)
                    yield [r.contract_id, words[kind], _month(k.month, lang), _month(k.evaluated_month, lang),
                           k.kpi_id, status_word("kpi", k.status, lang), None,
                           _kpi_number(k.target_level, u), kpi_reason(k)]
                elif k.deemed:
                    u = _unit(r, k.kpi_id)
                    yield [r.contract_id, words["deemed"], _month(k.month, lang), _month(k.evaluated_month, lang),
                           k.kpi_id, status_word("kpi", k.deemed, lang), None,
                           _kpi_number(k.target_level, u), kpi_reason(k)]


def _is_generated(title: str, header: Sequence[object], kinds: Iterable[str]) -> bool:
    """A sheet this module wrote earlier: one of its titles with exactly its header row."""
    for kind in kinds:
        for lang, (t, headers) in SHEETS[kind].items():
            for wanted in (headers, OLD_HEADERS.get(kind, {}).get(lang)):
                if wanted and title.casefold() == t.casefold() and list(header[:len(wanted)]) == wanted \
                        and all(v in (None, "") for v in header[len(wanted):]):
                    return True
    return False


def _added_tables(diagnostics: Sequence[Diagnostic], results, titles: Sequence[str], lang: str,
                  note: str = "") -> list[_Table]:
    """The Issues sheet and the result sheets an annotated copy adds, titled apart from ``titles``."""
    tables = [_issues_table(diagnostics, titles, lang, note)]
    if results:
        tables += _result_tables(results, lang)
    taken = list(titles)
    for table in tables:
        table.title = _free_title(table.title, taken)
        taken.append(table.title)
    return tables


def _free_title(title: str, taken: Iterable[str]) -> str:
    taken = {t.casefold() for t in taken}
    candidate, n = title, 1
    while candidate.casefold() in taken or schema.sheet_for(candidate) is not None:
        n += 1
        candidate = f"{title} ({n})"
    return candidate


# --------------------------------------------------------------------------- public API

def write_annotated(src: Path, dest: Path, diagnostics: Sequence[Diagnostic],
                    results: Sequence[ContractResult], lang: str = "fr",
                    max_full_load_cells: int = 300_000) -> Path:
    """Write an annotated .xlsx copy of ``src`` and return its path (``dest`` with suffix .xlsx).

    ``diagnostics`` are the findings of this workbook, ``results`` the settlement of its
    contracts. Raises ``UnreadableWorkbook`` when the source cannot be read at all. The input's
    parts are copied and edited as XML when they can be; otherwise a workbook of at most
    ``max_full_load_cells`` is loaded and saved by openpyxl, and a larger one (or an .xls/.ods)
    becomes a values-only copy.
    """
    src, dest = Path(src), Path(dest).with_suffix(".xlsx")
    lang = _lang(lang)
    labels = LABELS[lang]
    with atomic_path(dest) as tmp:
        if _add_annotations(src, tmp, diagnostics, results, lang):
            return dest          # the input's parts as they are, with the annotations added
        cells = _estimated_cells(src) if _is_zip(src) else 0
        wb = _load_full(src) if cells <= max_full_load_cells else None
        if wb is not None:
            inputs = _annotate_openpyxl(wb, diagnostics, results, lang, note="")
            wb.save(tmp)
            _finish_openpyxl_copy(src, tmp, inputs)
        else:
            sheets = _read_values(src)
            cells = max(cells, sum(len(rows) * max(map(len, rows), default=0)
                                   for _, _, rows in sheets))
            if cells > max_full_load_cells:
                note = labels["streamed"].format(cells=f"{cells:,}")
            else:
                note = labels["converted"].format(suffix=src.suffix or "?")
            _write_streamed(sheets, tmp, diagnostics, results, lang, note)
    return dest


def _add_annotations(src: Path, out: Path, diagnostics, results, lang: str) -> bool:
    """An OOXML workbook copied part for part, with its annotations added (sheets, comments,
    fills), formatting and formulas kept: the first way tried, at any size. False when the copy
    needs another way (openpyxl, or values only; see ``xlsxparts.Unsupported``)."""
    if not _is_zip(src):
        return False
    try:
        with zipfile.ZipFile(src) as z:
            infos = z.infolist()
            if any(i.file_size > MAX_PART_BYTES for i in infos):
                return False
            if ooxml.has_macros(z) or ooxml.is_template(z):
                return False     # the copy is a plain .xlsx: the values-only way drops the macros
            _, sheets = xlsxparts.sheet_parts(z)
        titles = [t for t, _, _ in sheets]
        if any(t.casefold() in _RESERVED for t in titles):
            return False   # an earlier annotated copy: its generated sheets are dropped the other way
        notes: dict[str, list] = defaultdict(list)
        for (sheet, row, col), diags in _cell_findings(diagnostics, titles).items():
            notes[sheet].append(xlsxparts.Note(row - 1, col - 1, _comment_text(diags, lang), _fill_color(diags)))
        tables = _added_tables(diagnostics, results, titles, lang)
        edits = xlsxparts.Edits(tables, dict(notes), AUTHOR, tables[0].title if diagnostics else None)
        xlsxparts.add_to_workbook(src, out, edits)
        return True
    except (xlsxparts.Unsupported, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError):
        return False     # ooxml.PackageError is a ValueError


def write_close_workbook(report: CloseReport, dest: Path, lang: str = "fr") -> Path:
    """Write ``settlement-<period>.xlsx`` (``dest``, or inside ``dest`` when it is a folder)."""
    lang = _lang(lang)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"settlement-{report.period}.xlsx"
    tables = [_invoice_lines(report, lang), _totals(report, lang), _contract_rows(report, lang)]
    with atomic_path(dest) as tmp:
        xlsxparts.write_workbook(tmp, tables)
    return dest


# --------------------------------------------------------------------------- openpyxl copy

def _is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z0-9:$]+)"')


def _estimated_cells(path: Path) -> int:
    """Cells of an OOXML workbook, from each sheet's dimension, bounded by its XML size.

    A stray far cell gives a huge dimension but a small part, hence the bound; a part
    without a dimension counts ~40 bytes of XML per cell. Not a zip of sheets: 0.
    """
    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename
                if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                    continue
                with z.open(info) as f:
                    head = f.read(4096)
                m = _DIMENSION.search(head)
                area = info.file_size // 40
                if m:
                    try:
                        r1, c1, r2, c2 = ooxml.parse_range(m.group(1).decode())
                        area = (c2 - c1 + 1) * (r2 - r1 + 1)
                    except (ValueError, TypeError):
                        pass
                total += min(area, info.file_size // 16)
    except (zipfile.BadZipFile, OSError):
        return 0
    return total


def _load_full(src: Path):
    """The workbook loaded by openpyxl (formulas as written, macros dropped), or None.

    openpyxl is imported by the functions of this way only, when a copy needs it: most copies
    are made part by part, and importing it takes about half a second of every close."""
    import openpyxl
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(src, keep_vba=False, keep_links=True)
    except Exception:
        return None
    wb.template = False
    return wb


def _strip_previous(ws) -> None:
    """Remove the comments and fills an earlier annotation left on an input sheet."""
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill
    # ws._cells holds only the cells that exist; iter_rows() would create the missing ones.
    for cell in [c for c in ws._cells.values() if c.comment is not None]:
        text = cell.comment.text or ""
        at = text.find(MARK)
        if at < 0:
            continue
        rest = text[:at].rstrip("\n")
        cell.comment = Comment(rest, cell.comment.author) if rest else None
        if cell.fill is not None and cell.fill.fgColor is not None \
                and cell.fill.fgColor.rgb in (RED, AMBER):
            cell.fill = PatternFill()


def _annotate_openpyxl(wb, diagnostics, results, lang: str, note: str) -> list[str]:
    """Annotate ``wb`` in place; return the titles of its input sheets."""
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill
    active = wb.active.title if wb.active is not None else None
    for ws in list(wb.worksheets):
        if ws.title.casefold() in _RESERVED:
            header = [c.value for c in next(ws.iter_rows(min_row=1, max_row=1), ())]
            if _is_generated(ws.title, header, ANNOTATION_SHEETS):
                wb.remove(ws)
    inputs = [ws.title for ws in wb.worksheets]
    for ws in wb.worksheets:
        _strip_previous(ws)

    for (sheet, row, col), diags in _cell_findings(diagnostics, inputs).items():
        cell = _anchor(wb[sheet], row, col)
        text = _comment_text(diags, lang)
        if cell.comment is not None and cell.comment.text:
            cell.comment = Comment(_text(cell.comment.text + "\n\n" + text), cell.comment.author)
        else:
            cell.comment = Comment(text, AUTHOR)
        cell.comment.width = 360
        cell.comment.height = min(40 + 30 * text.count("\n"), 400)
        cell.fill = PatternFill(fill_type="solid", fgColor=_fill_color(diags))

    tables = [_issues_table(diagnostics, inputs, lang, note)]
    if results:
        tables += _result_tables(results, lang)
    added = []
    for table in tables:
        table.title = _free_title(table.title, wb.sheetnames)
        ws = wb.create_sheet(table.title)
        _put_table(ws, table)
        added.append(ws)

    # Open on the Issues sheet when there is something to see, else where the file opened.
    visible = [ws for ws in wb.worksheets if ws.sheet_state == "visible"]
    show = added[0] if diagnostics or active not in inputs else wb[active]
    if show.sheet_state != "visible":
        show = visible[0]
    for ws in wb.worksheets:
        ws.sheet_view.tabSelected = ws is show
    wb.active = show
    return inputs


def _anchor(ws, row: int, col: int):
    """The cell that carries a comment for (row, col): the top-left cell of a merged range."""
    from openpyxl.cell.cell import MergedCell
    cell = ws.cell(row=row, column=col)
    if isinstance(cell, MergedCell):
        for rng in ws.merged_cells.ranges:
            if rng.min_row <= row <= rng.max_row and rng.min_col <= col <= rng.max_col:
                return ws.cell(row=rng.min_row, column=rng.min_col)
    return cell


def _put_value(cell, value: object) -> None:
    """Write a value; a string is always stored as text, never as a formula."""
    from openpyxl.styles import Font
    from openpyxl.worksheet.hyperlink import Hyperlink
    if isinstance(value, _Cell):
        _put_value(cell, value.value)
        if value.fmt:
            cell.number_format = value.fmt
        if value.link:
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=value.link)
            cell.font = Font(name=HEADER_FONT, size=11, color="FF0563C1", underline="single")
        return
    if isinstance(value, str):
        text = _text(value)
        cell.value = text
        cell.data_type = "s"
        if text.startswith(FORMULA_START):
            cell.quotePrefix = True
        return
    cell.value = value


def _put_table(ws, table: _Table) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.properties import PageSetupProperties
    table.rows = list(table.rows)
    header_font = Font(name=HEADER_FONT, size=11, bold=True)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for col, name in enumerate(table.headers, 1):
        cell = ws.cell(row=1, column=col)
        _put_value(cell, name)
        cell.font, cell.fill = header_font, header_fill
    for r, row in enumerate(table.rows, 2):
        for col, value in enumerate(row, 1):
            if value is not None and value != "":
                _put_value(ws.cell(row=r, column=col), value)
    for col, width in enumerate(_widths(table), 1):
        ws.column_dimensions[ooxml.col_letters(col - 1)].width = width
    ws.freeze_panes = "A2"
    last = ooxml.col_letters(len(table.headers) - 1)
    ws.auto_filter.ref = f"A1:{last}{max(len(table.rows) + 1, 2)}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = "1:1"


# ------------------------------------------------------- values openpyxl does not keep

def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> worksheet part, from workbook.xml and its relationships."""
    return ooxml.sheet_part_map(z)


_SRC_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_SRC_V = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_SRC_F = re.compile(rb"<(?:\w+:)?f\b")
_LONG_NUMBER = re.compile(rb"<(?:\w+:)?v>-?[0-9.]{18}")
_ATTR_R = re.compile(rb'\br="([A-Z]{1,3}[0-9]+)"')
_ATTR_T = re.compile(rb'\s+t="(\w+)"')
_OUT_CELL = re.compile(rb'<c r="([A-Z]{1,3}[0-9]+)"((?:\s+[\w:]+="[^"]*")*)(?:/>|>(.*?)</c>)', re.S)
_OUT_F = re.compile(rb"<f\b[^>]*>[^<]*</f>")
_OUT_V = re.compile(rb"<v>([^<]*)</v>")


def _truncated(text: bytes) -> bytes | None:
    """The number as openpyxl writes it (16 significant digits) when that changes it."""
    try:
        exact = float(text)
    except ValueError:
        return None
    short = b"%.16g" % exact
    return short if float(short) != exact else None


def _values_to_restore(data: bytes) -> dict[bytes, tuple[bytes, bytes, bool]]:
    """{ref: (type, value as written in the source, is a formula)} for the cells of one
    source sheet that openpyxl writes back differently: formulas lose their cached value,
    numbers with 17 significant digits lose the last one."""
    found = {}
    if not (_SRC_F.search(data) or _LONG_NUMBER.search(data)):
        return found
    for m in _SRC_CELL.finditer(data):
        body, ref = m.group(2), _ATTR_R.search(m.group(1))
        v = _SRC_V.search(body) if body else None
        if v is None or ref is None:
            continue
        t = _ATTR_T.search(m.group(1))
        t = t.group(1) if t else b"n"
        if _SRC_F.search(body):
            if t in (b"n", b"b", b"e", b"str"):
                found[ref.group(1)] = (t, v.group(1), True)
        elif t == b"n" and _truncated(v.group(1)) is not None:
            found[ref.group(1)] = (t, v.group(1), False)
    return found


def _finish_openpyxl_copy(src: Path, out: Path, titles: Sequence[str]) -> None:
    """Post-process the openpyxl-written ``out`` (rewritten in place, through a temporary
    file beside it) for the readers that follow Excel's conventions strictly: relationship
    targets made relative, comment parts under Excel's names, font properties in Excel's
    order; and the input values openpyxl did not keep put back (``_values_to_restore``)."""
    fixes = _values_from_source(src, titles)
    with zipfile.ZipFile(out) as z:
        patched: dict[str, bytes] = {}
        renamed = xlsxparts.conventional_names(z.namelist())
        for name in z.namelist():
            if name.endswith(".rels"):
                patched[name] = xlsxparts.relative_targets(z.read(name), name, renamed)
            elif name == "[Content_Types].xml":
                patched[name] = xlsxparts.renamed_content_types(z.read(name), renamed)
            elif name == "xl/styles.xml":
                patched[name] = xlsxparts.fonts_in_order(z.read(name))
        if fixes:
            try:
                out_parts = _sheet_parts(z)
                for t, f in fixes.items():
                    if t in out_parts:
                        patched[out_parts[t]] = _OUT_CELL.sub(lambda m, f=f: _fix_cell(m, f),
                                                              z.read(out_parts[t]))
            except (KeyError, ValueError):
                pass
        with atomic_path(out, durable=False) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as w:
                for info in z.infolist():
                    data = patched.get(info.filename) or z.read(info.filename)
                    if info.filename in renamed:
                        info = zipfile.ZipInfo(renamed[info.filename], info.date_time)
                        info.compress_type = zipfile.ZIP_DEFLATED
                    w.writestr(info, data)


def _values_from_source(src: Path, titles: Sequence[str]) -> dict[str, dict]:
    """{title: fixes} of the source's sheets whose values openpyxl writes differently.

    openpyxl writes a formula without its cached value (a reader without a calculation
    engine then reads it as empty) and a number with 16 significant digits
    (0.30000000000000004 becomes 0.3). Both are copied back from ``src`` so that the copy
    reads exactly as the original. Best effort: a source it cannot follow gives nothing.
    """
    try:
        with zipfile.ZipFile(src) as z:
            src_parts = _sheet_parts(z)
            names = set(z.namelist())
            fixes = {t: _values_to_restore(z.read(src_parts[t])) for t in titles
                     if src_parts.get(t) in names}
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return {}
    return {t: f for t, f in fixes.items() if f}


def _fix_cell(m: re.Match, fixes) -> bytes:
    hit = fixes.get(m.group(1))
    body = m.group(3)
    if hit is None or body is None:
        return m.group(0)
    t, text, formula = hit
    v = _OUT_V.search(body)     # None for an empty <v/>
    if formula:
        f = _OUT_F.search(body)
        if f is None or (v is not None and v.group(1)):
            return m.group(0)
        attrs = _ATTR_T.sub(b"", m.group(2)) + (b"" if t == b"n" else b' t="' + t + b'"')
        return b'<c r="' + m.group(1) + b'"' + attrs + b">" + f.group(0) + b"<v>" + text + b"</v></c>"
    if v is None or v.group(1) != _truncated(text):
        return m.group(0)
    return m.group(0).replace(v.group(0), b"<v>" + text + b"</v>")


# --------------------------------------------------------------- values-only copies

MAX_PART_BYTES = 512 << 20   # an uncompressed zip member larger than this is not read
MAX_GRID_CELLS = 50_000_000  # rows x columns of one sheet read as a values grid
_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})([0-9]+)"')
_SST_TAG = re.compile(rb"<(?:\w+:)?sst\b[^>]*>")
_SST_COUNT = re.compile(rb'\b(uniqueCount|count)="([0-9]+)"')


def _check_zip(src: Path) -> None:
    """Refuse an OOXML file that would make python-calamine abort or exhaust memory.

    python-calamine aborts the process (SIGABRT, uncatchable) on a shared-strings table that
    declares billions of entries and on a cell at the far end of the grid (EXCEL-FACTS), so
    such files are refused before it sees them.
    """
    with zipfile.ZipFile(src) as z:
        infos = z.infolist()
        if any(i.file_size > MAX_PART_BYTES for i in infos):
            raise UnreadableWorkbook(f"{src.name}: a part is larger than {MAX_PART_BYTES:,} bytes")
        sheets = [i for i in infos if i.filename.startswith("xl/worksheets/")
                  and i.filename.endswith(".xml")]
        for info in infos:
            if info.filename != "xl/sharedStrings.xml":
                continue
            with z.open(info) as f:
                head = f.read(4096)
            tag = _SST_TAG.search(head)
            bound = {b"uniqueCount": info.file_size // 7,           # <si><t/></si> at least
                     b"count": sum(i.file_size for i in sheets) // 16}  # one cell per use
            for m in _SST_COUNT.finditer(tag.group(0) if tag else b""):
                if int(m.group(2)) > bound[m.group(1)] + 1:
                    raise UnreadableWorkbook(f"{src.name}: the shared-strings table declares "
                                             f"{int(m.group(2)):,} entries")
        for info in sheets:
            rows, cols = 0, b"A"
            for m in _REF.finditer(z.read(info)):
                rows = max(rows, int(m.group(2)))
                if (len(m.group(1)), m.group(1)) > (len(cols), cols):
                    cols = m.group(1)
            if rows * (ooxml.col_index(cols.decode()) + 1) > MAX_GRID_CELLS:
                raise UnreadableWorkbook(f"{src.name}: a sheet spans {rows:,} rows to column "
                                         f"{cols.decode()}")


def _read_values(src: Path) -> list[tuple[str, bool, list[list[object]]]]:
    """(title, hidden, rows from A1) of every worksheet, read with python-calamine."""
    try:
        if _is_zip(src):
            _check_zip(src)
        book = python_calamine.CalamineWorkbook.from_path(str(src))
        sheets = []
        for meta in book.sheets_metadata:
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            sheet = book.get_sheet_by_name(meta.name)
            if sheet.total_height * sheet.total_width > MAX_GRID_CELLS:
                raise UnreadableWorkbook(f"{src.name}: sheet {meta.name!r} is too large")
            rows = sheet.to_python(skip_empty_area=False)
            hidden = meta.visible != python_calamine.SheetVisibleEnum.Visible
            sheets.append((meta.name, hidden, rows))
        return sheets
    except UnreadableWorkbook:
        raise
    except Exception as exc:
        raise UnreadableWorkbook(f"{src.name}: {exc}") from exc


def _date_format(value: object) -> str | None:
    if isinstance(value, _dt.datetime):
        return "yyyy-mm-dd hh:mm:ss" if value.time() != _dt.time() else "yyyy-mm-dd"
    if isinstance(value, _dt.date):
        return "yyyy-mm-dd"
    if isinstance(value, _dt.time):
        return "hh:mm:ss"
    if isinstance(value, _dt.timedelta):
        return "[hh]:mm:ss"
    return None


class _ExactWorksheet(xlsxwriter.worksheet.Worksheet):
    """A worksheet that writes every number exactly.

    xlsxwriter writes numbers with 16 significant digits, which changes an input value such
    as 0.30000000000000004; this writes the shortest exact form (``repr``) instead.
    """

    def _xml_number_element(self, number, attributes=()) -> None:
        attr = "".join(f' {k}="{self._escape_attributes(v)}"' for k, v in attributes)
        text = repr(float(number)) if isinstance(number, float) else str(number)
        self.fh.write(f"<c{attr}><v>{text}</v></c>")


class _XwFormats:
    """xlsxwriter formats, created once per (number format, fill, quote prefix)."""

    def __init__(self, book):
        self.book, self.cache = book, {}

    def get(self, num: str | None = None, fill: str | None = None, quote: bool = False):
        key = (num, fill, quote)
        if key not in self.cache:
            props = {}
            if num:
                props["num_format"] = num
            if fill:
                props.update(pattern=1, bg_color="#" + fill[2:])
            if quote:
                props["quote_prefix"] = True
            self.cache[key] = self.book.add_format(props) if props else None
        return self.cache[key]


def _xw_write(ws, r: int, c: int, value: object, formats: _XwFormats, fill: str | None = None) -> None:
    """Write one input value with xlsxwriter; a string is always text, never a formula."""
    if isinstance(value, str):
        text = _text(value)
        ws.write_string(r, c, text, formats.get(None, fill, text.startswith(FORMULA_START)))
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value, formats.get(None, fill))
    elif isinstance(value, (int, float)):
        ws.write_number(r, c, value, formats.get(None, fill))
    elif (date_fmt := _date_format(value)) is not None:
        ws.write_datetime(r, c, value, formats.get(date_fmt, fill))
    elif value is None or value == "":
        if fill:
            ws.write_blank(r, c, None, formats.get(None, fill))
    else:
        ws.write_string(r, c, _text(str(value)), formats.get(None, fill))


def _write_streamed(sheets, out: Path, diagnostics, results, lang: str, note: str) -> None:
    """A values-only copy: the input's values written row by row (xlsxwriter, constant memory)
    with the findings as comments and fills, then the Issues and result tables added to it
    as the annotated copy of a large input adds them (``xlsxparts``: text, several times
    faster than cell by cell)."""
    titles = [t for t, _, rows in sheets]
    header_of = {t: (rows[0] if rows else []) for t, _, rows in sheets}
    inputs = [t for t in titles if not _is_generated(t, header_of[t], ANNOTATION_SHEETS)]
    tables = _added_tables(diagnostics, results, inputs, lang, note)
    if not inputs:      # nothing of the input to copy: a workbook of the tables alone
        for table in tables:
            table.rows = list(table.rows)
        xlsxparts.write_workbook(out, tables)
        return

    findings = _cell_findings(diagnostics, inputs)
    by_row: dict[str, dict[int, dict[int, list[Diagnostic]]]] = defaultdict(lambda: defaultdict(dict))
    for (sheet, row, col), diags in findings.items():
        by_row[sheet][row - 1][col - 1] = diags
    book = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False,
                                          "strings_to_urls": False, "strings_to_numbers": False})
    formats = _XwFormats(book)
    for title, hidden, rows in sheets:
        if title not in inputs:
            continue
        ws = book.add_worksheet(title, worksheet_class=_ExactWorksheet)
        if hidden:
            ws.hide()
        ws.set_landscape()      # one page wide; where the header row is, the input says
        ws.fit_to_pages(1, 0)
        marks = by_row.get(title, {})
        last = max([len(rows) - 1] + list(marks))
        for r in range(last + 1):
            row = rows[r] if r < len(rows) else []
            row_marks = marks.get(r, {})
            for c in sorted(set(range(len(row))) | set(row_marks)):
                diags = row_marks.get(c)
                value = row[c] if c < len(row) else None
                _xw_write(ws, r, c, value, formats, _fill_color(diags) if diags else None)
                if diags:
                    text = _comment_text(diags, lang)
                    ws.write_comment(r, c, text, {"author": AUTHOR, "x_scale": 3,
                                                  "y_scale": min(1 + text.count("\n"), 6)})
        del rows[:]   # release the values of a written sheet
    book.close()
    with atomic_path(out, durable=False) as tmp:
        xlsxparts.add_to_workbook(out, tmp, xlsxparts.Edits(tables, {}, AUTHOR,
                                                            tables[0].title if diagnostics else None))


# --------------------------------------------------------------------- close workbook

def _reading_text(value, status: str | None, unit: str, lang: str) -> str:
    """A reading in words: ``80,5 % (vérifié)``; no reading: ``aucun relevé``."""
    t = translator(lang)
    if value is None:
        return t("no_reading") if status is None else status_word("reading", status, lang)
    return f"{formatting.kpi_value(value, unit, lang)} ({status_word('reading', status or '', lang)})"


def _changes_text(report: CloseReport, r: ContractResult, keys: set[tuple[str, str]],
                  lang: str) -> list[str]:
    """The reading changes of this run among the (kpi_id, month) keys, in words:
    ``« Taux de détection », septembre 2026 : 0,66 (contesté) → 0,71 (vérifié)``."""
    t = translator(lang)
    out = []
    for ch in report.changes_of(r.contract_id):
        if (ch.kpi_id, ch.month) not in keys:
            continue
        kpi = r.terms.kpi(ch.kpi_id) if r.terms else None
        unit = kpi.unit if kpi else ""
        if ch.old_status is None:
            before = LABELS[lang]["new_reading"]
        else:
            before = _reading_text(ch.old_value, ch.old_status, unit, lang)
        out.append(t("change", kpi=kpi.name if kpi and kpi.name else ch.kpi_id,
                     month=formatting.month(ch.month, lang), old=before,
                     new=_reading_text(ch.new_value, ch.new_status, unit, lang)))
    return out


def _line_reason(report: CloseReport, r: ContractResult, m, lang: str) -> tuple[str, str]:
    """(kind of invoice line, detail) of a contract month with something to invoice.

    The detail of an adjustment names the readings changed by this run that the month's
    settlement used (each KPI's evaluated window, and the bonus KPI's), else what is held;
    in words, KPIs by their names, months and statuses written out.
    """
    labels = LABELS[lang]
    if not m.in_term:
        return labels["out_of_term"], ""
    if m.month == report.period:
        return labels["current"], ""
    if m.invoiced_before == 0:
        return labels["catch_up"], ""
    keys = {(k.kpi_id, mo) for k in m.kpis for mo in (*k.window, k.evaluated_month) if mo}
    bonus = r.terms.kpi(r.terms.contract.bonus_kpi) if r.terms and r.terms.contract.bonus_kpi else None
    if bonus is not None:
        keys |= {(bonus.kpi_id, months.add(m.month, -i)) for i in range(bonus.window_months)}
    detail = _changes_text(report, r, keys, lang)
    if not detail:
        names = {k.kpi_id: k.name for k in r.terms.kpis} if r.terms else {}
        detail = [labels["held_kpi"].format(kpi=names.get(k.kpi_id) or k.kpi_id,
                                            month=formatting.month(k.evaluated_month or k.month, lang))
                  for k in m.kpis if k.status == "held"]
    return labels["adjustment"], "; ".join(detail)


def _names(report: CloseReport, r: ContractResult) -> tuple[str, str, str]:
    if r.contract_id in report.names:
        return tuple(report.names[r.contract_id])
    c = r.terms.contract if r.terms else None
    return (c.client, c.provider, c.currency) if c else ("", "", r.currency)


def _invoice_lines(report: CloseReport, lang: str) -> _Table:
    title, headers = SHEETS["lines"][lang]
    rows = []
    for r in sorted(report.results, key=lambda r: r.contract_id):
        client, provider, _ = _names(report, r)
        for m in sorted(r.months, key=lambda m: m.month):
            if m.invoice_now == 0:
                continue
            kind, detail = _line_reason(report, r, m, lang)
            cur = m.currency
            rows.append([m.contract_id, client, provider, _month(m.month, lang), cur, kind,
                         _money(m.due, cur, lang), _money(m.invoiced_before, cur, lang),
                         _money(m.invoice_now, cur, lang), detail])
    return _Table(title, headers, rows)


def _totals(report: CloseReport, lang: str) -> _Table:
    title, headers = SHEETS["totals"][lang]
    rows = [[cur, t.lines, _money(t.period_lines, cur, lang), _money(t.earlier_lines, cur, lang),
             _money(t.period_lines + t.earlier_lines, cur, lang)] for cur, t in report.totals.items() if t.lines]
    return _Table(title, headers, rows)


def _contract_rows(report: CloseReport, lang: str) -> _Table:
    title, headers = SHEETS["contracts"][lang]
    rows = []
    for r in sorted(report.results, key=lambda r: r.contract_id):
        client, provider, currency = _names(report, r)
        errors, warns = report.contract_findings.get(r.contract_id, (0, 0))
        exit_status = "" if r.status == "excluded" else status_word("exit", r.exit.status, lang)
        rows.append([r.contract_id, client, provider, currency or r.currency,
                     status_word("contract", r.status, lang), exit_status, errors, warns,
                     _money(r.invoice_now, currency or r.currency, lang), _month(r.exit.month, lang),
                     exit_reason(r.exit)])
    return _Table(title, headers, rows)
