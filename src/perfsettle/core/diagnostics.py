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
from dataclasses import dataclass
from decimal import Decimal, localcontext
from types import MappingProxyType

from perfsettle.core.model import ERROR, WARNING, Diagnostic, Source
from perfsettle.core.money import CONTEXT, fr as fr_number

FILE = "file"           # an error that rejects the whole workbook
CONTRACT = "contract"   # an error that excludes its contract
CELL = "cell"           # a warning at a cell: the value is read all the same
SHEET = "sheet"         # a warning about a sheet
INBOX = "inbox"         # a file left in the inbox for a later run, named with why
DOCUMENTS = "documents" # a warning about the documents a finalise issues: issued all the same
SCOPES = {ERROR: (FILE, CONTRACT), WARNING: (CELL, SHEET, INBOX, DOCUMENTS)}


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
    fields: tuple[str, ...]                     # every data field a finding of this code may carry
    needs: MappingProxyType                     # variant -> the fields its messages print


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
    needs = {v: frozenset(_placeholders(en) + _placeholders(fr)) for v, (en, fr) in templates.items()}
    fields = list(extra)
    for en, fr in templates.values():
        for name in _placeholders(en) + _placeholders(fr):
            if name not in fields:
                fields.append(name)
    CATALOGUE[code] = Code(code, severity, scope, doc, MappingProxyType(templates), tuple(fields),
                           MappingProxyType(needs))


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
    missing = c.needs[variant].difference(data)
    if missing:
        raise TypeError(f"{code} {variant!r} needs {', '.join(sorted(missing))}")
    unknown = [f for f in data if f not in c.fields]
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


def _field(value, spec: str, lang: str) -> str:
    if isinstance(value, Text):
        value = value.en if lang == "en" else value.fr
    if spec == "num":
        return f"{Decimal(value):f}" if lang == "en" else fr_number(value)
    if spec == "n":
        return count(value, lang)
    if spec == "size":
        return size(value, lang)
    if spec and isinstance(value, Decimal):
        with localcontext(CONTEXT):     # a precision (".0f") rounds in the context
            return format(value, spec)
    return format(value, spec)


_COMPILED: dict[str, tuple] = {}


def _render(template: str, data: dict, lang: str) -> str:
    parts = _COMPILED.get(template)
    if parts is None:
        parts = _COMPILED[template] = tuple((literal, name, spec or "")
                                            for literal, name, spec, _ in string.Formatter().parse(template))
    out = []
    for literal, name, spec in parts:
        out.append(literal)
        if name is not None:
            out.append(_field(data[name], spec, lang))
    return "".join(out)


# --------------------------------------------------------------------------- the documentation

def markdown() -> str:
    """The table of every finding, as docs/accepted-inputs.md shows it."""
    scope = {FILE: "rejects the workbook", CONTRACT: "excludes the contract", CELL: "read all the same",
             SHEET: "read all the same", INBOX: "left in the inbox for a later run",
             DOCUMENTS: "issued all the same"}
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
_entry("sheet-empty", WARNING, SHEET, "an input sheet with no cell filled in (not even its header row)",
       "sheet '{sheet}' is empty: nothing was read from it",
       "la feuille « {sheet} » est vide : rien n'y a été lu")
_entry("column-duplicate", ERROR, FILE, "the same column twice in a header row",
       "column {column} appears twice (columns {first} and {second})",
       "la colonne {column} figure deux fois (colonnes {first} et {second})")
_entry("sheet-no-header", ERROR, FILE, "no header row among the first 20 non-empty rows of an input sheet",
       "no header row: none of the first {search} non-empty rows names at least two columns of "
       "{sheet_name} (such as {columns})",
       "pas de ligne d'en-tête : aucune des {search} premières lignes non vides ne nomme au moins deux "
       "colonnes de {sheet_name} (comme {columns})")
_entry("column-missing", ERROR, FILE, "a required column is missing from the header row",
       "required column {column} is missing from the header row {header_row}",
       "la colonne obligatoire {column} manque dans la ligne d'en-tête {header_row}")
_entry("file-internal-error", ERROR, FILE, "a bug met while reading the sheets: the workbook is set aside",
       "internal error while reading this workbook; it was set aside (details in the run log): please report it",
       "erreur interne à la lecture de ce classeur ; il a été mis de côté (détails dans le journal) : merci de la signaler")

# The inbox: files left for a later run (named on stderr, in the summary, run.log and manifest)

_entry("file-too-recent", WARNING, INBOX, "a file modified less than `min_age` seconds ago (still being written?)",
       "left for a later run: modified {age:.0f} s ago, less than min_age ({min_age:g} s): still being written?",
       "laissé pour une prochaine clôture : modifié il y a {age:.0f} s, moins que min_age ({min_age:g} s) : "
       "encore en cours d'écriture ?")
_entry("file-incomplete", WARNING, INBOX, "a workbook that looks incomplete (no end of zip archive: still being "
       "copied?), waited for `incomplete_grace` seconds, then read",
       "left for a later run: the file looks incomplete: still being copied?",
       "laissé pour une prochaine clôture : le fichier semble incomplet : copie en cours ?")
