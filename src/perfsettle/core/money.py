"""Money and numbers: the one place that owns Decimal conversion, rounding and formatting.

Every amount is a ``decimal.Decimal``. A cell value becomes a Decimal through its shortest
decimal representation (``Decimal(repr(float))``); exact intermediate results are
``fractions.Fraction``; only the named results of SPEC §3 are rounded, half up, to the
currency's minor unit.

Nothing here depends on the ambient ``decimal`` context (which any library of the process may
change): products are exact fractions, and every Decimal operation runs in ``CONTEXT``
(``pinned``), whose precision holds any amount or reading exactly.
"""
from __future__ import annotations

from decimal import (ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow,
                     localcontext)
from fractions import Fraction
from functools import lru_cache, wraps

# Amounts and readings stay below MAX_MAGNITUDE (16 digits) with at most a few decimals; a sum
# or a product of two of them needs well under 60 digits, so nothing is ever rounded by the
# context itself: rounding is only ever the explicit half-up rounding of ``round_money``.
CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, Emin=-999999, Emax=999999, capitals=1, clamp=0,
                  flags=[], traps=[InvalidOperation, DivisionByZero, Overflow])


def pinned(function):
    """Run ``function`` in ``CONTEXT``, whatever the caller's decimal context."""
    @wraps(function)
    def run(*args, **kwargs):
        with localcontext(CONTEXT):
            return function(*args, **kwargs)
    return run


def exact(value: Decimal | Fraction | int) -> Fraction:
    """A number as an exact fraction (no context involved)."""
    return value if isinstance(value, Fraction) else Fraction(value)


def round_product(currency: str, *factors: Decimal | Fraction | int) -> Decimal:
    """The exact product of ``factors`` rounded once, half up, to the currency's minor unit:
    ``round_product(ccy, fee, 1 - exact(share))``, ``round_product(ccy, earned, rate)``."""
    product = Fraction(1)
    for f in factors:
        product *= exact(f)
    return round_money(product, currency)

# ISO 4217 exponents that differ from 2. Every other well-formed code has 2 minor digits.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}

# ISO 4217 active codes (2024), used to reject typos such as "EURO" or "EU".
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF
XPF YER ZAR ZMW ZWG
""".split())


def minor_digits(currency: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency (EUR 2, JPY 0, BHD 3)."""
    return _EXPONENTS.get(currency, 2)


_QUANTA: dict[str, Decimal] = {}


def quantum(currency: str) -> Decimal:
    q = _QUANTA.get(currency)
    if q is None:
        q = _QUANTA[currency] = Decimal(1).scaleb(-minor_digits(currency), CONTEXT)
    return q


def round_money(value: Decimal | Fraction | int, currency: str) -> Decimal:
    """Round an exact amount once, half up, to the currency's minor unit."""
    if isinstance(value, Fraction):
        return round_fraction(value, minor_digits(currency)).quantize(quantum(currency), context=CONTEXT)
    return Decimal(value).quantize(quantum(currency), rounding=ROUND_HALF_UP, context=CONTEXT)


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount already on the currency's grid, as an integer count of minor units."""
    return int(amount.scaleb(minor_digits(currency), CONTEXT))


def from_minor(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-minor_digits(currency), CONTEXT).quantize(quantum(currency), context=CONTEXT)


def has_minor_precision(amount: Decimal, currency: str) -> bool:
    """True when the amount has no more decimals than the currency allows."""
    return amount == amount.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=CONTEXT)


def decimal_from_cell(value: float | int) -> Decimal:
    """A numeric cell value as Decimal, from its shortest decimal representation."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    d = Decimal(repr(float(value)))
    if d == d.to_integral_value(context=CONTEXT) and d.copy_abs() < MAX_MAGNITUDE:
        return d.quantize(Decimal(1), context=CONTEXT)
    return d


# Larger magnitudes are not amounts or KPI readings anyone keeps in a workbook; they would
# also exceed the exact range of Decimal arithmetic at 28 digits once scaled to minor units.
MAX_MAGNITUDE = Decimal("1e15")


@lru_cache(maxsize=1 << 16)   # results repeat the same pools, zeros and levels many times
def format_money(amount: Decimal, currency: str) -> str:
    """Plain decimal string with exactly the minor-unit digits, never a negative zero."""
    q = round_money(amount, currency)
    if not q:
        q = q.copy_abs()
    return f"{q:f}"


@lru_cache(maxsize=1 << 16)
def format_number(value: Decimal | Fraction | int | None, places: int | None = None) -> str:
    """Normalized number: no exponent, no trailing zeros, no trailing '.', no negative zero.

    With ``places``, the value is first rounded half up to that many decimals.
    """
    if value is None:
        return ""
    if isinstance(value, Fraction):
        if places is None:
            raise ValueError("a fraction needs places")
        value = round_fraction(value, places)
    d = Decimal(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places, CONTEXT), rounding=ROUND_HALF_UP, context=CONTEXT)
    if d == 0:
        return "0"
    text = f"{d:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def round_fraction(value: Fraction, places: int) -> Decimal:
    scale = 10 ** places
    num = value.numerator * scale
    den = value.denominator
    sign = -1 if num < 0 else 1
    units = (2 * abs(num) + den) // (2 * den)
    return Decimal(sign * units).scaleb(-places, CONTEXT)


def fr(value: Decimal | int) -> str:
    """A plain number with a decimal comma, for French messages (0,35)."""
    return f"{Decimal(value):f}".replace(".", ",")
