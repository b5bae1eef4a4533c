"""Every amount a person reads is the CSV's (SPEC §5): statements, the summary and ``explain``
write each amount with the currency's ISO 4217 minor digits, exactly as settlement.csv has it.

The engine settles a contract in a random accepted currency with a fee on that currency's
grid; the displayed amounts (found next to the currency's symbol) are read back into plain
decimals and compared with the CSV's strings.
"""
from __future__ import annotations

import re
from decimal import Decimal as D

from babel.numbers import get_currency_symbol, get_decimal_symbol, get_group_symbol
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsettle.core.model import CloseReport, Contract, Kpi, Reading, Terms
from perfsettle.core.money import ISO_4217, format_money, minor_digits
from perfsettle.core.settle import settle
from perfsettle.outputs import formatting as fmt
from perfsettle.outputs import statements
from perfsettle.outputs.explain import explain

CID = "C-CUR-01"


def _plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ").replace("&nbsp;", " ")


def displayed_amounts(text: str, currency: str, lang: str) -> list[str]:
    """The amounts written next to the currency's symbol, as CSV-style decimals."""
    loc = fmt.locale_for(lang)
    symbol = re.escape(_plain(get_currency_symbol(currency, locale=loc)))
    group = re.escape(_plain(get_group_symbol(loc)))
    decimal = re.escape(get_decimal_symbol(loc))
    number = rf"\d{{1,3}}(?:{group}\d{{3}})*(?:{decimal}\d+)?"
    pattern = (rf"(?<![\d.,])(-?)({number}) ?{symbol}" if lang == "fr"
               else rf"(-?){symbol} ?({number})(?![\d])")
    found = []
    for sign, digits in re.findall(pattern, _plain(text)):
        plain = digits.replace(_plain(get_group_symbol(loc)), "").replace(get_decimal_symbol(loc), ".")
        found.append(sign + plain)
    return found


def _terms(currency: str, fee: D, share: D, lang: str) -> Terms:
    contract = Contract(CID, "Client", "Agence", "PME", currency, "2026-01", 12, fee, share,
                        language=lang, contact_email="a@example.com")
    kpis = (Kpi(CID, "a", "A", "operational", "higher", "absolute", D("0.9"), D("0.6"), "%",
                floor=D("0.5")),
            Kpi(CID, "b", "B", "robustness", "higher", "absolute", D("0.9"), D("0.4"), "%"))
    return Terms(contract, kpis)


@settings(max_examples=150, deadline=None)
@given(currency=st.sampled_from(sorted(ISO_4217)), lang=st.sampled_from(["fr", "en"]),
       units=st.integers(min_value=1, max_value=10 ** 11),
       share=st.integers(min_value=1, max_value=99),
       reading=st.integers(min_value=50, max_value=100))
def test_every_displayed_amount_is_the_csv_amount(currency, lang, units, share, reading):
    digits = minor_digits(currency)
    fee = D(units).scaleb(-digits)
    terms = _terms(currency, fee, D(share) / 100, lang)
    readings = [Reading(CID, "a", "2026-03", D(reading) / 100, "verified"),
                Reading(CID, "b", "2026-03", D("0.95"), "verified")]
    (result,) = settle([terms], readings, {(CID, "2026-03"): D(0)}, "2026-03")
    report = CloseReport("2026-03", "20260401T060000Z-ab12cd34", "2026-04-01T06:00:00+00:00",
                         (result,))
    m = result.months[-1]
    csv = {format_money(getattr(m, f), currency)
           for f in ("fee", "fixed", "pool", "earned", "forfeited", "due", "invoice_now")}
    csv |= {format_money(getattr(k, f), currency) for k in m.kpis for f in ("pool_k", "earned_k")}

    html, text = statements.render_statement(report, result)
    outputs = {"statement": html + text, "summary": statements.render_summary(report, lang),
               "explain": explain(result, "2026-03", lang)}
    for name, out in outputs.items():
        shown = displayed_amounts(out, currency, lang)
        assert shown, f"{name}: no amount found in {currency}"
        for amount in shown:
            decimals = amount.partition(".")[2]
            assert len(decimals) == digits, f"{name}: {amount} {currency} has not {digits} digits"
        missing = {a for a in {format_money(m.due, currency), format_money(m.invoice_now, currency)}
                   if a not in shown}
        assert not missing, f"{name} ({lang}) does not show the CSV's {missing} {currency}"
    statement_shown = set(displayed_amounts(outputs["statement"], currency, lang))
    assert csv - {"0" if not digits else "0." + "0" * digits} <= statement_shown | {
        a.lstrip("-") for a in statement_shown}


def test_forint_and_rupiah_keep_their_cents():
    assert _plain(fmt.money(D("12345.67"), "HUF", "fr")) == "12 345,67 HUF"
    assert _plain(fmt.money(D("1500000.50"), "IDR", "fr")) == "1 500 000,50 IDR"
    assert fmt.money(D("1500000.50"), "IDR", "en") == "IDR1,500,000.50"
    assert _plain(fmt.money(D("1.234"), "IQD", "fr")) == "1,234 IQD"
    assert _plain(fmt.money(D("1234"), "JPY", "fr")) == "1 234 JPY"