_entry("file-changed", WARNING, INBOX, "a file that changed while it was being read",
       "left for a later run: it changed while it was being read",
       "laissé pour une prochaine clôture : il a changé pendant sa lecture")

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
       "{value:g} is too large for any value of a workbook: amount, reading, count or duration (limit {limit:f})",
       "{value:g} est trop grand pour toute valeur d'un classeur : montant, relevé, nombre ou durée "
       "(limite {limit:f})")
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
               "le nombre {text} n'est pas un mois : formatez la cellule en date ou saisissez AAAA-MM"),
       serial=("the number {text} is not a month, but it is the date serial of {month}: the cell lost its "
               "date format. Format the cell as a date (Format Cells > Date) or type {month}",
               "le nombre {number:num} n'est pas un mois, mais c'est le numéro de série de la date {month} : "
               "la cellule a perdu son format de date. Appliquez-lui un format de date (Format de cellule > "
               "Date) ou saisissez {month}"))
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
_entry("bad-email", WARNING, CELL, "a contact e-mail that is not a list of addresses, or holds a line break: the "
       "contract is settled, its statement written as a draft with no recipient (`X-Unsent: 1`), never e-mailed",
       "not an e-mail address: {text}; the statement will not be e-mailed (a draft is written)",
       "adresse e-mail invalide : {text} ; le relevé ne sera pas envoyé (un brouillon est écrit)",
       line_break=("an e-mail address must not contain a line break: the statement will not be e-mailed "
                   "(a draft is written)", "une adresse e-mail ne doit pas contenir de saut de ligne : le relevé "
                   "ne sera pas envoyé (un brouillon est écrit)"))
_entry("money-digits", ERROR, CONTRACT, "an amount with more decimals than its currency's minor unit (EUR 2, JPY 0)",
       "{amount:f} has more than {digits} decimal(s), the minor unit of {currency}",
       "{amount:num} a plus de {digits} décimale(s), l'unité mineure de {currency}")

# Values and rows (validation, layer 2)

_entry("required", ERROR, CONTRACT, "a required value is blank",
       "{column} is required", "{column} est obligatoire",
       when_set=("{column} is required when {other} is set", "{column} est obligatoire quand {other} est renseigné"),
       baseline=("baseline is required for a {mode} target", "la référence est obligatoire pour un objectif {mode}"),
       value=("value is required unless the status is void", "la valeur est obligatoire sauf si le statut est annule"))
_entry("row-without-contract", ERROR, FILE,
       "a row with values but a blank contract_id (a merged cell, a total or a note row): it belongs to no contract, "
       "so which contracts it would change is unknown",
       "this row has values but no contract_id: it belongs to no contract, so nothing of this workbook is taken; "
       "fill in its {column} (or delete the row) and drop the workbook again",
       "cette ligne a des valeurs mais pas de contract_id : elle n'appartient à aucun contrat, donc rien de ce "
       "classeur n'est pris ; renseignez son {column} (ou supprimez la ligne) et redéposez le classeur")
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
# Invoicing columns (SPEC §8)

_entry("not-a-date", ERROR, CONTRACT, "a date (invoice_date) that is neither a date cell nor `YYYY-MM-DD`/`DD/MM/YYYY` text",
       "'{text}' is not a date: use a date cell or YYYY-MM-DD",
       "« {text} » n'est pas une date : saisissez une date ou AAAA-MM-JJ")
_entry("vat-rate-out-of-range", ERROR, CONTRACT, "a VAT rate outside 0–1",
       "the VAT rate must be a fraction from 0 to 1 (20 % = 0.20) (found {found})",
       "le taux de TVA doit être une fraction de 0 à 1 (20 % = 0,20) (trouvé {found})")
_entry("payment-days-out-of-range", ERROR, CONTRACT, "a payment term outside 0–60 days",
       "the payment term must be a whole number of days from 0 to 60 (found {found})",
       "le délai de paiement doit être un nombre entier de jours de 0 à 60 (trouvé {found})")
_entry("vat-rate-category", ERROR, CONTRACT, "a VAT rate other than 0 under a VAT category other than S",
       "VAT category {category} takes a rate of 0 (found {rate:f}); only S has a rate",
       "la catégorie de TVA {category} a un taux de 0 (trouvé {rate:num}) ; seule S a un taux")
_entry("bad-country", ERROR, CONTRACT, "a client_country that is not an ISO 3166 alpha-2 code",
       "'{country}' is not an ISO 3166 alpha-2 country code (FR, BE, DE…)",
       "« {country} » n'est pas un code pays ISO 3166 alpha-2 (FR, BE, DE…)")
_entry("finalize-missing-party", ERROR, CONTRACT,
       "finalize: the contract (or the [seller] settings) lacks data an invoice requires; the contract is not finalised",
       "{contract}: not finalised: missing {missing} (required on an invoice)",
       "{contract} : non émis : il manque {missing} (obligatoire sur une facture)")
