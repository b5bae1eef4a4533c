"""Cell conversion: one raw cell value -> a typed value, or the reason it cannot be one.

Each converter returns ``(value, problem)``: ``problem`` is None, or ``(severity, code,
message_en, message_fr)``. A number stored as text is accepted with a warning; anything that
does not read exactly as the column expects is an error (never read as blank or zero).
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from perfsettle.core import months, schema
from perfsettle.core.money import ISO_4217, MAX_MAGNITUDE, fr, decimal_from_cell, has_minor_precision, minor_digits
from perfsettle.core.addresses import parse_recipients
from perfsettle.core.model import ERROR, WARNING

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_GROUP = "[ \u00a0\u202f]"
_NUMBER_TEXT = re.compile(
    rf"^(?P<sign>[+-]?)(?P<int>\d{{1,3}}(?:{_GROUP}\d{{3}})+|\d+)(?:[.,](?P<frac>\d+))?"
    rf"(?:{_GROUP}*(?P<pct>%))?$")
_AMBIGUOUS = re.compile(rf"^[+-]?[1-9]\d{{0,2}}[.,]\d{{3}}(?:{_GROUP}*%)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _err(code: str, en: str, fr: str):
    return (ERROR, code, en, fr)


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def parse_number_text(text: str):
    """A number typed as text (SPEC §2): ``12,5``, ``1 234,5``, ``-0,25``, ``40 %``."""
    s = text.strip()
    if _AMBIGUOUS.match(s):
        return None, _err("number-ambiguous",
                          f"'{s}' is ambiguous (thousands separator or decimals?): type the number in a number cell",
                          f"« {s} » est ambigu (séparateur de milliers ou décimales ?) : saisissez le nombre dans une cellule numérique")
    m = _NUMBER_TEXT.match(s)
    if not m:
        return None, _err("not-a-number", f"'{_show(s)}' is not a number", f"« {_show(s)} » n'est pas un nombre")
    digits = re.sub(_GROUP, "", m.group("int"))
    d = Decimal(m.group("sign") + digits + ("." + m.group("frac") if m.group("frac") else ""))
    if m.group("pct"):
        d = d / 100
    return d, (WARNING, "number-as-text", f"number stored as text '{_show(s)}', read as {d:f}",
               f"nombre saisi comme texte « {_show(s)} », lu comme {fr(d)}")


def to_number(value: object):
    return _bounded(_to_number(value))


def _to_number(value: object):
    if isinstance(value, bool):
        return None, _err("not-a-number", f"{value} is not a number", f"{value} n'est pas un nombre")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            return None, _err("not-a-number", "not a finite number", "nombre non fini")
        return decimal_from_cell(value), None
    if isinstance(value, Decimal):
        return value, None
    if isinstance(value, str):
        return parse_number_text(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        return None, _err("not-a-number", f"a date or time ({_show(value)}) where a number is expected",
                          f"une date ou une heure ({_show(value)}) là où un nombre est attendu")
    return None, _err("not-a-number", f"'{_show(value)}' is not a number", f"« {_show(value)} » n'est pas un nombre")


def _bounded(result):
    d, problem = result
    if d is not None and abs(d) >= MAX_MAGNITUDE:
        return None, _err("absurd-value", f"{d:g} is too large to be an amount or a reading (limit {MAX_MAGNITUDE:f})",
                          f"{d:g} est trop grand pour un montant ou un relevé (limite {MAX_MAGNITUDE:f})")
    return d, problem


def to_fraction(value: object):
    d, problem = to_number(value)
    if d is not None and Decimal(1) < abs(d) <= 100 and not (isinstance(value, str) and "%" in value):
        return d, _err("percent-scale",
                       f"{d:f} looks like a percentage on a 0–100 scale: write {d / 100:f} or {d:f} %",
                       f"{fr(d)} ressemble à un pourcentage sur 0–100 : écrivez {fr(d / 100)} ou {fr(d)} %")
    return d, problem


def to_int(value: object):
    d, problem = to_number(value)
    if d is None:
        return None, problem
    if d != d.to_integral_value():
        return None, _err("not-an-integer", f"{d:f} is not a whole number", f"{fr(d)} n'est pas un nombre entier")
    return int(d), problem


def to_month(value: object):
    if isinstance(value, dt.datetime):
        return months.from_date(value.date()), None
    if isinstance(value, dt.date):
        return months.from_date(value), None
    if isinstance(value, str):
        m = months.parse(value)
        if m:
            return m, None
        return None, _err("not-a-month", f"'{_show(value)}' is not a month: use a date or YYYY-MM (or MM/YYYY)",
                          f"« {_show(value)} » n'est pas un mois : saisissez une date ou AAAA-MM (ou MM/AAAA)")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None, _err("not-a-month", f"the number {_show(value)} is not a month: format the cell as a date or type YYYY-MM",
                          f"le nombre {_show(value)} n'est pas un mois : formatez la cellule en date ou saisissez AAAA-MM")
    return None, _err("not-a-month", f"'{_show(value)}' is not a month", f"« {_show(value)} » n'est pas un mois")


def to_text(value: object):
    if isinstance(value, bool):
        return ("yes" if value else "no"), None
    if isinstance(value, float):
        d = decimal_from_cell(value)
        return f"{d:f}", None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(), None
    text = str(value).strip()
    if _CONTROL.search(text):
        return None, _err("control-character", "the text holds control characters",
                          "le texte contient des caractères de contrôle")
    if len(text) > 1000:
        return None, _err("text-too-long", f"the text is {len(text)} characters long (at most 1000)",
                          f"le texte fait {len(text)} caractères (1000 au plus)")
    return text, None


def to_id(value: object):
    text, problem = to_text(value)
    if text is None:
        return None, problem
    if not ID_RE.match(text):
        return None, _err("bad-id", f"'{_show(text)}' is not a valid identifier (1–64 letters, digits, '.', '_' or '-', "
                                    "starting with a letter or digit)",
                          f"« {_show(text)} » n'est pas un identifiant valide (1 à 64 lettres, chiffres, '.', '_' ou '-', "
                          "commençant par une lettre ou un chiffre)")
    return text, None


def to_enum(column: str):
    allowed = sorted(set(schema.ENUMS[column].values()))

    def convert(value: object):
        text = value if isinstance(value, str) else str(value)
        v = schema.enum_value(column, text)
        if v is None:
            return None, _err("bad-value", f"'{_show(text)}' is not one of: {', '.join(allowed)}",
                              f"« {_show(text)} » ne fait pas partie de : {', '.join(allowed)}")
        return v, None
    return convert


def to_currency(value: object):
    text = str(value).strip().upper()
    if text not in ISO_4217:
        return None, _err("bad-currency", f"'{_show(text)}' is not an ISO 4217 currency code (EUR, USD, JPY…)",
                          f"« {_show(text)} » n'est pas un code devise ISO 4217 (EUR, USD, JPY…)")
    return text, None


def to_bool(value: object):
    if isinstance(value, bool):
        return value, None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value), None
    v = schema.BOOLS.get(schema.key(value))
    if v is None:
        return None, _err("bad-value", f"'{_show(value)}' is not yes/no (oui/non, true/false, 1/0)",
                          f"« {_show(value)} » n'est pas oui/non (yes/no, vrai/faux, 1/0)")
    return v, None


def to_email(value: object):
    text = str(value)
    if "\r" in text or "\n" in text:
        return None, _err("bad-email", "an e-mail address must not contain a line break",
                          "une adresse e-mail ne doit pas contenir de saut de ligne")
    good, bad = parse_recipients(text)
    if bad:
        return None, _err("bad-email", f"not an e-mail address: {_show(', '.join(bad))}",
                          f"adresse e-mail invalide : {_show(', '.join(bad))}")
    return ", ".join(good), None


CONVERTERS = {
    "id": to_id, "text": to_text, "money": to_number, "number": to_number, "fraction": to_fraction,
    "int": to_int, "month": to_month, "bool": to_bool, "email": to_email, "currency": to_currency,
}


def converter(col: schema.Column):
    if col.kind == "enum":
        return to_enum(col.name)
    return CONVERTERS[col.kind]


def money_digits_problem(amount: Decimal, currency: str):
    if has_minor_precision(amount, currency):
        return None
    n = minor_digits(currency)
    return _err("money-digits", f"{amount:f} has more than {n} decimal(s), the minor unit of {currency}",
                f"{fr(amount)} a plus de {n} décimale(s), l'unité mineure de {currency}")
