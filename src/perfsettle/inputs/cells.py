"""Cell conversion: one raw cell value -> a typed value, or the reason it cannot be one.

Each converter returns ``(value, problem)``: ``problem`` is None, or a
``diagnostics.Problem`` (a finding of the catalogue, placed at its cell by validation). A
number stored as text is accepted with a warning; anything that
does not read exactly as the column expects is an error (never read as blank or zero).
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from perfsettle.core import months, schema
from perfsettle.core.diagnostics import problem
from perfsettle.core.money import ISO_4217, MAX_MAGNITUDE, decimal_from_cell, has_minor_precision, minor_digits
from perfsettle.core.addresses import parse_recipients

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_GROUP = "[ \u00a0\u202f]"
_NUMBER_TEXT = re.compile(
    rf"^(?P<sign>[+-]?)(?P<int>\d{{1,3}}(?:{_GROUP}\d{{3}})+|\d+)(?:[.,](?P<frac>\d+))?"
    rf"(?:{_GROUP}*(?P<pct>%))?$")
_AMBIGUOUS = re.compile(rf"^[+-]?[1-9]\d{{0,2}}[.,]\d{{3}}(?:{_GROUP}*%)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def parse_number_text(text: str):
    """A number typed as text (SPEC §2): ``12,5``, ``1 234,5``, ``-0,25``, ``40 %``."""
    s = text.strip()
    if _AMBIGUOUS.match(s):
        return None, problem("number-ambiguous", text=s)
    m = _NUMBER_TEXT.match(s)
    if not m:
        return None, problem("not-a-number", text=_show(s))
    digits = re.sub(_GROUP, "", m.group("int"))
    d = Decimal(m.group("sign") + digits + ("." + m.group("frac") if m.group("frac") else ""))
    if m.group("pct"):
        d = d / 100
    return d, problem("number-as-text", text=_show(s), value=d)


def to_number(value: object):
    return _bounded(_to_number(value))


def _to_number(value: object):
    if isinstance(value, bool):
        return None, problem("not-a-number", "boolean", text=str(value))
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            return None, problem("not-a-number", "infinite")
        return decimal_from_cell(value), None
    if isinstance(value, Decimal):
        return value, None
    if isinstance(value, str):
        return parse_number_text(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        return None, problem("not-a-number", "date", text=_show(value))
    return None, problem("not-a-number", text=_show(value))


def _bounded(result):
    d, found = result
    if d is not None and abs(d) >= MAX_MAGNITUDE:
        return None, problem("absurd-value", value=d, limit=MAX_MAGNITUDE)
    return d, found


def to_fraction(value: object):
    d, found = to_number(value)
    if d is not None and Decimal(1) < abs(d) <= 100 and not (isinstance(value, str) and "%" in value):
        return d, problem("percent-scale", value=d, fraction=d / 100)
    return d, found


def to_int(value: object):
    d, found = to_number(value)
    if d is None:
        return None, found
    if d != d.to_integral_value():
        return None, problem("not-an-integer", value=d)
    return int(d), found


def to_month(value: object):
    if isinstance(value, dt.datetime):
        return months.from_date(value.date()), None
    if isinstance(value, dt.date):
        return months.from_date(value), None
    if isinstance(value, str):
        m = months.parse(value)
        if m:
            return m, None
        return None, problem("not-a-month", "text", text=_show(value))
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        shown = _show_number(value)
        serial = serial_month(value)
        if serial is not None:
            return None, problem("not-a-month", "serial", text=shown, number=Decimal(shown), month=serial)
        return None, problem("not-a-month", "number", text=shown)
    return None, problem("not-a-month", text=_show(value))


# Excel's 1900 date system: serial 1 is 1900-01-01, with the phantom 1900-02-29 (serial 60),
# so from serial 61 on, a serial counts days from 1899-12-30.
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_PLAUSIBLE_SERIALS = (32874, 73050)    # 1990-01-01 .. 2099-12-31: dates a contract can have


def serial_month(value: int | float | Decimal) -> str | None:
    """The month (YYYY-MM) of an Excel date serial that lost its date format (45870 → 2025-08),
    or None when the number is not a plausible date serial."""
    try:
        days = Decimal(str(value))
    except ArithmeticError:
        return None
    if not days.is_finite() or not _PLAUSIBLE_SERIALS[0] <= days <= _PLAUSIBLE_SERIALS[1]:
        return None
    return months.from_date(_EXCEL_EPOCH + dt.timedelta(days=int(days)))


def _show_number(value: int | float | Decimal) -> str:
    """A cell number as its shortest decimal form: 45870, not 45870.0."""
    d = value if isinstance(value, Decimal) else decimal_from_cell(value)
    text = f"{d:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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
        return None, problem("control-character")
    if len(text) > 1000:
        return None, problem("text-too-long", length=len(text))
    return text, None


def to_id(value: object):
    text, found = to_text(value)
    if text is None:
        return None, found
    if not ID_RE.match(text):
        return None, problem("bad-id", text=_show(text))
    return text, None


def to_enum(column: str):
    allowed = sorted(set(schema.ENUMS[column].values()))

    def convert(value: object):
        text = value if isinstance(value, str) else str(value)
        v = schema.enum_value(column, text)
        if v is None:
            return None, problem("bad-value", text=_show(text), allowed=", ".join(allowed))
        return v, None
    return convert


def to_currency(value: object):
    text = str(value).strip().upper()
    if text not in ISO_4217:
        return None, problem("bad-currency", text=_show(text))
    return text, None


def to_bool(value: object):
    if isinstance(value, bool):
        return value, None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value), None
    v = schema.BOOLS.get(schema.key(value))
    if v is None:
        return None, problem("bad-value", "boolean", text=_show(value))
    return v, None


def to_email(value: object):
    """A malformed contact_email is a warning (SPEC §5): the contract is settled and its
    statement written as a draft with no recipient, never e-mailed to a guessed address."""
    text = str(value)
    if "\r" in text or "\n" in text:
        return "", problem("bad-email", "line-break")
    good, bad = parse_recipients(text)
    if bad:
        return "", problem("bad-email", text=_show(", ".join(bad)))
    return ", ".join(good), None


def to_raw(value: object):
    """A cell whose rule depends on another cell (an amendment's value): kept as read."""
    return value, None


def to_field(value: object):
    """The name of a term (its column name or an alias) as its canonical column name; a name
    that is no column is kept as written (validation says which fields can be amended)."""
    text, problem = to_text(value)
    if text is None:
        return None, problem
    col = schema.column_for(schema.KPIS, text) or schema.column_for(schema.CONTRACTS, text)
    return (col.name if col is not None else text), None


def to_date(value: object):
    """A calendar date: an Excel date, or text YYYY-MM-DD or DD/MM/YYYY ('YYYY-MM-DD')."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat(), None
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return dt.datetime.strptime(text, fmt).date().isoformat(), None
            except ValueError:
                pass
    return None, problem("not-a-date", text=_show(value))


CONVERTERS = {
    "raw": to_raw, "field": to_field,
    "id": to_id, "text": to_text, "money": to_number, "number": to_number, "fraction": to_fraction,
    "int": to_int, "month": to_month, "bool": to_bool, "email": to_email, "currency": to_currency,
    "date": to_date,
}


def converter(col: schema.Column):
    if col.kind == "enum":
        return to_enum(col.name)
    return CONVERTERS[col.kind]


def money_digits_problem(amount: Decimal, currency: str):
    if has_minor_precision(amount, currency):
        return None
    n = minor_digits(currency)
    return problem("money-digits", amount=amount, digits=n, currency=currency)