_entry("bad-party-identifier", WARNING, CELL,
       "a client_siren that is not nine digits, or a client_einvoicing_address outside the format of the "
       "French directory: the contract settles, finalize will not invoice it until it is corrected",
       "'{found}' is not a SIREN (nine digits): finalize will not invoice this contract until it is corrected",
       "« {found} » n'est pas un SIREN (neuf chiffres) : finalize n'émettra pas les factures de ce contrat "
       "tant qu'il n'est pas corrigé",
       address=("'{found}' is not an electronic address of the French directory (the SIREN {siren}, then "
                "letters, digits, + - _ . only, 125 at most): finalize will not invoice this contract until it "
                "is corrected",
                "« {found} » n'est pas une adresse électronique de l'annuaire (le SIREN {siren}, puis lettres, "
                "chiffres, + - _ . uniquement, 125 au plus) : finalize n'émettra pas les factures de ce contrat "
                "tant qu'elle n'est pas corrigée"))
_entry("finalize-no-eur-rate", WARNING, DOCUMENTS,
       "finalize: documents in another currency than EUR, without an exchange rate in [documents] eur_rates: "
       "they state no VAT in euros, which French rule BR-FR-CO-12 requires (the platforms reject them)",
       "{count} document(s) in {currency} state no VAT in euros (French rule BR-FR-CO-12, the platforms reject "
       "them): give the rate in perfsettle.toml, [documents] eur_rates = {{ {currency} = \"…\" }} (euros for "
       "1 {currency}), before finalising",
       "{count} document(s) en {currency} n'indiquent pas la TVA en euros (règle française BR-FR-CO-12, les "
       "plateformes les rejettent) : indiquez le taux dans perfsettle.toml, [documents] eur_rates = "
       "{{ {currency} = \"…\" }} (euros pour 1 {currency}), avant d'émettre")
_entry("finalize-bad-identifier", ERROR, CONTRACT,
       "finalize: a SIREN that is not nine digits, or an electronic address (scheme 0225 of the French "
       "directory) that does not start with its party's SIREN or holds other characters than letters, "
       "digits, + - _ . (125 at most); the contract is not finalised",
       "{contract}: not finalised: {column} '{found}' is not a SIREN (nine digits, French rule BR-FR-32)",
       "{contract} : non émis : {column} « {found} » n'est pas un SIREN (neuf chiffres, règle française "
       "BR-FR-32)",
       address=("{contract}: not finalised: {column} '{found}' is not an electronic address of the French "
                "directory: it starts with the SIREN {siren} and holds only letters, digits and + - _ . "
                "(125 at most; rules BR-FR-21, -23, -25)",
                "{contract} : non émis : {column} « {found} » n'est pas une adresse électronique de l'annuaire : "
                "elle commence par le SIREN {siren} et ne contient que des lettres, des chiffres et + - _ . "
                "(125 au plus ; règles BR-FR-21, -23, -25)"))
_entry("credit-note-no-reference", ERROR, CONTRACT,
       "finalize: a credit note for a month whose opening invoice has no invoice_number, or no invoice_date "
       "(French rule BR-FR-CO-05: a credit note cites the number and the date of the invoices it corrects); "
       "not issued",
       "{contract}: the credit note for {month} cannot cite the invoice it corrects: give the invoice_number "
       "of {month} in the Invoiced sheet; not issued",
       "{contract} : l'avoir pour {month} ne peut pas citer la facture qu'il corrige : indiquez le "
       "numero_facture de {month} dans la feuille Deja_facture ; non émis",
       no_date=("{contract}: the credit note for {month} cannot cite the invoice it corrects ({number}) without "
                "its date (French rule BR-FR-CO-05): give the invoice_date of {month} in the Invoiced sheet; "
                "not issued",
                "{contract} : l'avoir pour {month} ne peut pas citer la facture qu'il corrige ({number}) sans sa "
                "date (règle française BR-FR-CO-05) : indiquez la date_facture de {month} dans la feuille "
                "Deja_facture ; non émis"))

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

# Files (preflight and the isolated read): every one rejects the workbook before it is parsed

_UNSAFE = ("the workbook could not be read safely: ", "le classeur n'a pas pu être lu sans risque : ")


def _unsafe(en: str, fr: str) -> tuple[str, str]:
    """A finding of the isolated read: the reader itself failed on the file."""
    return _UNSAFE[0] + en, _UNSAFE[1] + fr


_DAMAGED = ("the file is damaged or incomplete: it starts like a workbook (a zip archive) but {why}; "
            "open it in Excel and save it again, or copy it again from its source",
            "le fichier est endommagé ou incomplet : il commence comme un classeur (une archive zip) "
            "mais {why} ; ouvrez-le dans Excel et enregistrez-le à nouveau, ou recopiez-le depuis sa source")


def _damaged(why_en: str, why_fr: str) -> tuple[str, str]:
    return _DAMAGED[0].replace("{why}", why_en), _DAMAGED[1].replace("{why}", why_fr)


_REDO = ("; clear the rows and columns outside the data (select them, Delete) and save again",
         "; effacez les lignes et colonnes hors des données (sélectionnez-les, Supprimer) et enregistrez à nouveau")

_entry("internal-error", ERROR, FILE, "a bug met while checking or reading the file: it is set aside (see the run log)",
       "internal error while checking the file ({kind}: {error}); the file was set aside, see the run log",
       "erreur interne pendant la vérification du fichier ({kind} : {error}) ; le fichier a été mis de côté, "
       "voir le journal d'exécution",
       reading=("internal error while reading the file ({kind}: {error}); the file was set aside, see the run log",
                "erreur interne pendant la lecture du fichier ({kind} : {error}) ; le fichier a été mis de côté, "
                "voir le journal d'exécution"))
