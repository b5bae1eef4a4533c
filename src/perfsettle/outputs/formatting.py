"""Locale formatting for what people read: money, months, percentages, KPI values.

Every function takes the statement language (``fr`` or ``en``) and returns display text built
with Babel from exact values (``Decimal``/``Fraction``); nothing here is used for arithmetic.
French output uses the no-break spaces Babel puts in (``12 345,67 €``, ``80,5 %``).
"""
from __future__ import annotations

import datetime as _dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import (format_currency, format_decimal, format_percent, get_currency_precision,
                           get_decimal_symbol, get_group_symbol, parse_pattern)

from perfsettle.core.money import minor_digits, quantum, round_fraction

LOCALES = {"fr": "fr_FR", "en": "en_GB"}
LANGUAGES = tuple(LOCALES)
DASH = "—"


@lru_cache(maxsize=None)
def locale_for(lang: str) -> Locale:
    """Babel locale of a statement language (parsed once); unknown languages fall back to French."""
    return Locale.parse(LOCALES.get(lang, LOCALES["fr"]))


def _exact(value: Decimal | Fraction | int, places: int = 6) -> Decimal:
    if isinstance(value, Fraction):
        return round_fraction(value, places)
    return Decimal(value)


def _no_negative_zero(d: Decimal) -> Decimal:
    return abs(d) if d == 0 else d


@lru_cache(maxsize=1 << 16)
def money(amount: Decimal | None, currency: str, lang: str) -> str:
    """``12 345,67 €`` (fr) or ``€12,345.67`` (en), with the currency's ISO 4217 minor digits.

    The digits are the CSV's (``core.money``), never CLDR's: HUF 12345.67 is written
    ``12 345,67 HUF``, not rounded again to ``12 346 HUF``. Only the symbol, its place, the
    sign and the separators come from the locale. Amounts reach here already on the
    currency's grid; one that is not (a test's random value) is rounded half up as the CSV does.
    """
    if amount is None:
        return DASH
    value = _no_negative_zero(Decimal(amount))
    q = value.quantize(quantum(currency), rounding=ROUND_HALF_UP)
    q = _no_negative_zero(q)
    shape = _money_shape(currency, lang)
    if shape is None:
        return _money_by_pattern(q, currency, lang)
    digits, pre, post, neg_pre, neg_post, table = shape
    text = f"{abs(q):,.{digits}f}".translate(table)
    return neg_pre + text + neg_post if q.is_signed() else pre + text + post


def _money_by_pattern(q: Decimal, currency: str, lang: str) -> str:
    """Babel's currency pattern of the locale, with its fraction digits forced to ISO 4217's."""
    loc = locale_for(lang)
    pattern = parse_pattern(loc.currency_formats["standard"])
    digits = minor_digits(currency)
    pattern.frac_prec = (digits, digits)
    return pattern.apply(q, loc, currency=currency, currency_digits=False, decimal_quantization=True)


@lru_cache(maxsize=None)
def _money_shape(currency: str, lang: str):
    """How Babel writes an amount in this currency and language, taken from its own output
    for 1 and −1 (symbol, its place, the sign, separators), so that thousands of amounts are
    written without going through Babel's pattern engine each time; None when the output
    does not have the expected shape (then the pattern is applied to every amount). The
    digits Babel would use (CLDR's) only locate the number in that output."""
    loc = locale_for(lang)
    cldr = get_currency_precision(currency)
    decimal, group = get_decimal_symbol(loc), get_group_symbol(loc)
    one = "1" + (decimal + "0" * cldr if cldr else "")
    plus, minus = format_currency(Decimal(1), currency, locale=loc), format_currency(Decimal(-1), currency, locale=loc)
    if plus.count(one) != 1 or minus.count(one) != 1 or "1" in plus.replace(one, "") + minus.replace(one, ""):
        return None
    pre, _, post = plus.partition(one)
    neg_pre, _, neg_post = minus.partition(one)
    return minor_digits(currency), pre, post, neg_pre, neg_post, str.maketrans({",": group, ".": decimal})


@lru_cache(maxsize=1 << 16)
def month(month: str, lang: str) -> str:
    """'2026-10' as ``octobre 2026`` (fr) or ``October 2026`` (en)."""
    if not month:
        return DASH
    day = _dt.date(int(month[:4]), int(month[5:7]), 1)
    return format_date(day, "LLLL yyyy", locale=locale_for(lang))


@lru_cache(maxsize=1 << 16)
def number(value: Decimal | Fraction | int | None, lang: str) -> str:
    """A number with every significant digit and the locale's separators (``1 234,5``)."""
    if value is None:
        return DASH
    return format_decimal(_no_negative_zero(_exact(value)), locale=locale_for(lang),
                          decimal_quantization=False)


@lru_cache(maxsize=1 << 16)
def percent(value: Decimal | Fraction | int | None, lang: str, places: int | None = None) -> str:
    """A fraction as a percentage: 0.805 → ``80,5 %``; ``places`` rounds (half up) the percent."""
    if value is None:
        return DASH
    if places is None:
        d = _exact(value)
    elif isinstance(value, Fraction):
        d = round_fraction(value, places + 2)
    else:
        d = Decimal(value).quantize(Decimal(1).scaleb(-(places + 2)), rounding=ROUND_HALF_UP)
    return format_percent(_no_negative_zero(d), locale=locale_for(lang), decimal_quantization=False)


def signed(text: str, value: Decimal | Fraction | int) -> str:
    """Prefix a formatted positive value with '+' (negative values already carry their sign)."""
    return "+" + text if value > 0 else text


def _unit_suffix(unit: str) -> str:
    if not unit:
        return ""
    return unit if unit.startswith("/") else "\u00a0" + unit


@lru_cache(maxsize=1 << 16)
def kpi_value(value: Decimal | None, unit: str, lang: str) -> str:
    """A reading or a level in the KPI's unit: percentages when the unit is '%'."""
    if value is None:
        return DASH
    if unit.strip() == "%":
        return percent(value, lang)
    return number(value, lang) + _unit_suffix(unit.strip())


def kpi_change(change: Decimal, unit: str, mode: str, lang: str) -> str:
    """The change a relative or points target applies to the baseline: ``+15 %``, ``+20 points``."""
    if mode == "relative":
        return signed(percent(change, lang), change)
    if unit.strip() == "%":
        return signed(number(change * 100, lang), change) + " points"
    return signed(number(change, lang), change) + " points"


def attainment(value: Fraction | Decimal | None, lang: str) -> str:
    """Attainment for display, to one decimal of a percent (``92,9 %``)."""
    return percent(value, lang, places=1)


def bar_width(value: Fraction | Decimal | None) -> int:
    """Attainment as a whole percentage 0..100 for a bar; exactly 0 or 100 only at the ends."""
    if value is None:
        return 0
    pct = Fraction(value) * 100
    if pct <= 0:
        return 0
    if pct >= 100:
        return 100
    return min(99, max(1, round(pct)))
