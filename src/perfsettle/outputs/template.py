"""The blank input workbook of ``perfsettle template``.

One sheet per input table of SPEC §2 (headers in French or English, from ``schema``), an
instructions sheet that explains every column, Excel data validation (dropdowns, number
ranges, input messages), percent and month formats, frozen header rows, and one example
contract that passes ``perfsettle check`` without a finding and settles cleanly.

The example contract is dated relative to today: it starts three months before the current
month and has readings for the three months up to the previous month (the default close
period), so that a close run on the fresh template settles those months at once.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import xlsxwriter

from perfsettle.core import months, schema
from perfsettle.core.schema import Column, SheetSpec

LANGS = ("fr", "en")

# Rows covered by the validations and formats (header is row 1).
LAST_ROW = {"Contracts": 2000, "KPIs": 10000, "Readings": 100000, "Invoiced": 20000}

# Common ISO 4217 codes offered in the currency dropdown; any other ISO code is accepted
# (the dropdown only warns).
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "CNY", "SEK", "NOK", "DKK",
              "PLN", "CZK", "HUF", "RON", "MAD", "TND", "XOF", "XAF")

# Enumerated values as the template writes them, per language (all read back by
# ``schema.enum_value``; canonical English values are accepted in either template).
ENUM_DISPLAY: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "company_size": {"TPE": "TPE", "PME": "PME", "ETI": "ETI", "GE": "GE"},
        "category": {"operational": "opérationnel", "robustness": "robustesse",
                     "financial": "financier"},
        "direction": {"higher": "hausse", "lower": "baisse"},
        "target_mode": {"absolute": "absolu", "relative": "relatif", "points": "points"},
        "status": {"verified": "vérifié", "provisional": "provisoire",
                   "disputed": "contesté", "void": "annulé"},
        "language": {"fr": "fr", "en": "en"},
    },
    "en": {
        "company_size": {"TPE": "TPE", "PME": "PME", "ETI": "ETI", "GE": "GE"},
        "category": {"operational": "operational", "robustness": "robustness",
                     "financial": "financial"},
        "direction": {"higher": "higher", "lower": "lower"},
        "target_mode": {"absolute": "absolute", "relative": "relative", "points": "points"},
        "status": {"verified": "verified", "provisional": "provisional",
                   "disputed": "disputed", "void": "void"},
        "language": {"fr": "fr", "en": "en"},
    },
}
BOOL_DISPLAY = {"fr": {True: "oui", False: "non"}, "en": {True: "yes", False: "no"}}

INSTRUCTIONS_TITLE = {"fr": "Mode d'emploi", "en": "Instructions"}

# Whole-number ranges fixed by SPEC §2 (exit_month and due_month are also capped by the
# contract's duration, which validation checks).
_INT_RANGES = {
    "duration_months": (1, 120),
    "exit_month": (1, 120),
    "due_month": (1, 120),
}

_T = {
    "fr": {
        "title": "perfsettle — classeur de saisie des contrats de performance",
        "intro": [
            "Ce classeur alimente la clôture mensuelle : déposez-le dans le dossier inbox/ "
            "et la prochaine clôture le lit.",
            "1. Remplissez les feuilles Contrats, Indicateurs et Mesures (et, si des mois ont "
            "déjà été facturés hors perfsettle, Deja_facture). Une ligne par enregistrement ; "
            "la première ligne (en-têtes) ne se modifie pas.",
            "2. Les lignes d'exemple (contrat C-PME-01) montrent un contrat complet : "
            "remplacez-les par les vôtres, ou gardez-les pour un essai.",
            "3. Pourcentages = fractions : 35 % s'écrit 0,35 (ou 35 % dans une cellule au "
            "format pourcentage, ce qui revient au même).",
            "4. Mois : une date (seul le mois compte) ou le texte AAAA-MM (2026-03) ou "
            "MM/AAAA (03/2026).",
            "5. Nombres : saisissez des nombres, pas du texte. Un nombre saisi en texte "
            "(« 12,5 ») est accepté avec un avertissement ; « 1,234 » est ambigu et refusé.",
            "6. Montants : au plus les décimales de la devise (EUR 2, JPY 0).",
            "7. Vérifiez le classeur avant de le déposer : perfsettle check FICHIER.xlsx "
            "(aucune écriture ; chaque constat est donné avec sa cellule).",
            "8. Un classeur peut ne contenir qu'une partie des feuilles : par exemple, chaque "
            "mois, seulement la feuille Mesures avec les relevés du mois.",
            "Les en-têtes en gras sur fond foncé sont obligatoires ; les autres sont "
            "facultatifs. Les noms de colonnes français et anglais sont acceptés "
            "indifféremment, sans tenir compte des majuscules, accents, espaces, _ et -.",
        ],
        "sheet_heading": "Feuille {sheet} — {what}",
        "what": {
            "Contracts": "une ligne par contrat",
            "KPIs": "une ligne par indicateur d'un contrat",
            "Readings": "une ligne par relevé (contrat × indicateur × mois)",
            "Invoiced": "facultative : ce qui a déjà été facturé hors perfsettle, par contrat et mois",
        },
        "cols": ("Colonne", "Autres noms acceptés", "Obligatoire", "Par défaut",
                 "Valeurs admises", "Explication", "Exemple"),
        "yes": "oui", "no": "non",
        "cond": "si {other} est rempli",
        "values_heading": "Valeurs admises (listes déroulantes)",
        "values_cols": ("Colonne", "Valeurs en français", "Valeurs en anglais"),
        "bands_heading": "Part variable usuelle par taille d'entreprise (hors de ces bornes : "
                         "un avertissement)",
        "bands": "{size} : {lo} à {hi}",
        "example": "Ex. : {v}",
        "required": "Obligatoire.",
        "default": "Par défaut : {v}.",
        "list_error_title": "Valeur non proposée",
        "list_error": "Valeurs attendues : {values}. Une autre écriture admise reste "
                      "possible ; perfsettle check la contrôlera.",
        "currency_error": "Code ISO 4217 attendu (EUR, USD, CHF…). Un autre code ISO reste "
                          "possible.",
        "int_error_title": "Nombre entier attendu",
        "int_error": "Un nombre entier de {lo} à {hi}.",
        "int_min_error": "Un nombre entier supérieur ou égal à {lo}.",
        "frac_error_title": "Fraction attendue",
        "frac_error": "Une fraction de 0 à 1 (35 % = 0,35).",
        "num_error_title": "Nombre attendu",
        "num_error": "Saisissez un nombre (pas du texte).",
        "fee_error": "Un montant supérieur à 0.",
        "range_int": "entier de {lo} à {hi}",
        "range_int_min": "entier ≥ {lo}",
        "range_frac": "fraction de 0 à 1",
        "range_month": "mois (date, AAAA-MM ou MM/AAAA)",
        "range_money": "montant",
        "range_money_pos": "montant > 0",
        "range_number": "nombre",
        "range_currency": "code ISO 4217",
        "range_bool": "oui / non",
        "range_text": "texte",
        "range_id": "lettres, chiffres, . _ -",
        "range_email": "adresses séparées par des virgules",
        "kpi_names": {
            "detection": "Taux de détection d'anomalies",
            "manual_time": "Temps de traitement manuel",
            "stability": "Stabilité du modèle",
            "roi": "Rentabilité IA",
            "automation": "Taux d'automatisation",
        },
        "mediator": "Mme Durand (CMAP)",
        "comments": {"provisional": "chiffre provisoire, à confirmer"},
    },
    "en": {
        "title": "perfsettle — input workbook for performance contracts",
        "intro": [
            "This workbook feeds the monthly close: drop it into the inbox/ folder and the "
            "next close reads it.",
            "1. Fill in the sheets Contracts, KPIs and Readings (and, when months were already "
            "invoiced outside perfsettle, Invoiced). One row per record; do not change the "
            "first row (headers).",
            "2. The example rows (contract C-PME-01) show a complete contract: replace them "
            "with yours, or keep them for a trial run.",
            "3. Percentages are fractions: 35 % is 0.35 (or 35 % in a cell formatted as a "
            "percentage, which is the same).",
            "4. Months: a date (only its month counts) or the text YYYY-MM (2026-03) or "
            "MM/YYYY (03/2026).",
            "5. Numbers: type numbers, not text. A number typed as text (\"12.5\") is accepted "
            "with a warning; \"1,234\" is ambiguous and refused.",
            "6. Amounts: at most the currency's minor-unit digits (EUR 2, JPY 0).",
            "7. Check the workbook before dropping it: perfsettle check FILE.xlsx (writes "
            "nothing; every finding comes with its cell).",
            "8. A workbook may hold only some of the sheets: for instance, each month, only the "
            "Readings sheet with that month's readings.",
            "Bold headers on a dark fill are required; the others are optional. French and "
            "English column names are both accepted, ignoring case, accents, spaces, _ and -.",
        ],
        "sheet_heading": "Sheet {sheet} — {what}",
        "what": {
            "Contracts": "one row per contract",
            "KPIs": "one row per KPI of a contract",
            "Readings": "one row per reading (contract × KPI × month)",
            "Invoiced": "optional: what was already invoiced outside perfsettle, per contract and month",
        },
        "cols": ("Column", "Other accepted names", "Required", "Default",
                 "Accepted values", "Explanation", "Example"),
        "yes": "yes", "no": "no",
        "cond": "when {other} is set",
        "values_heading": "Accepted values (dropdowns)",
        "values_cols": ("Column", "French values", "English values"),
        "bands_heading": "Usual variable share per company size (outside these bounds: a warning)",
        "bands": "{size}: {lo} to {hi}",
        "example": "E.g. {v}",
        "required": "Required.",
        "default": "Default: {v}.",
        "list_error_title": "Value not offered",
        "list_error": "Expected values: {values}. Another accepted spelling is still "
                      "possible; perfsettle check will verify it.",
        "currency_error": "ISO 4217 code expected (EUR, USD, CHF…). Another ISO code is still "
                          "possible.",
        "int_error_title": "Whole number expected",
        "int_error": "A whole number from {lo} to {hi}.",
        "int_min_error": "A whole number of at least {lo}.",
        "frac_error_title": "Fraction expected",
        "frac_error": "A fraction from 0 to 1 (35 % = 0.35).",
        "num_error_title": "Number expected",
        "num_error": "Type a number (not text).",
        "fee_error": "An amount above 0.",
        "range_int": "whole number {lo} to {hi}",
        "range_int_min": "whole number ≥ {lo}",
        "range_frac": "fraction 0 to 1",
        "range_month": "month (date, YYYY-MM or MM/YYYY)",
        "range_money": "amount",
        "range_money_pos": "amount > 0",
        "range_number": "number",
        "range_currency": "ISO 4217 code",
        "range_bool": "yes / no",
        "range_text": "text",
        "range_id": "letters, digits, . _ -",
        "range_email": "comma-separated addresses",
        "kpi_names": {
            "detection": "Anomaly detection rate",
            "manual_time": "Manual processing time",
            "stability": "Model stability",
            "roi": "AI profitability",
            "automation": "Automation rate",
        },
        "mediator": "Ms Durand (CMAP)",
        "comments": {"provisional": "provisional figure, to be confirmed"},
    },
}

# Columns required only together with another one.
_CONDITIONAL = {"bonus_target": "bonus_kpi", "exit_threshold": "exit_kpi"}


def sheet_title(spec: SheetSpec, lang: str) -> str:
    """The name of an input sheet in the template of ``lang``."""
    return spec.label_fr if lang == "fr" else spec.name


def header(col: Column, lang: str) -> str:
    """The header of a column in the template of ``lang``."""
    return (col.label_fr or col.name) if lang == "fr" else col.name


def help_text(col: Column, lang: str) -> str:
    return col.help_fr if lang == "fr" else col.help_en


def example_rows(lang: str = "fr", today: _dt.date | None = None) -> dict[str, list[dict]]:
    """The example contract, keyed by canonical sheet and column names (canonical values).

    Months are 'YYYY-MM'; booleans are bool; numbers are int or float as written.
    """
    t = _T[lang]
    today = today or _dt.date.today()
    current = months.from_date(today)
    start = months.add(current, -3)
    cid = schema.CONTRACTS.column("contract_id").example
    contract = {
        "contract_id": cid,
        "client": schema.CONTRACTS.column("client").example,
        "provider": schema.CONTRACTS.column("provider").example,
        "company_size": "PME",
        "currency": "EUR",
        "start_month": start,
        "duration_months": 12,
        "monthly_fee": 10000,
        "variable_share": 0.35,
        "requires_verified": False,
        "bonus_kpi": "roi",
        "bonus_target": 0.25,
        "bonus_rate": 0.1,
        "malus_rate": 0.1,
        "exit_kpi": "automation",
        "exit_threshold": 0.7,
        "exit_month": 6,
        "mediator": t["mediator"],
        "contact_email": schema.CONTRACTS.column("contact_email").example,
        "language": lang,
    }
    names = t["kpi_names"]

    def kpi(kid, category, direction, unit, mode, target, weight, **more):
        row = {"contract_id": cid, "kpi_id": kid, "name": names[kid], "category": category,
               "direction": direction, "unit": unit, "target_mode": mode, "target": target,
               "weight": weight}
        row.update(more)
        return row

    kpis = [
        # +15 % relative on 0.70: target level 0.805, paid linearly from the floor 0.735.
        kpi("detection", "operational", "higher", "%", "relative", 0.15, 0.4,
            baseline=0.7, floor=0.05, window_months=1),
        # −30 % of 120 h: target level 84 h.
        kpi("manual_time", "operational", "lower", "h", "relative", -0.3, 0.3,
            baseline=120, window_months=1),
        # > 98 % held over 6 months (the worst month of the window counts).
        kpi("stability", "robustness", "higher", "%", "absolute", 0.98, 0.3, window_months=6),
        # Bonus-malus KPI (weight 0: pays nothing by itself).
        kpi("roi", "financial", "higher", "%", "absolute", 0.25, 0),
        # Early-exit KPI (weight 0).
        kpi("automation", "operational", "higher", "%", "absolute", 0.7, 0),
    ]
    series = {
        "detection": (0.74, 0.79, 0.81),
        "manual_time": (110, 95, 82),
        "stability": (0.985, 0.99, 0.991),
        "roi": (0.18, 0.22, 0.26),
        "automation": (0.62, 0.68, 0.72),
    }
    readings = []
    for kid, values in series.items():
        for i, value in enumerate(values):
            status = "provisional" if i == len(values) - 1 else "verified"
            readings.append({
                "contract_id": cid, "kpi_id": kid, "month": months.add(start, i),
                "value": value, "status": status,
                "comment": t["comments"][status] if status == "provisional" else "",
            })
    return {"Contracts": [contract], "KPIs": kpis, "Readings": readings, "Invoiced": []}


def write_template(path: Path, lang: str = "fr", *, today: _dt.date | None = None) -> Path:
    """Write the blank input workbook for ``lang`` ('fr' or 'en') to ``path``; return it."""
    if lang not in LANGS:
        raise ValueError(f"unknown template language {lang!r} (expected 'fr' or 'en')")
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    t = _T[lang]
    wb = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    })
    try:
        wb.set_properties({
            "title": t["title"],
            "subject": "perfsettle",
            "comments": "perfsettle template" + (" (fr)" if lang == "fr" else " (en)"),
        })
        fmt = _Formats(wb)
        data = example_rows(lang, today)
        instructions = wb.add_worksheet(INSTRUCTIONS_TITLE[lang])
        for spec in schema.SHEETS:
            _write_input_sheet(wb, fmt, spec, lang, data[spec.name])
        _write_instructions(instructions, fmt, lang)
        instructions.activate()
    finally:
        wb.close()
    return path


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "Calibri", "font_size": 11}
        self.required = wb.add_format({**base, "bold": True, "font_color": "#FFFFFF",
                                       "bg_color": "#1F4E78", "border": 1, "text_wrap": True,
                                       "valign": "top"})
        self.optional = wb.add_format({**base, "bold": False, "font_color": "#1F2937",
                                       "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                       "valign": "top"})
        self.text = wb.add_format({**base, "num_format": "@"})
        self.general = wb.add_format(base)
        self.percent = wb.add_format({**base, "num_format": "0.00%"})
        self.month = wb.add_format({**base, "num_format": "yyyy-mm"})
        self.money = wb.add_format({**base, "num_format": "#,##0.00"})
        self.integer = wb.add_format({**base, "num_format": "0"})
        self.title = wb.add_format({"font_name": "Calibri", "bold": True, "font_size": 16,
                                    "font_color": "#1F4E78"})
        self.heading = wb.add_format({"font_name": "Calibri", "bold": True, "font_size": 13,
                                      "font_color": "#1F4E78"})
        self.para = wb.add_format({**base, "text_wrap": False})
        self.th = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1,
                                 "text_wrap": True, "valign": "top"})
        self.td = wb.add_format({**base, "border": 1, "text_wrap": True, "valign": "top"})
        self.td_code = wb.add_format({**base, "border": 1, "text_wrap": True, "valign": "top",
                                      "font_name": "Consolas"})

    def for_column(self, col: Column):
        if col.kind == "fraction":
            return self.percent
        if col.kind == "month":
            return self.month
        if col.kind == "money":
            return self.money
        if col.kind == "int":
            return self.integer
        if col.kind in ("number",):
            return self.general
        return self.text


def _write_input_sheet(wb, fmt: _Formats, spec: SheetSpec, lang: str, rows: list[dict]) -> None:
    ws = wb.add_worksheet(sheet_title(spec, lang))
    last = LAST_ROW[spec.name]
    ws.set_row(0, 30)
    for c, col in enumerate(spec.columns):
        title = header(col, lang)
        ws.write_string(0, c, title, fmt.required if col.required else fmt.optional)
        ws.set_column(c, c, _width(col, lang), fmt.for_column(col))
        # Input message on the header cell.
        ws.data_validation(0, c, 0, c, {
            "validate": "any",
            "input_title": _clip(title, 32),
            "input_message": _clip(_header_message(col, lang), 255),
        })
        dv = _validation(col, lang)
        if dv is not None:
            ws.data_validation(1, c, last - 1, c, dv)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, 0, len(spec.columns) - 1)
    for r, row in enumerate(rows, start=1):
        for c, col in enumerate(spec.columns):
            _write_value(ws, fmt, r, c, col, row.get(col.name), lang)


def _write_value(ws, fmt: _Formats, r: int, c: int, col: Column, value, lang: str) -> None:
    if value is None or value == "":
        return
    if col.kind == "month":
        y, m = int(value[:4]), int(value[5:7])
        ws.write_datetime(r, c, _dt.datetime(y, m, 1), fmt.month)
    elif col.kind == "bool":
        ws.write_string(r, c, BOOL_DISPLAY[lang][bool(value)], fmt.text)
    elif col.kind == "enum":
        ws.write_string(r, c, ENUM_DISPLAY[lang][col.name][value], fmt.text)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ws.write_number(r, c, value, fmt.for_column(col))
    else:
        ws.write_string(r, c, str(value), fmt.text)


def _width(col: Column, lang: str) -> float:
    longest = max(len(header(col, lang)), len(str(col.example or "")))
    if col.kind == "month":
        longest = max(longest, 8)
    return min(max(longest + 3, 10), 34)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _enum_values(col: Column, lang: str) -> list[str]:
    if col.kind == "bool":
        return [BOOL_DISPLAY[lang][True], BOOL_DISPLAY[lang][False]]
    if col.kind == "currency":
        return list(CURRENCIES)
    if col.kind == "enum":
        return list(ENUM_DISPLAY[lang][col.name].values())
    return []


def accepted_values(col: Column, lang: str) -> str:
    """Short description of what a column accepts, for the instructions sheet."""
    t = _T[lang]
    if col.kind in ("enum", "bool"):
        return ", ".join(_enum_values(col, lang))
    if col.kind == "currency":
        return t["range_currency"] + " (" + ", ".join(CURRENCIES[:6]) + "…)"
    if col.kind == "int":
        if col.name in _INT_RANGES:
            lo, hi = _INT_RANGES[col.name]
            if col.name in ("exit_month", "due_month"):
                hi = "duree_mois" if lang == "fr" else "duration_months"
            return t["range_int"].format(lo=lo, hi=hi)
        return t["range_int_min"].format(lo=1)
    if col.kind == "fraction":
        if col.name == "variable_share":
            return "0 < x ≤ 1"
        return t["range_frac"]
    if col.kind == "month":
        return t["range_month"]
    if col.kind == "money":
        return t["range_money_pos"] if col.name == "monthly_fee" else t["range_money"]
    if col.kind == "number":
        return t["range_number"]
    if col.kind == "id":
        return t["range_id"]
    if col.kind == "email":
        return t["range_email"]
    return t["range_text"]


def _default_text(col: Column, lang: str) -> str:
    if col.default is None:
        if col.name == "exit_month":
            return "ceil(duree_mois / 2)" if lang == "fr" else "ceil(duration_months / 2)"
        if col.name == "status":
            return ENUM_DISPLAY[lang]["status"]["provisional"]
        return ""
    if col.kind == "bool":
        return BOOL_DISPLAY[lang][bool(col.default)]
    if col.kind == "enum" and col.name in ENUM_DISPLAY[lang]:
        return ENUM_DISPLAY[lang][col.name].get(str(col.default), str(col.default))
    if col.kind == "fraction":
        return _number_text(float(col.default), lang)
    return str(col.default)


def _number_text(value, lang: str) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", ",") if lang == "fr" else text


def _example_text(col: Column, lang: str) -> str:
    v = col.example
    if v is None or v == "":
        return ""
    if col.kind == "enum" and col.name in ENUM_DISPLAY[lang]:
        canonical = schema.enum_value(col.name, v) or str(v)
        return ENUM_DISPLAY[lang][col.name].get(canonical, str(v))
    if col.kind == "bool":
        return BOOL_DISPLAY[lang][schema.BOOLS.get(schema.key(v), False)]
    if isinstance(v, float) and col.kind == "fraction":
        pct = _number_text(round(v * 100, 6), lang)
        return f"{_number_text(v, lang)} ({pct} %)"
    if isinstance(v, (int, float)):
        return _number_text(v, lang)
    return str(v)


def _header_message(col: Column, lang: str) -> str:
    t = _T[lang]
    parts = [help_text(col, lang)]
    if col.required:
        parts.append(t["required"])
    else:
        d = _default_text(col, lang)
        if d:
            parts.append(t["default"].format(v=d))
    ex = _example_text(col, lang)
    if ex:
        parts.append(t["example"].format(v=ex))
    return " ".join(parts)


def _validation(col: Column, lang: str) -> dict | None:
    """The data validation of a column's data cells (None: input message only)."""
    t = _T[lang]
    message = _clip(_header_message(col, lang), 255)
    title = _clip(header(col, lang), 32)
    base = {"input_title": title, "input_message": message, "ignore_blank": True}
    if col.kind in ("enum", "bool", "currency"):
        values = _enum_values(col, lang)
        error = (t["currency_error"] if col.kind == "currency"
                 else t["list_error"].format(values=", ".join(values)))
        return {**base, "validate": "list", "source": values, "dropdown": True,
                "error_type": "warning", "error_title": t["list_error_title"],
                "error_message": _clip(error, 255)}
    if col.kind == "int":
        if col.name in _INT_RANGES:
            lo, hi = _INT_RANGES[col.name]
            return {**base, "validate": "integer", "criteria": "between", "minimum": lo,
                    "maximum": hi, "error_title": t["int_error_title"],
                    "error_message": t["int_error"].format(lo=lo, hi=hi)}
        return {**base, "validate": "integer", "criteria": ">=", "value": 1,
                "error_title": t["int_error_title"],
                "error_message": t["int_min_error"].format(lo=1)}
    if col.kind == "fraction":
        return {**base, "validate": "decimal", "criteria": "between", "minimum": 0,
                "maximum": 1, "error_title": t["frac_error_title"],
                "error_message": t["frac_error"]}
    if col.kind == "money" and col.name == "monthly_fee":
        return {**base, "validate": "decimal", "criteria": ">", "value": 0,
                "error_title": t["num_error_title"], "error_message": t["fee_error"]}
    if col.kind in ("money", "number"):
        return {**base, "validate": "decimal", "criteria": "between",
                "minimum": -1e15, "maximum": 1e15,
                "error_title": t["num_error_title"], "error_message": t["num_error"]}
    return {**base, "validate": "any"}