_entry("file-unreadable", ERROR, FILE,
       "a file that cannot be opened, or on which the reader crashed, ran out of memory or of time",
       open=("the file cannot be opened: {error}", "le fichier ne peut pas être ouvert : {error}"),
       not_regular=("this is not a regular file", "ce n'est pas un fichier ordinaire"),
       read=("the file cannot be read: {error}", "le fichier ne peut pas être lu : {error}"),
       reader_memory=_unsafe("it needs more memory than is available", "il demande plus de mémoire que disponible"),
       reader_failed=_unsafe("the reader failed ({kind}: {error})", "le lecteur a échoué ({kind} : {error})"),
       reader_unusable=_unsafe("the reader's result was unusable ({kind})",
                               "le résultat du lecteur est inutilisable ({kind})"),
       reader_not_passed=_unsafe("the reader's result could not be passed back ({kind})",
                                 "le résultat du lecteur n'a pas pu être transmis ({kind})"),
       reader_timeout=_unsafe("reading took longer than the limit of {seconds:g} s (limits.time_limit_s) and was stopped",
                              "la lecture a dépassé la limite de {seconds:g} s (limits.time_limit_s) et a été arrêtée"),
       reader_out_of_memory=_unsafe(
           "the reader needed more than the memory limit of {limit:size} (limits.memory_limit_bytes) and was stopped",
           "le lecteur a eu besoin de plus que la limite de mémoire de {limit:size} (limits.memory_limit_bytes) "
           "et a été arrêté"),
       reader_out_of_memory_asked=_unsafe(
           "the reader needed more than the memory limit of {limit:size} (limits.memory_limit_bytes) "
           "(it asked for {asked:size} at once) and was stopped",
           "le lecteur a eu besoin de plus que la limite de mémoire de {limit:size} (limits.memory_limit_bytes) "
           "(il a demandé {asked:size} d'un coup) et a été arrêté"),
       reader_killed=_unsafe("the reader was killed (SIGKILL), most likely for using too much memory",
                             "le lecteur a été tué (SIGKILL), très probablement pour avoir utilisé trop de mémoire"),
       reader_cpu=_unsafe("the reader used more than the time limit of {seconds:g} s of processor time",
                          "le lecteur a dépassé la limite de {seconds:g} s de temps processeur"),
       reader_crashed=_unsafe("the reader crashed ({signal}{detail})", "le lecteur s'est arrêté brutalement ({signal}{detail})"),
       reader_no_result=_unsafe("the reader stopped without a result (exit code {exit_code}{detail})",
                                "le lecteur s'est arrêté sans résultat (code de sortie {exit_code}{detail})"))
_entry("file-empty", ERROR, FILE, "an empty file (0 bytes): save the workbook again",
       "the file is empty (0 bytes); save the workbook again and drop it again",
       "le fichier est vide (0 octet) ; enregistrez à nouveau le classeur puis redéposez-le")
_entry("file-too-large", ERROR, FILE, "a file above `max_file_bytes`: split it into smaller workbooks",
       "the file is {size:size} ({size:n} bytes), more than the limit of {limit:size} (limits.max_file_bytes); "
       "split it into smaller workbooks",
       "le fichier fait {size:size} ({size:n} octets), plus que la limite de {limit:size} (limits.max_file_bytes) ; "
       "répartissez-le en plusieurs classeurs")
_entry("file-unsupported-type", ERROR, FILE, "an extension other than .xlsx, .xlsm, .xls, .ods (`perfsettle check`)",
       "files of type '{suffix}' are not read; save the workbook as .xlsx (also read: .xlsm, .xls, .ods)",
       "les fichiers de type « {suffix} » ne sont pas lus ; enregistrez le classeur au format .xlsx "
       "(sont aussi lus : .xlsm, .xls, .ods)")
_entry("file-not-workbook", ERROR, FILE,
       "text, CSV, PDF, HTML, a Word document or a zip of CSV files named like a workbook: says what it is",
       "the file is not an Excel workbook, despite its {suffix} name: it looks like {kind}; open it in Excel and "
       "save it as an Excel workbook (.xlsx)",
       "le fichier n'est pas un classeur Excel, malgré son nom en {suffix} : il ressemble à {kind} ; ouvrez-le "
       "dans Excel et enregistrez-le comme classeur Excel (.xlsx)",
       office=("the file is not an Excel workbook: it is an Office document of another kind {kind}named {suffix}",
               "le fichier n'est pas un classeur Excel : c'est un document Office d'un autre type {kind}nommé {suffix}"),
       zip=("the file is not an Excel workbook: it is {kind} without the workbook part (xl/workbook.xml); save the "
            "data as an Excel workbook (.xlsx)",
            "le fichier n'est pas un classeur Excel : c'est {kind} sans la partie classeur (xl/workbook.xml) ; "
            "enregistrez les données comme classeur Excel (.xlsx)"),
       not_ods=("the file is not an OpenDocument spreadsheet: it is {kind}; save the data as an Excel workbook (.xlsx)",
                "le fichier n'est pas un classeur OpenDocument : c'est {kind} ; enregistrez les données comme "
                "classeur Excel (.xlsx)"),
       zip_xls=("the file is not an Excel workbook: it is {kind} named .xls",
                "le fichier n'est pas un classeur Excel : c'est {kind} nommé .xls"))
