"""The catalogue of findings: every code a workbook can get, with its severity, its scope,
its message in English and French, and the data it carries.

A finding is made from the catalogue only::

    diagnostics.make("weights-sum", source, contract_id="C1", total=Decimal("0.9"))

or, where the cell is not known yet (a cell converter), as a pending ``Problem`` placed later::

    p = diagnostics.problem("not-a-number", text="abc")
    d = p.at(source, contract_id)

An unknown code, a missing placeholder or an undeclared field is refused (``KeyError`` /
``TypeError``): a bug, not a finding. The scope says what an error costs:

- ``file``: the whole workbook is rejected (nothing of it is stored);
- ``contract``: the contract the finding belongs to is excluded from the close (a row that
  names no contract is dropped);
- ``cell`` and ``sheet``: warnings; the value (or the sheet) is read all the same.

Templates are ``str.format`` strings with named placeholders. Besides Python's own format
specifications, a placeholder may use ``:num`` (a Decimal: ``0.35`` in English, ``0,35`` in
French), ``:n`` (a count grouped by thousands: ``1,234`` / ``1 234``) or ``:size`` (bytes:
``3.5 MiB`` / ``3,5 Mio``); a ``Text`` value (a phrase in both languages) is rendered in the
message's language.

To add a code: one ``_entry(...)`` below (code, severity, scope, what it means for the
documentation, the templates), then make it with ``make``/``problem``; the test of the
catalogue checks that every code is used and documented in docs/accepted-inputs.md (run
``python -m perfsettle.core.diagnostics`` for its table).
"""
from __future__ import annotations

import string
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from perfsettle.core.model import ERROR, WARNING, Diagnostic, Source
from perfsettle.core.money import CONTEXT, fr as fr_number

FILE = "file"           # an error that rejects the whole workbook
CONTRACT = "contract"   # an error that excludes its contract
CELL = "cell"           # a warning at a cell: the value is read all the same
SHEET = "sheet"         # a warning about a sheet
SCOPES = {ERROR: (FILE, CONTRACT), WARNING: (CELL, SHEET)}


@dataclass(frozen=True, slots=True)
class Text:
    """A phrase in both languages, as the value of a placeholder."""
    en: str
    fr: str

    def __str__(self) -> str:
        return self.en


NO_TEXT = Text("", "")


@dataclass(frozen=True)
class Code:
    """One entry of the catalogue."""
    code: str
    severity: str
    scope: str
    doc: str                                    # what it means, for docs/accepted-inputs.md
    templates: MappingProxyType                 # variant ('' = the usual one) -> (en, fr)
    extra: tuple[str, ...] = ()                 # data fields carried but not printed

    @property
    def fields(self) -> tuple[str, ...]:
        """Every data field a finding of this code may carry."""
        names = list(self.extra)
        for en, fr in self.templates.values():
            for name in _placeholders(en) + _placeholders(fr):
                if name not in names:
                    names.append(name)
        return tuple(names)


def _placeholders(template: str) -> list[str]:
    return [f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f]


CATALOGUE: dict[str, Code] = {}


def _entry(code: str, severity: str, scope: str, doc: str, en: str = "", fr: str = "",
           extra: tuple[str, ...] = (), **variants: tuple[str, str]) -> None:
    if code in CATALOGUE:
        raise ValueError(f"finding code {code} is catalogued twice")
    if scope not in SCOPES[severity]:
        raise ValueError(f"{code}: an {severity} cannot have the scope {scope}")
    templates = ({"": (en, fr)} if en else {}) | {k.replace("_", "-"): v for k, v in variants.items()}
    if not templates:
        raise ValueError(f"{code} has no message")
    CATALOGUE[code] = Code(code, severity, scope, doc, MappingProxyType(templates), extra)


def entry(code: str) -> Code:
    try:
        return CATALOGUE[code]
    except KeyError:
        raise KeyError(f"unknown finding code {code!r}: add it to perfsettle.core.diagnostics") from None


# --------------------------------------------------------------------------- making findings