def _row_height(cells, widths) -> float:
    """Height of a wrapped table row (Excel does not size rows written by a program)."""
    lines = 1
    for text, width in zip(cells, widths):
        per_line = max(1, int(width * 1.1))
        lines = max(lines, -(-len(text) // per_line))
    return 15 * lines


def _write_instructions(ws, fmt: _Formats, lang: str) -> None:
    t = _T[lang]
    widths = (22, 26, 22, 16, 26, 60, 26)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.set_landscape()
    ws.set_paper(9)                 # A4
    ws.fit_to_pages(1, 0)           # one page wide when printed
    ws.hide_gridlines(2)
    r = 0
    ws.write_string(r, 0, t["title"], fmt.title)
    r += 2
    for line in t["intro"]:
        ws.write_string(r, 0, line, fmt.para)
        r += 1
    for spec in schema.SHEETS:
        r += 1
        ws.write_string(r, 0, t["sheet_heading"].format(sheet=sheet_title(spec, lang),
                                                        what=t["what"][spec.name]), fmt.heading)
        r += 1
        for c, h in enumerate(t["cols"]):
            ws.write_string(r, c, h, fmt.th)
        r += 1
        for col in spec.columns:
            names = [col.name] + [a for a in ((col.label_fr,) + col.aliases) if a]
            other = [n for n in dict.fromkeys(names) if n != header(col, lang)]
            if col.required:
                req = t["yes"]
            elif col.name in _CONDITIONAL:
                req = t["cond"].format(other=header(spec.column(_CONDITIONAL[col.name]), lang))
            else:
                req = t["no"]
            cells = (header(col, lang), ", ".join(other), req, _default_text(col, lang),
                     accepted_values(col, lang), help_text(col, lang), _example_text(col, lang))
            for c, v in enumerate(cells):
                ws.write_string(r, c, v, fmt.td_code if c == 0 else fmt.td)
            ws.set_row(r, _row_height(cells, widths))
            r += 1
    r += 1
    ws.write_string(r, 0, t["values_heading"], fmt.heading)
    r += 1
    for c, h in enumerate(t["values_cols"]):
        ws.write_string(r, c, h, fmt.th)
    r += 1
    listed = [("company_size", "taille"), ("category", "categorie"), ("direction", "sens"),
              ("target_mode", "mode_objectif"), ("status", "statut"), ("language", "langue")]
    for name, label in listed:
        ws.write_string(r, 0, label if lang == "fr" else name, fmt.td_code)
        ws.write_string(r, 1, ", ".join(ENUM_DISPLAY["fr"][name].values()), fmt.td)
        ws.write_string(r, 2, ", ".join(ENUM_DISPLAY["en"][name].values()), fmt.td)
        r += 1
    ws.write_string(r, 0, "verification_requise" if lang == "fr" else "requires_verified",
                    fmt.td_code)
    ws.write_string(r, 1, "oui, non (vrai/faux, 1/0)", fmt.td)
    ws.write_string(r, 2, "yes, no (true/false, 1/0)", fmt.td)
    r += 2
    ws.write_string(r, 0, t["bands_heading"], fmt.heading)
    r += 1
    for size, (lo, hi) in schema.BANDS.items():
        lo_pct = f"{int(round(float(lo) * 100))} %"
        hi_pct = f"{int(round(float(hi) * 100))} %"
        ws.write_string(r, 0, t["bands"].format(size=size, lo=lo_pct, hi=hi_pct), fmt.para)
        r += 1