_entry("file-encrypted", ERROR, FILE, "a password-protected workbook (or zip archive)",
       "the workbook is password-protected; save it without a password (File > Info > Protect Workbook > Encrypt "
       "with Password: clear the password) and drop it again",
       "le classeur est protégé par un mot de passe ; enregistrez-le sans mot de passe (Fichier > Informations > "
       "Protéger le classeur > Chiffrer avec mot de passe : effacez le mot de passe) puis redéposez-le",
       or_damaged=("the workbook is password-protected (or is a damaged Office file); save it without a password "
                   "as .xlsx and drop it again",
                   "le classeur est protégé par un mot de passe (ou c'est un fichier Office endommagé) ; "
                   "enregistrez-le sans mot de passe au format .xlsx puis redéposez-le"),
       zip=("the archive is password-protected (zip encryption); save the workbook without a password and drop "
            "it again",
            "l'archive est protégée par un mot de passe (chiffrement zip) ; enregistrez le classeur sans mot de "
            "passe puis redéposez-le"),
       reader=_unsafe("it is password-protected; save it without a password and drop it again",
                      "il est protégé par un mot de passe ; enregistrez-le sans mot de passe puis redéposez-le"))
_entry("file-wrong-extension", ERROR, FILE, "a workbook of one kind named as another (`.xlsx` named `.xls`…): rename it",
       xls=("the file is a legacy Excel 97-2003 workbook (.xls) named {suffix}; rename it .xls, or open it in "
            "Excel and save it as .xlsx",
            "le fichier est un classeur Excel 97-2003 (.xls) nommé {suffix} ; renommez-le en .xls, ou ouvrez-le "
            "dans Excel et enregistrez-le en .xlsx"),
       ods=("the file is an OpenDocument spreadsheet (.ods) named {suffix}; rename it .ods, or save it as .xlsx",
            "le fichier est un classeur OpenDocument (.ods) nommé {suffix} ; renommez-le en .ods, ou "
            "enregistrez-le au format .xlsx"),
       xlsb=("the file is an Excel binary workbook (.xlsb) named {suffix}; open it in Excel and save it as .xlsx",
             "le fichier est un classeur binaire Excel (.xlsb) nommé {suffix} ; ouvrez-le dans Excel et "
             "enregistrez-le au format .xlsx"),
       xlsx=("the file is an Excel workbook (.xlsx) named {suffix}; rename it .xlsx",
             "le fichier est un classeur Excel (.xlsx) nommé {suffix} ; renommez-le en .xlsx"),
       ods_as_xls=("the file is an OpenDocument spreadsheet (.ods) named .xls; rename it .ods",
                   "le fichier est un classeur OpenDocument (.ods) nommé .xls ; renommez-le en .ods"))
_entry("file-damaged", ERROR, FILE,
       "a workbook cut short (interrupted copy) or otherwise damaged; a recent one is first left in the inbox",
       xls=("the file is damaged: it starts like an Excel 97-2003 workbook but cannot be opened; open it in Excel "
            "and save it again as .xlsx",
            "le fichier est endommagé : il commence comme un classeur Excel 97-2003 mais ne peut pas être "
            "ouvert ; ouvrez-le dans Excel et enregistrez-le à nouveau en .xlsx"),
       no_directory=_damaged("its end (the zip directory) is missing: the file was probably cut short while being "
                             "copied or saved",
                             "sa fin (le répertoire zip) manque : le fichier a probablement été tronqué pendant une "
                             "copie ou un enregistrement"),
       directory=_damaged("its zip directory cannot be read ({error})",
                          "son répertoire zip ne peut pas être lu ({error})"),
       past_end=_damaged("the part '{part}' runs past the end of the file",
                         "la partie « {part} » dépasse la fin du fichier"),
       no_header=_damaged("the part '{part}' has no valid header", "la partie « {part} » n'a pas d'en-tête valide"),
       inflate=_damaged("the part '{part}' cannot be decompressed ({error})",
                        "la partie « {part} » ne peut pas être décompressée ({error})"),
       reader_zip=_unsafe("its zip container is damaged ({error})", "son conteneur zip est endommagé ({error})"),
       reader_xml=_unsafe("its XML content is not valid ({error})", "son contenu XML n'est pas valide ({error})"))
_entry("zip-too-many-members", ERROR, FILE, "more than `max_members` parts in the zip archive",
       "the archive holds {count:n} parts, more than the limit of {limit:n} (limits.max_members); a workbook has "
       "a few dozen",
       "l'archive contient {count:n} parties, plus que la limite de {limit:n} (limits.max_members) ; un classeur "
       "en a quelques dizaines",
       listed=("the archive holds {count:n} parts, more than the limit of {limit:n} (limits.max_members)",
               "l'archive contient {count:n} parties, plus que la limite de {limit:n} (limits.max_members)"))
_entry("zip-duplicate-member", ERROR, FILE, "two parts with the same name: readers would disagree on which counts",
       "the archive holds two parts named '{part}': readers would disagree on which one counts; save the workbook "
       "again from Excel",
       "l'archive contient deux parties nommées « {part} » : les lecteurs ne liraient pas la même ; enregistrez à "
       "nouveau le classeur depuis Excel")