@dataclass(frozen=True, slots=True)
class Problem:
    """A finding whose place is not known yet (a cell converter's verdict). Picklable."""
    code: str
    variant: str = ""
    data: tuple = ()

    @property
    def severity(self) -> str:
        return CATALOGUE[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def at(self, source: Source, contract_id: str | None = None) -> Diagnostic:
        c = CATALOGUE[self.code]
        if c.scope == FILE and contract_id is not None:
            raise ValueError(f"{self.code} rejects a workbook: it belongs to no contract")
        en, fr = c.templates[self.variant]
        data = dict(self.data)
        return Diagnostic(self.code, c.severity, _render(en, data, "en"), source, contract_id,
                          _render(fr, data, "fr"), c.scope, self.data)


def problem(code: str, variant: str = "", **data) -> Problem:
    """A pending finding of ``code``: refuses an unknown code, variant or field."""
    c = entry(code)
    if variant not in c.templates:
        raise KeyError(f"{code} has no message {variant!r} (has {', '.join(map(repr, c.templates))})")
    en, fr = c.templates[variant]
    missing = set(_placeholders(en) + _placeholders(fr)) - set(data)
    if missing:
        raise TypeError(f"{code} {variant!r} needs {', '.join(sorted(missing))}")
    unknown = set(data) - set(c.fields)
    if unknown:
        raise TypeError(f"{code} carries no field {', '.join(sorted(unknown))}")
    return Problem(code, variant, tuple(data.items()))


def make(code: str, source: Source, contract_id: str | None = None, variant: str = "", **data) -> Diagnostic:
    """A finding of ``code`` at ``source``, its messages rendered from the catalogue."""
    return problem(code, variant, **data).at(source, contract_id)


# --------------------------------------------------------------------------- rendering

def count(x: int | float, lang: str = "en") -> str:
    """A count grouped by thousands: 1,234 (en), 1 234 with a narrow no-break space (fr)."""
    text = f"{round(x) if isinstance(x, float) else x:,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def size(x: int, lang: str = "en") -> str:
    """Bytes in binary units: 3.5 MiB (en), 3,5 Mio (fr)."""
    units = (("GiB", "Gio", 1 << 30), ("MiB", "Mio", 1 << 20), ("KiB", "Kio", 1 << 10))
    for en, fr, div in units:
        if x >= div:
            text = f"{x / div:.1f} {en if lang == 'en' else fr}".replace(".0 ", " ")
            return text if lang == "en" else text.replace(".", ",")
    return f"{x} bytes" if lang == "en" else f"{x} octets"


class _Formatter(string.Formatter):
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def format_field(self, value, spec: str) -> str:
        if isinstance(value, Text):
            value = value.en if self.lang == "en" else value.fr
        if spec == "num":
            return f"{Decimal(value):f}" if self.lang == "en" else fr_number(value)
        if spec == "n":
            return count(value, self.lang)
        if spec == "size":
            return size(value, self.lang)
        return format(value, spec)


_FORMATTERS = {"en": _Formatter("en"), "fr": _Formatter("fr")}


def _render(template: str, data: dict, lang: str) -> str:
    from decimal import localcontext
    with localcontext(CONTEXT):
        return _FORMATTERS[lang].vformat(template, (), data)


# --------------------------------------------------------------------------- the documentation

def markdown() -> str:
    """The table of every finding, as docs/accepted-inputs.md shows it."""
    scope = {FILE: "rejects the workbook", CONTRACT: "excludes the contract", CELL: "read all the same",
             SHEET: "read all the same"}
    lines = ["| code | severity | effect | meaning | data |", "|---|---|---|---|---|"]
    for c in sorted(CATALOGUE.values(), key=lambda c: c.code):
        fields = ", ".join(f"`{f}`" for f in c.fields)
        lines.append(f"| `{c.code}` | {c.severity} | {scope[c.scope]} | {c.doc} | {fields} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the catalogue
# Workbook structure (validation, layer 1)

_entry("file-no-sheet", ERROR, FILE, "none of the input sheets (Contracts, KPIs, Readings, Invoiced or their French names)",
       "no input sheet found: expected Contracts, KPIs, Readings or Invoiced (or Contrats, Indicateurs, Mesures, Deja_facture)",
       "aucune feuille reconnue : attendu Contrats, Indicateurs, Mesures ou Deja_facture (ou Contracts, KPIs, Readings, Invoiced)")
_entry("sheet-duplicate", ERROR, FILE, "two sheets hold the same input sheet (e.g. `Readings` and `Mesures`)",
       "two sheets hold {sheet}: '{first}' and '{second}'; keep one",
       "deux feuilles contiennent {sheet} : « {first} » et « {second} » ; n'en gardez qu'une")
_entry("sheet-hidden", WARNING, SHEET, "a hidden or very hidden input sheet",
       "sheet '{sheet}' is hidden; its rows are read all the same",
       "la feuille « {sheet} » est masquée ; ses lignes sont lues quand même")
_entry("column-duplicate", ERROR, FILE, "the same column twice in a header row",
       "column {column} appears twice (columns {first} and {second})",
       "la colonne {column} figure deux fois (colonnes {first} et {second})")
_entry("column-missing", ERROR, FILE, "a required column is missing from the header row",
       "required column {column} is missing from the header row {header_row}",
       "la colonne obligatoire {column} manque dans la ligne d'en-tête {header_row}")
_entry("file-internal-error", ERROR, FILE, "a bug met while reading the sheets: the workbook is set aside",
       "internal error while reading this workbook; it was set aside (details in the run log): please report it",
       "erreur interne à la lecture de ce classeur ; il a été mis de côté (détails dans le journal) : merci de la signaler")

# Cells (validation, layer 1: one cell at a time)

_entry("formula-no-value", ERROR, CONTRACT, "a formula saved without its value (as written by a script)",
       "formula without a saved result: open and save the file in Excel, or paste values",
       "formule sans résultat enregistré : ouvrez et enregistrez le fichier dans Excel, ou collez les valeurs")
_entry("error-cell", ERROR, CONTRACT, "an Excel error cell (`#N/A`, `#DIV/0!`)",
       "Excel error {error} in the cell", "erreur Excel {error} dans la cellule")
_entry("number-ambiguous", ERROR, CONTRACT, "a number typed as text that reads two ways (`12,000`: thousands or decimals?)",
       "'{text}' is ambiguous (thousands separator or decimals?): type the number in a number cell",
       "« {text} » est ambigu (séparateur de milliers ou décimales ?) : saisissez le nombre dans une cellule numérique")
_entry("not-a-number", ERROR, CONTRACT, "text, a date or a yes/no where a number is expected",
       "'{text}' is not a number", "« {text} » n'est pas un nombre",
       boolean=("{text} is not a number", "{text} n'est pas un nombre"),
       infinite=("not a finite number", "nombre non fini"),
       date=("a date or time ({text}) where a number is expected",
             "une date ou une heure ({text}) là où un nombre est attendu"))
_entry("number-as-text", WARNING, CELL, "a number typed as text the French or English way (`12 000,00`, `0,8`, `30 %`)",
       "number stored as text '{text}', read as {value:num}",
       "nombre saisi comme texte « {text} », lu comme {value:num}")
_entry("absurd-value", ERROR, CONTRACT, "a magnitude no amount or reading has (1e28, 1e300)",
       "{value:g} is too large to be an amount or a reading (limit {limit:f})",
       "{value:g} est trop grand pour un montant ou un relevé (limite {limit:f})")
_entry("percent-scale", ERROR, CONTRACT,
       "a fraction column (variable share, weight, rates) holding a percentage on a 0–100 scale (`35` for 35 %)",
       "{value:f} looks like a percentage on a 0–100 scale: write {fraction:f} or {value:f} %",
       "{value:num} ressemble à un pourcentage sur 0–100 : écrivez {fraction:num} ou {value:num} %")
_entry("not-an-integer", ERROR, CONTRACT, "a decimal where a whole number is expected",
       "{value:f} is not a whole number", "{value:num} n'est pas un nombre entier")
_entry("not-a-month", ERROR, CONTRACT, "a month that is neither a date nor `YYYY-MM`/`MM/YYYY` text",
       "'{text}' is not a month", "« {text} » n'est pas un mois",
       text=("'{text}' is not a month: use a date or YYYY-MM (or MM/YYYY)",
             "« {text} » n'est pas un mois : saisissez une date ou AAAA-MM (ou MM/AAAA)"),
       number=("the number {text} is not a month: format the cell as a date or type YYYY-MM",
               "le nombre {text} n'est pas un mois : formatez la cellule en date ou saisissez AAAA-MM"))
_entry("control-character", ERROR, CONTRACT, "control characters in a text (`_x0007_`)",
       "the text holds control characters", "le texte contient des caractères de contrôle")
_entry("text-too-long", ERROR, CONTRACT, "a text cell of more than 1,000 characters",
       "the text is {length} characters long (at most 1000)", "le texte fait {length} caractères (1000 au plus)")
_entry("bad-id", ERROR, CONTRACT, "an identifier that is not 1–64 letters, digits, `.`, `_`, `-` (`../../etc/passwd`)",
       "'{text}' is not a valid identifier (1–64 letters, digits, '.', '_' or '-', starting with a letter or digit)",
       "« {text} » n'est pas un identifiant valide (1 à 64 lettres, chiffres, '.', '_' ou '-', "
       "commençant par une lettre ou un chiffre)")
_entry("bad-value", ERROR, CONTRACT, "a value outside a column's list (company size, category, status, yes/no…)",
       "'{text}' is not one of: {allowed}", "« {text} » ne fait pas partie de : {allowed}",
       boolean=("'{text}' is not yes/no (oui/non, true/false, 1/0)",
                "« {text} » n'est pas oui/non (yes/no, vrai/faux, 1/0)"))
_entry("bad-currency", ERROR, CONTRACT, "a currency that is not an ISO 4217 code (`EURO`)",
       "'{text}' is not an ISO 4217 currency code (EUR, USD, JPY…)",
       "« {text} » n'est pas un code devise ISO 4217 (EUR, USD, JPY…)")
_entry("bad-email", ERROR, CONTRACT, "a contact e-mail that is not a list of addresses, or holds a line break",
       "not an e-mail address: {text}", "adresse e-mail invalide : {text}",
       line_break=("an e-mail address must not contain a line break",
                   "une adresse e-mail ne doit pas contenir de saut de ligne"))
_entry("money-digits", ERROR, CONTRACT, "an amount with more decimals than its currency's minor unit (EUR 2, JPY 0)",
       "{amount:f} has more than {digits} decimal(s), the minor unit of {currency}",
       "{amount:num} a plus de {digits} décimale(s), l'unité mineure de {currency}")

# Values and rows (validation, layer 2)

_entry("required", ERROR, CONTRACT, "a required value is blank",
       "{column} is required", "{column} est obligatoire",
       when_set=("{column} is required when {other} is set", "{column} est obligatoire quand {other} est renseigné"),
       baseline=("baseline is required for a {mode} target", "la référence est obligatoire pour un objectif {mode}"),
       value=("value is required unless the status is void", "la valeur est obligatoire sauf si le statut est annule"))
_entry("duplicate", ERROR, CONTRACT, "two rows of one sheet with the same key",
       "duplicate row for ({key}): already in row {first}", "ligne en double pour ({key}) : déjà en ligne {first}")
_entry("duration-out-of-range", ERROR, CONTRACT, "duration_months outside 1–120",
       "duration must be a whole number from 1 to 120 (found {found})",
       "la durée doit être un nombre entier de 1 à 120 (trouvé {found})")
_entry("fee-out-of-range", ERROR, CONTRACT, "a monthly fee of 0 or less",
       "the monthly fee must be greater than 0 (found {found})",
       "les honoraires mensuels doivent être supérieurs à 0 (trouvé {found})")
_entry("share-out-of-range", ERROR, CONTRACT, "a variable share of 0 or less, or above 1",
       "the variable share must be a fraction above 0 and at most 1 (40 % = 0.40) (found {found})",
       "la part variable doit être une fraction supérieure à 0 et au plus 1 (40 % = 0,40) (trouvé {found})")
_entry("bonus-rate-out-of-range", ERROR, CONTRACT, "a bonus rate outside 0–1",
       "the bonus rate must be a fraction from 0 to 1 (found {found})",
       "le taux de bonus doit être une fraction de 0 à 1 (trouvé {found})")
_entry("malus-rate-out-of-range", ERROR, CONTRACT, "a malus rate outside 0–1",
       "the malus rate must be a fraction from 0 to 1 (found {found})",
       "le taux de malus doit être une fraction de 0 à 1 (trouvé {found})")
_entry("exit-month-out-of-range", ERROR, CONTRACT, "an exit month below 1 (or above 120)",
       "the exit month must be a contract month number from 1 (found {found})",
       "le mois de sortie doit être un numéro de mois du contrat à partir de 1 (trouvé {found})")
_entry("exit-month-after-term", ERROR, CONTRACT, "an exit month after the contract's last month",
       "exit month {exit_month} is after the last contract month {duration}",
       "le mois de sortie {exit_month} dépasse le dernier mois du contrat {duration}")
_entry("weight-out-of-range", ERROR, CONTRACT, "a KPI weight outside 0–1",
       "the weight must be a fraction from 0 to 1 (found {found})",
       "le poids doit être une fraction de 0 à 1 (trouvé {found})")
_entry("window-out-of-range", ERROR, CONTRACT, "a window of less than 1 month (or more than 120)",
       "the window must be a whole number of months from 1 (found {found})",
       "la fenêtre doit être un nombre entier de mois à partir de 1 (trouvé {found})")
_entry("due-month-out-of-range", ERROR, CONTRACT, "a due month below 1 (or above 120)",
       "the due month must be a contract month number from 1 (found {found})",
       "l'échéance doit être un numéro de mois du contrat à partir de 1 (trouvé {found})")
_entry("due-month-after-term", ERROR, CONTRACT, "a KPI's due month after the contract's last month",
       "due month {due_month} of {kpi_id} is after the last contract month {duration}",
       "l'échéance {due_month} de {kpi_id} dépasse le dernier mois du contrat {duration}")
_entry("baseline-out-of-range", ERROR, CONTRACT, "a relative target with a baseline of 0 or less",
       "a relative target needs a baseline above 0", "un objectif relatif exige une référence supérieure à 0")

# Contracts, KPIs and readings (validation, layer 3)

_entry("unknown-contract", ERROR, CONTRACT, "a row naming a contract defined neither in the workbook nor in the store",
       "contract {contract} is defined neither in this workbook nor in the store",
       "le contrat {contract} n'est défini ni dans ce classeur ni dans la base")
_entry("unknown-kpi", ERROR, CONTRACT, "a reading, bonus_kpi or exit_kpi naming no KPI of its contract",
       "contract {contract} has no KPI {kpi_id}", "le contrat {contract} n'a pas d'indicateur {kpi_id}",
       reference=("{column} {kpi_id} names no KPI of contract {contract}",
                  "{column} {kpi_id} ne désigne aucun indicateur du contrat {contract}"))
_entry("share-band", WARNING, CELL, "a variable share outside the usual band of the company size (SPEC §2)",
       "variable share {share} % is outside the usual {company_size} band ({low:.0f}–{high:.0f} %)",
       "part variable de {share} % hors de la fourchette usuelle {company_size} ({low:.0f}–{high:.0f} %)")
_entry("target-direction", ERROR, CONTRACT, "a relative/points target that is not better than the baseline",
       "a {direction}-is-better KPI needs a {sign} {mode} target (found {change:f})",
       "un indicateur {direction} exige un objectif {sign} (trouvé {change:num})")
_entry("floor-not-worse", ERROR, CONTRACT, "a floor level not strictly worse than the target level",
       "the floor level {floor:f} must be strictly worse than the target level {target:f}",
       "le niveau plancher {floor:num} doit être strictement moins bon que l'objectif {target:num}")
_entry("month-outside-term", WARNING, CELL, "a reading for a month outside the contract's term (stored all the same)",
       "{month} is outside the term of {contract} ({start} to {last}); stored all the same",
       "{month} est hors de la durée de {contract} ({start} à {last}) ; enregistré quand même")
_entry("reading-percent-scale", WARNING, CELL,
       "a reading of a fraction KPI on a 0–100 scale (`62` against a target of 0.8): read as written",
       "{value:f} looks like a percentage on a 0–100 scale where fractions are expected ({fraction:f})",
       "{value:num} ressemble à un pourcentage sur 0–100 alors qu'une fraction est attendue ({fraction:num})")
_entry("month-after-period", WARNING, CELL, "a reading after the close period: it counts from a later close",
       "{month} is after the close period {period}; it counts from a later close",
       "{month} est après la période clôturée {period} ; il comptera lors d'une clôture ultérieure")
_entry("kpi-count", ERROR, CONTRACT, "a contract with fewer than two KPIs of weight above 0",
       "contract {contract} needs at least two KPIs with a weight above 0 (has {paying})",
       "le contrat {contract} doit avoir au moins deux indicateurs de poids non nul (en a {paying})")
_entry("weights-sum", ERROR, CONTRACT, "a contract's KPI weights not summing to 1 (tolerance 1e-9)",
       "the weights of contract {contract} sum to {total:f}, not 1",
       "les poids du contrat {contract} font {total:num} au lieu de 1")
_entry("no-robustness", WARNING, CELL, "a contract without a robustness KPI of weight above 0",
       "contract {contract} has no robustness KPI with a weight: operational gains should be crossed with technical robustness",
       "le contrat {contract} n'a pas d'indicateur de robustesse pondéré : les gains opérationnels devraient être "
       "croisés avec la robustesse technique")