_entry("zip-unsupported", ERROR, FILE, "a part compressed with a method Excel never writes",
       "the part '{part}' uses a compression method ({method}) that Excel never writes; open the file in Excel and "
       "save it again",
       "la partie « {part} » utilise une méthode de compression ({method}) qu'Excel n'écrit jamais ; ouvrez le "
       "fichier dans Excel et enregistrez-le à nouveau")
_entry("zip-bomb", ERROR, FILE,
       "a zip bomb: too large once decompressed, a part compressed beyond `max_member_ratio`, overlapping parts, "
       "or a part inflating to more than it declares",
       "the workbook would expand to {total:size} once decompressed (the file is {size:size}), more than the limit "
       "of {limit:size} (limits.max_uncompressed_bytes); it was not opened",
       "le classeur occuperait {total:size} une fois décompressé (le fichier fait {size:size}), plus que la "
       "limite de {limit:size} (limits.max_uncompressed_bytes) ; il n'a pas été ouvert",
       ratio=("the part '{part}' expands {ratio:n} times ({compressed:size} to {expanded:size}), more than the "
              "limit of {limit:n} (limits.max_member_ratio): a zip bomb; it was not opened",
              "la partie « {part} » se décompresse {ratio:n} fois ({compressed:size} en {expanded:size}), plus "
              "que la limite de {limit:n} (limits.max_member_ratio) : une bombe zip ; il n'a pas été ouvert"),
       overlap=("the parts '{first}' and '{second}' overlap in the archive (a zip bomb technique); it was not opened",
                "les parties « {first} » et « {second} » se chevauchent dans l'archive (une technique de bombe "
                "zip) ; il n'a pas été ouvert"),
       inflate=("the part '{part}' decompresses to more than the {declared:n} bytes it declares (a zip bomb); it "
                "was not opened",
                "la partie « {part} » se décompresse en plus que les {declared:n} octets annoncés (une bombe zip) ; "
                "il n'a pas été ouvert"))
_entry("xml-dtd", ERROR, FILE,
       "a document type or entity declaration in any XML part (billion laughs, XXE): Excel never writes one",
       "the part '{part}' declares a document type or entities (<!DOCTYPE>/<!ENTITY>): Excel never writes this, "
       "and it is how entity-expansion (\"billion laughs\") and external-entity (XXE) attacks work; the file was "
       "not opened",
       "la partie « {part} » déclare un type de document ou des entités (<!DOCTYPE>/<!ENTITY>) : Excel n'écrit "
       "jamais cela, et c'est le procédé des attaques par expansion d'entités (« billion laughs ») et par entité "
       "externe (XXE) ; le fichier n'a pas été ouvert",
       long_prolog=("the part '{part}' starts with more than {limit:size} of XML declarations before its content; "
                    "the file was not opened",
                    "la partie « {part} » commence par plus de {limit:size} de déclarations XML avant son contenu ; "
                    "le fichier n'a pas été ouvert"))
_entry("xml-invalid-char", ERROR, FILE, "a raw control character in a part's XML (Excel cannot open such a file)",
       "sheet '{sheet}' contains a control character that XML does not allow (byte 0x{byte:02X}); Excel cannot "
       "open such a file: the file was produced by a faulty tool",
       "la feuille « {sheet} » contient un caractère de contrôle interdit en XML (octet 0x{byte:02X}) ; Excel ne "
       "peut pas ouvrir un tel fichier : il a été produit par un outil défaillant",
       near=("sheet '{sheet}' contains a control character that XML does not allow (byte 0x{byte:02X}, in or "
             "after cell {cell}); Excel cannot open such a file: the file was produced by a faulty tool",
             "la feuille « {sheet} » contient un caractère de contrôle interdit en XML (octet 0x{byte:02X}, dans "
             "ou après la cellule {cell}) ; Excel ne peut pas ouvrir un tel fichier : il a été produit par un "
             "outil défaillant"),
       shared_strings=("the shared-strings table contains a control character that XML does not allow (byte "
                       "0x{byte:02X}, in text #{index:n}); Excel cannot open such a file: the file was produced by "
                       "a faulty tool",
                       "la table des textes partagés contient un caractère de contrôle interdit en XML (octet "
                       "0x{byte:02X}, dans le texte n° {index:n}) ; Excel ne peut pas ouvrir un tel fichier : il a "
                       "été produit par un outil défaillant"))
_entry("string-too-long", ERROR, FILE, "a text longer than `max_string_chars` (Excel itself allows 32,767)",
       "sheet '{sheet}' holds a text of more than {limit:n} characters (limits.max_string_chars; Excel itself "
       "allows {excel:n})",
       "la feuille « {sheet} » contient un texte de plus de {limit:n} caractères (limits.max_string_chars ; Excel "
       "lui-même en permet {excel:n})",
       near=("sheet '{sheet}' holds a text of more than {limit:n} characters, in or after cell {cell} "
             "(limits.max_string_chars; Excel itself allows {excel:n})",
             "la feuille « {sheet} » contient un texte de plus de {limit:n} caractères, dans ou après la cellule "
             "{cell} (limits.max_string_chars ; Excel lui-même en permet {excel:n})"),
       shared_strings=("the shared-strings table holds a text of more than {limit:n} characters (text #{index:n}; "
                       "limits.max_string_chars; Excel itself allows {excel:n})",
                       "la table des textes partagés contient un texte de plus de {limit:n} caractères (texte n° "
                       "{index:n} ; limits.max_string_chars ; Excel lui-même en permet {excel:n})"))
_entry("cell-out-of-range", ERROR, FILE,
       "a cell beyond column `max_columns` (`XFD1048576`, a stray cell far to the right of the data)",
       "sheet '{sheet}' has a cell at {cell}, beyond column {last_column} (limits.max_columns = {limit:n}): a stray "
       "cell far to the right of the data; clear the columns after the data (select them, Delete) and save again",
       "la feuille « {sheet} » a une cellule en {cell}, au-delà de la colonne {last_column} (limits.max_columns = "
       "{limit:n}) : une cellule égarée loin à droite des données ; effacez les colonnes après les données "
       "(sélectionnez-les, Supprimer) et enregistrez à nouveau",
       more=("sheet '{sheet}' has a cell at {cell} (and {others:n} more), beyond column {last_column} "
             "(limits.max_columns = {limit:n}): a stray cell far to the right of the data; clear the columns after "
             "the data (select them, Delete) and save again",
             "la feuille « {sheet} » a une cellule en {cell} (et {others:n} autres), au-delà de la colonne "
             "{last_column} (limits.max_columns = {limit:n}) : une cellule égarée loin à droite des données ; "
             "effacez les colonnes après les données (sélectionnez-les, Supprimer) et enregistrez à nouveau"))
_entry("too-many-rows", ERROR, FILE, "rows (used or declared) beyond `max_rows`",
       "sheet '{sheet}' has rows up to row {last_row:n}, more than the limit of {limit:n} rows (limits.max_rows); "
       "clear the rows after the data, or split the data into several workbooks",
       "la feuille « {sheet} » a des lignes jusqu'à la ligne {last_row:n}, plus que la limite de {limit:n} lignes "
       "(limits.max_rows) ; effacez les lignes après les données, ou répartissez les données en plusieurs classeurs",
       at_cell=("sheet '{sheet}' has rows up to row {last_row:n} (a cell at {cell}), more than the limit of "
                "{limit:n} rows (limits.max_rows); clear the rows after the data, or split the data into several "
                "workbooks",
                "la feuille « {sheet} » a des lignes jusqu'à la ligne {last_row:n} (une cellule en {cell}), plus "
                "que la limite de {limit:n} lignes (limits.max_rows) ; effacez les lignes après les données, ou "
                "répartissez les données en plusieurs classeurs"),
       declared=("sheet '{sheet}' declares a used range of {range} ({rows:n} rows), more than the limit of "
                 "{limit:n} rows (limits.max_rows)" + _REDO[0],
                 "la feuille « {sheet} » déclare une plage utilisée {range} ({rows:n} lignes), plus que la limite "
                 "de {limit:n} lignes (limits.max_rows)" + _REDO[1]))
_entry("too-many-columns", ERROR, FILE, "a declared used range beyond column `max_columns` (200 = `GR`)",
       "sheet '{sheet}' declares a used range of {range}, beyond column {last_column} (limits.max_columns = "
       "{limit:n})" + _REDO[0],
       "la feuille « {sheet} » déclare une plage utilisée {range}, au-delà de la colonne {last_column} "
       "(limits.max_columns = {limit:n})" + _REDO[1])
_entry("too-many-cells", ERROR, FILE, "a sheet whose grid (rows × columns) exceeds `max_cells`",
       "sheet '{sheet}' spans {range}, a grid of {cells:n} cells, more than the limit of {limit:n} "
       "(limits.max_cells); clear the cells outside the data and save again, or split the data",
       "la feuille « {sheet} » s'étend sur {range}, une grille de {cells:n} cellules, plus que la limite de "
       "{limit:n} (limits.max_cells) ; effacez les cellules hors des données et enregistrez à nouveau, ou "
       "répartissez les données",
       declared=("sheet '{sheet}' declares a used range of {range} ({cells:n} cells), more than the limit of "
                 "{limit:n} (limits.max_cells)" + _REDO[0],
                 "la feuille « {sheet} » déclare une plage utilisée {range} ({cells:n} cellules), plus que la "
                 "limite de {limit:n} (limits.max_cells)" + _REDO[1]))
_entry("shared-strings-too-many", ERROR, FILE,
       "a shared-strings table declaring or holding more than `max_shared_strings` entries (or `max_cells` cells)",
       "the shared-strings table holds {count:n} entries, more than the limit of {limit:n} "
       "(limits.max_shared_strings); the file was not opened",
       "la table des textes partagés contient {count:n} entrées, plus que la limite de {limit:n} "
       "(limits.max_shared_strings) ; le fichier n'a pas été ouvert",
       declared=("the shared-strings table declares {count:n} entries, more than the limit of {limit:n} "
                 "(limits.max_shared_strings); the file was not opened",
                 "la table des textes partagés annonce {count:n} entrées, plus que la limite de {limit:n} "
                 "(limits.max_shared_strings) ; le fichier n'a pas été ouvert"),
       cells=("the shared-strings table declares {count:n} text cells, more than the limit of {limit:n} cells "
              "(limits.max_cells); the file was not opened",
              "la table des textes partagés annonce {count:n} cellules de texte, plus que la limite de {limit:n} "
              "cellules (limits.max_cells) ; le fichier n'a pas été ouvert"))


# --------------------------------------------------------------------------- clause options, Amendments, Events
def _range(code: str, doc: str, column: str, column_fr: str, what: str, what_fr: str) -> None:
    _entry(code, ERROR, CONTRACT, doc, f"{column} must be {what} (found {{found}})",
           f"{column_fr} doit être {what_fr} (trouvé {{found}})")


_range("bonus-every-out-of-range", "a bonus_every below 1 (or above 120)", "bonus_every", "periodicite_bonus",
       "a whole number of months from 1", "un nombre entier de mois à partir de 1")
_range("bonus-band-out-of-range", "a negative bonus_band", "bonus_band", "tolerance_bonus", "0 or more",
       "positive ou nulle")
_range("exit-window-out-of-range", "an exit_window_months below 1 (or above 120)", "exit_window_months",
       "delai_sortie", "a whole number of months from 1", "un nombre entier de mois à partir de 1")
_range("hold-limit-out-of-range", "a hold_limit_months below 1 (or above 120)", "hold_limit_months",
       "delai_blocage", "a whole number of months from 1", "un nombre entier de mois à partir de 1")
_range("coverage-out-of-range", "a min_coverage below 1 (or above 120)", "min_coverage", "couverture_min",
       "a whole number of months from 1", "un nombre entier de mois à partir de 1")
_range("earnback-out-of-range", "an earnback_months below 1 (or above 120)", "earnback_months", "rattrapage_mois",
       "a whole number of months from 1", "un nombre entier de mois à partir de 1")
_range("chronic-out-of-range", "a chronic_misses or chronic_months below 1 (or above 120)",
       "chronic_misses / chronic_months", "echecs_repetes / fenetre_echecs", "a whole number from 1",
       "un nombre entier à partir de 1")
_entry("coverage-over-window", ERROR, CONTRACT, "a min_coverage larger than the KPI's window",
       "min_coverage {coverage} is more than the window ({window} months)",
       "couverture_min {coverage} dépasse la fenêtre ({window} mois)")
_entry("chronic-pair", ERROR, CONTRACT, "chronic_misses without chronic_months (or the reverse), or more misses than months",
       "chronic_misses and chronic_months go together: give both or neither",
       "echecs_repetes et fenetre_echecs vont ensemble : renseignez les deux ou aucun",
       more=("chronic_misses {misses} is more than chronic_months {months}",
             "echecs_repetes {misses} dépasse fenetre_echecs {months}"))
_entry("amendment-field", ERROR, CONTRACT,
       "an Amendments row naming a term that an amendment cannot change (the message lists those it can)",
       "'{field}' is not a term of {what} that an amendment can change; an amendment can change, with kpi_id "
       "blank: {contract_fields}; with a kpi_id: {kpi_fields}",
       "« {field} » n'est pas un terme {what} modifiable par avenant ; termes modifiables, indicateur vide : "
       "{contract_fields} ; avec un indicateur : {kpi_fields}")
_entry("amendment-outside-term", ERROR, CONTRACT, "an amendment effective before the start or after the term",
       "effective month {month} is outside the term of {contract} ({start} to {end})",
       "le mois d'effet {month} est hors de la durée de {contract} ({start} à {end})")
_entry("amendment-clears-required", ERROR, CONTRACT, "an amendment with a blank value for a term that must have one",
       "{column} cannot be cleared: give its new value",
       "{column} ne peut pas être effacé : indiquez sa nouvelle valeur")
_entry("amendment-value-out-of-range", ERROR, CONTRACT, "an amendment's value outside the rule of its column",
       "{field} must be {bounds} (found {value})", "{field} doit être {bounds} (trouvé {value})")
_entry("amended-terms-invalid", ERROR, CONTRACT,
       "the terms in force from an amendment's month break a rule of the contract (weights, KPI count, "
       "target direction, floor, coverage…); at the cells of the amendments effective that month",
       "from {month}, with the amendments in force: {rule}", "à partir de {month}, avec les avenants en vigueur : {rule}",
       extra=("rule_code",))
_entry("termination-before-start", ERROR, CONTRACT, "a terminated event whose last month served is before the start",
       "the last month served {month} is before the start of {contract} ({start})",
       "le dernier mois servi {month} est avant le début de {contract} ({start})")
_entry("terms-restated", WARNING, CELL,
       "a changed Contracts or KPIs term that enters the arithmetic of a contract with months already invoiced "
       "by a close (SPEC §4)",
       "{column} changed from {old} to {new}: this restates the months already invoiced ({months}); for a change "
       "from a later month, use the Amendments sheet",
       "{column} passe de {old} à {new} : cela recalcule les mois déjà facturés ({months}) ; pour un changement "
       "à partir d'un mois ultérieur, utilisez la feuille Avenants")


if __name__ == "__main__":     # python -m perfsettle.core.diagnostics: the table of docs/accepted-inputs.md
    sys.stdout.write(markdown())
