"""Statements, the finance summary and their e-mails, from hand-built close reports.

The contract of the examples: a PME pays 10 000,00 €/month, 35 % variable, split 40/30/30
over detection (+15 % relative on 70 %, floor +5 %), manual time (−30 % relative on 120 h)
and stability (absolute 98 % over a 6-month window); profitability drives a bonus-malus and
automation an exit right at month 6. The golden tests at the end run the shared examples
through ``perfsettle run`` and compare every statement with tests/golden/ (set
PERFSETTLE_UPDATE_GOLDEN=1 to rewrite them after a deliberate change).
"""
from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal as D
from fractions import Fraction as F
from pathlib import Path

import pytest

from conftest import EXAMPLES as REPO_EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import facts
from perfsettle.outputs import formatting as fmt
from perfsettle.outputs import statements
from perfsettle.core.model import (CloseReport, Contract, ContractResult, Diagnostic, ExitResult,
                              FileOutcome, Kpi, KpiResult, MonthResult, Reading, ReadingChange, Source,
                              Terms)

CID = "C-PME-01"


def plain(text: str) -> str:
    """Locale spaces (no-break, narrow no-break) as ordinary spaces, for readable asserts."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def visible(html: str) -> str:
    """The text a reader sees: tags removed, entities and locale spaces normalised."""
    import html as _html
    text = re.sub(r"<div class=\"preheader\".*?</div>", "", html, flags=re.S)
    text = _html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(plain(text).split())


# --------------------------------------------------------------------------- fixtures

def make_terms(*, lang="fr", client="Boulangeries Martin SAS", mediator="Mme Durand (CMAP)",
               contact="finance@martin.example", cid=CID, currency="EUR",
               exit_month=None) -> Terms:
    contract = Contract(cid, client, "Agence Lumen IA", "PME", currency, "2026-01", 12,
                        D("10000"), D("0.35"), bonus_kpi="roi", bonus_target=D("0.25"),
                        exit_kpi="automation", exit_threshold=D("0.7"), exit_month=exit_month,
                        mediator=mediator,
                        contact_email=contact, language=lang)
    kpis = (
        Kpi(cid, "detection", "Taux de détection", "operational", "higher", "relative",
            D("0.15"), D("0.4"), "%", D("0.7"), D("0.05")),
        Kpi(cid, "manual_time", "Temps manuel", "operational", "lower", "relative",
            D("-0.3"), D("0.3"), "h", D("120")),
        Kpi(cid, "stability", "Stabilité du modèle", "robustness", "higher", "absolute",
            D("0.98"), D("0.3"), "%", window_months=6),
        Kpi(cid, "roi", "Rentabilité IA", "financial", "higher", "absolute", D("0.25"), D("0"), "%"),
        Kpi(cid, "automation", "Automatisation", "operational", "higher", "absolute",
            D("0.7"), D("0"), "%"),
    )
    return Terms(contract, kpis)


def kpi_result(month, kpi_id, status, value, target, floor, attainment, pool, earned="0.00",
               forfeited="0.00", held="0.00", deferred="0.00", reason="", window=None, cid=CID):
    return KpiResult(cid, month, kpi_id, status, value, target, floor, attainment, D(pool),
                     D(earned), D(forfeited), D(held), D(deferred), evaluated_month=month,
                     window=window or (month,), **facts(reason))


def october(*, detection=None, cid=CID) -> MonthResult:
    """October 2026: detection 80 % (attainment 13/14), manual time met, stability met, bonus."""
    detection = detection or kpi_result("2026-10", "detection", "earned", D("0.8"), D("0.805"),
                                        D("0.735"), F(13, 14), "1400.00", "1300.00", "100.00",
                                        cid=cid)
    six = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
    kpis = (detection,
            kpi_result("2026-10", "manual_time", "earned", D("82"), D("84"), None, F(1),
                       "1050.00", "1050.00", cid=cid),
            kpi_result("2026-10", "stability", "earned", D("0.989"), D("0.98"), None, F(1),
                       "1050.00", "1050.00", window=six, cid=cid))
    earned = sum(k.earned_k for k in kpis)
    held = sum(k.held_k for k in kpis)
    forfeited = sum(k.forfeited_k for k in kpis)
    bonus = (earned / 10).quantize(D("0.01"))
    due = D("6500.00") + earned + bonus
    return MonthResult(cid, "2026-10", "EUR", D("10000.00"), D("6500.00"), D("3500.00"), earned,
                       held, D("0.00"), forfeited, "bonus", bonus, D("0.00"), due, D("0.00"), due,
                       kpis=kpis, bonus_value=D("0.31"))


def disputed_october() -> MonthResult:
    return october(detection=kpi_result("2026-10", "detection", "held", None, D("0.805"),
                                        D("0.735"), None, "1400.00", held="1400.00",
                                        reason="2026-10 disputed"))


def restated_september() -> MonthResult:
    """September re-settled after its disputed detection reading was resolved: +1 540,00 €."""
    kpis = (kpi_result("2026-09", "detection", "earned", D("0.835"), D("0.805"), D("0.735"), F(1),
                       "1400.00", "1400.00"),)
    return MonthResult(CID, "2026-09", "EUR", D("10000.00"), D("6500.00"), D("3500.00"),
                       D("3500.00"), D("0.00"), D("0.00"), D("0.00"), "bonus", D("350.00"),
                       D("0.00"), D("10350.00"), D("8810.00"), D("1540.00"), kpis=kpis,
                       bonus_value=D("0.3"))


SEPTEMBER_RESOLVED = ReadingChange(CID, "detection", "2026-09", D("0.84"), "disputed", D("0.835"),
                                   "verified", "readings.xlsx", "Readings!D4", "médiation du 12/11")
EXIT_RIGHT = ExitResult("exit_right", "2026-06", "2026-06", D("0.68"), D("0.7"))


def make_report(*months_, lang="fr", changes=(), exit=EXIT_RIGHT, terms=None, period="2026-10",
                **kw) -> CloseReport:
    terms = terms or make_terms(lang=lang)
    result = ContractResult(terms.contract.contract_id, "settled", terms.contract.currency, exit,
                            tuple(months_) or (october(),), terms)
    return CloseReport(period, "20261101T060000Z-ab12cd34", "2026-11-01T06:00:00+00:00",
                       (result,), changes=tuple(changes), **kw)


def statement(report: CloseReport) -> tuple[str, str]:
    return statements.render_statement(report, report.results[0])


# --------------------------------------------------------------------------- formatting

def test_amounts_months_and_percentages_follow_the_locale():
    assert plain(fmt.money(D("12345.67"), "EUR", "fr")) == "12 345,67 €"
    assert fmt.money(D("12345.67"), "EUR", "en") == "€12,345.67"
    assert plain(fmt.money(D("1234"), "JPY", "fr")) == "1 234 JPY"
    assert plain(fmt.money(D("-0.00"), "EUR", "fr")) == "0,00 €"      # never a negative zero
    assert fmt.month("2026-10", "fr") == "octobre 2026"
    assert fmt.month("2026-10", "en") == "October 2026"
    assert plain(fmt.kpi_value(D("0.805"), "%", "fr")) == "80,5 %"
    assert fmt.kpi_value(D("0.805"), "%", "en") == "80.5%"
    assert plain(fmt.kpi_value(D("83.5"), "h", "fr")) == "83,5 h"
    assert fmt.kpi_value(D("6.5"), "/10", "en") == "6.5/10"
    assert plain(fmt.attainment(F(13, 14), "fr")) == "92,9 %"
    assert fmt.attainment(F(7, 12), "en") == "58.3%"


@settings(max_examples=400, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10 ** 13, max_value=10 ** 13, places=4),
       st.sampled_from(["EUR", "USD", "GBP", "CHF", "JPY", "BHD", "CLF", "ISK", "XAU", "KWD", "SEK",
                        "HUF", "IDR", "COP", "IQD"]),
       st.sampled_from(["fr", "en"]))
def test_money_is_written_in_babels_shape_with_the_csv_digits(amount, currency, lang):
    """Babel's symbol, sign and separators; the digits are ISO 4217's (the CSV's), never CLDR's."""
    from babel.numbers import format_currency
    from perfsettle.core.money import format_money
    csv = format_money(amount, currency)
    value = D(csv)
    expected = format_currency(value, currency, locale=fmt.locale_for(lang), currency_digits=False,
                               format=_pattern(currency, lang), decimal_quantization=False)
    assert fmt.money(amount, currency, lang) == expected


def _pattern(currency: str, lang: str) -> str:
    from perfsettle.core.money import minor_digits
    standard = fmt.locale_for(lang).currency_formats["standard"].pattern
    digits = minor_digits(currency)
    return re.sub(r"0\.0+|0(?=[^0#,.]|$)", "0" + ("." + "0" * digits if digits else ""), standard, count=1)


def test_bar_width_is_full_or_empty_only_at_the_ends():
    assert fmt.bar_width(F(13, 14)) == 93
    assert fmt.bar_width(F(1, 1000)) == 1
    assert fmt.bar_width(F(999, 1000)) == 99
    assert fmt.bar_width(F(1)) == 100
    assert fmt.bar_width(F(0)) == 0


# --------------------------------------------------------------------------- statement

def test_target_levels_spell_out_their_definition_in_french():
    html, text = statement(make_report())
    shown = visible(html)
    assert "+15 % relatif sur 70 % = 80,5 %" in shown
    assert "Plancher : +5 % relatif sur 70 % = 73,5 %" in shown
    assert "-30 % relatif sur 120 h = 84 h" in shown
    assert "absolu : 98 %" in shown
    assert "≥ 80,5 %" in shown and "≤ 84 h" in shown
    assert "+15 % relatif sur 70 % = 80,5 %" in plain(text)


def test_points_target_is_not_confused_with_a_relative_one():
    terms = make_terms(lang="en")
    precision = Kpi(CID, "detection", "Detection precision", "operational", "higher", "points",
                    D("0.2"), D("0.4"), "%", D("0.62"), D("0.1"))
    terms = replace(terms, kpis=(precision,) + terms.kpis[1:])
    month = october(detection=kpi_result("2026-10", "detection", "earned", D("0.81"), D("0.82"),
                                         D("0.72"), F(9, 10), "1400.00", "1260.00", "140.00"))
    shown = visible(statement(make_report(month, terms=terms))[0])
    assert "+20 points on 62% = 82%" in shown
    assert "Floor: +10 points on 62% = 72%" in shown
    assert "relative to 62%" not in shown


def test_statement_header_total_and_month_in_french():
    html, text = statement(make_report(restated_september(), october(),
                                       changes=[SEPTEMBER_RESOLVED]))
    shown = visible(html)
    assert "Relevé de performance — octobre 2026" in shown
    assert "Boulangeries Martin SAS" in shown and "Agence Lumen IA" in shown
    assert "octobre 2026 (mois 10 sur 12)" in shown
    # 10 240,00 € for October + 1 540,00 € for September
    assert "Total à facturer 11 780,00 €" in shown
    assert "Ajustements des mois antérieurs 1 540,00 €" in shown
    assert "Part fixe (65 %) 6 500,00 €" in shown
    assert "Variable acquis 3 400,00 €" in shown and "Bonus +340,00 €" in shown
    assert "TOTAL À FACTURER : 11 780,00 €" in plain(text)


def test_statement_in_english_uses_english_words_and_formats():
    html, text = statement(make_report(lang="en"))
    shown = visible(html)
    assert "Performance statement — October 2026" in shown
    assert "Total to invoice €10,240.00" in shown
    assert "+15% relative to 70% = 80.5%" in shown
    assert "Attainment: 92.9%" in shown
    assert "octobre" not in shown and "Relevé" not in shown
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html


def test_attainment_is_drawn_as_an_email_safe_bar():
    html, _ = statement(make_report())
    assert re.search(r'<td class="bar-fill"[^>]*width="93%"', html)     # 13/14 of the pool
    assert html.count('class="bar-fill"') == 3
    assert html.count('class="bar-rest"') == 1                         # the two full bars have no rest


def readings_chart_report(lang="fr") -> CloseReport:
    """August to October: detection met, then disputed, then between floor and target; manual
    time (lower is better) missed, then missing, then met; stability without any reading."""
    def month(m: str) -> MonthResult:
        base = october()
        return replace(base, month=m, kpis=tuple(replace(k, month=m) for k in base.kpis))
    values = {("detection", "2026-08"): ("0.82", "verified"), ("detection", "2026-09"): ("0.84", "disputed"),
              ("detection", "2026-10"): ("0.8", "verified"), ("manual_time", "2026-08"): ("90", "verified"),
              ("manual_time", "2026-10"): ("82", "provisional")}
    readings = {(CID, kid, m): Reading(CID, kid, m, D(v), status) for (kid, m), (v, status) in values.items()}
    return make_report(month("2026-08"), month("2026-09"), october(), lang=lang, readings=readings)


def chart_columns(html: str) -> list[list[tuple[str, int, int | None, str]]]:
    """Per chart: each month's (tone, bar height px, target line's height from the bottom, title)."""
    import html as _html
    charts = []
    for table in re.findall(r'<table class="chart".*?</table>', html, flags=re.S):
        cols = []
        for tone, title, body in re.findall(r'<td class="chart-month chart-(\w+)"[^>]*title="([^"]*)"[^>]*>(.*?)</td>',
                                            table, flags=re.S):
            parts = re.findall(r'class="chart-(space|bar|line)" style="height: (\d+)px', body)
            bar = sum(int(h) for kind, h in parts if kind == "bar")
            kinds = [kind for kind, _h in parts]
            line = (sum(int(h) for _kind, h in parts[kinds.index("line") + 1:]) if "line" in kinds else None)
            assert sum(int(h) for _kind, h in parts) == statements.CHART_PX + statements.CHART_LINE_PX
            cols.append((tone, bar, line, plain(_html.unescape(title))))
        charts.append(cols)
    return charts


def test_readings_are_charted_month_by_month_against_the_target_in_force():
    html, text = statement(readings_chart_report())
    detection, manual_time = chart_columns(html)          # stability has no reading: no chart
    # detection 82 %, 84 %, 80 % against 80,5 % (floor 73,5 %): scaled between 80 % and 84 %
    assert detection == [
        ("met", 26, 10, "août 2026 : 82 % — objectif ≥ 80,5 % — atteint"),
        ("none", 48, 10, "septembre 2026 : 84 % — objectif ≥ 80,5 % — contesté"),
        ("partly", 4, 10, "octobre 2026 : 80 % — objectif ≥ 80,5 % — entre plancher et objectif")]
    # manual time, lower is better: 90 h missed, September missing, 82 h met (provisional is fine
    # when the contract does not require verified readings); target 84 h
    assert [c[:3] for c in manual_time] == [("missed", 48, 15), ("none", 0, 15), ("met", 4, 15)]
    assert manual_time[1][3] == "septembre 2026 : — — objectif ≤ 84 h — absent"
    assert "Relevés depuis le début du contrat : 2026-08 82 % ✓ · 2026-09 84 % contesté · 2026-10 80 % ~" in plain(text)
    assert "Relevés depuis le début du contrat : 2026-08 90 h ✗ · 2026-09 absent · 2026-10 82 h ✓" in plain(text)
    assert text.count("Relevés depuis le début du contrat") == 2
    labels = re.findall(r'<td class="chart-label"[^>]*>([^<]*)<', html)
    assert labels == ["août 26", "sept. 26", "oct. 26"] * 2
    assert "non compté (contesté)" in visible(html) and "non compté (absent)" in visible(html)
    for table in re.findall(r'<table class="chart".*?</table>', html, flags=re.S):
        lower = table.lower()
        assert "<script" not in lower and "<svg" not in lower and "<img" not in lower and "url(" not in lower


def test_readings_chart_in_english_and_unverified_when_the_contract_requires_verified():
    report = readings_chart_report("en")
    terms = replace(report.results[0].terms, contract=replace(report.results[0].terms.contract,
                                                              requires_verified=True))
    report = replace(report, results=(replace(report.results[0], terms=terms),))
    html, text = statement(report)
    _detection, manual_time = chart_columns(html)
    assert manual_time[2][0] == "none"
    assert manual_time[2][3] == "October 2026: 82 h — target ≤ 84 h — unverified"
    assert "Readings since the contract began: 2026-08 90 h ✗ · 2026-09 missing · 2026-10 82 h unverified" in plain(text)
    assert re.findall(r'<td class="chart-label"[^>]*>([^<]*)<', html)[:3] == ["Aug 26", "Sept 26", "Oct 26"]


def test_a_report_without_readings_draws_no_chart():
    html, text = statement(make_report())
    assert 'class="chart"' not in html and "Relevés depuis" not in text


def test_held_kpi_gives_its_reason_and_the_mediator_is_named():
    html, text = statement(make_report(disputed_october()))
    shown = visible(html)
    assert "Retenu 1 400,00 €" in shown
    assert "octobre 2026 : relevé contesté" in shown
    assert "le différend est soumis à Mme Durand (CMAP)" in shown
    assert "Mme Durand (CMAP)" in plain(text)


def test_mediator_is_not_mentioned_when_nothing_is_disputed():
    shown = visible(statement(make_report())[0])
    assert "Mme Durand" not in shown and "contesté" not in shown


def test_dispute_without_a_mediator_says_so():
    report = make_report(disputed_october(), terms=make_terms(mediator=""))
    assert "Le contrat ne désigne pas de médiateur" in visible(statement(report)[0])


def test_adjustment_names_the_reading_that_changed():
    html, text = statement(make_report(restated_september(), october(),
                                       changes=[SEPTEMBER_RESOLVED]))
    shown = visible(html)
    assert "septembre 2026 10 350,00 € 8 810,00 € 1 540,00 €" in shown
    assert ("« Taux de détection », septembre 2026 : 84 % (contesté) → 83,5 % (vérifié) "
            "— médiation du 12/11") in shown
    assert "- septembre 2026 : 1 540,00 €" in plain(text)


def test_a_change_outside_the_window_is_not_given_as_a_cause():
    unrelated = replace(SEPTEMBER_RESOLVED, kpi_id="manual_time", month="2026-08", comment="")
    shown = visible(statement(make_report(restated_september(), october(),
                                          changes=[unrelated]))[0])
    assert "Temps manuel" not in shown.split("Ajustements des mois antérieurs", 2)[2]
    assert "Recalcul avec les données connues à ce jour (déjà facturé : 8 810,00 €)" in shown


def test_first_settlement_and_out_of_term_months_are_explained():
    first = replace(restated_september(), invoiced_before=D("0.00"), invoice_now=D("10350.00"))
    gone = MonthResult(CID, "2027-01", "EUR", *([D("0.00")] * 7), "n/a", D("0.00"), D("0.00"),
                       D("0.00"), D("500.00"), D("-500.00"), in_term=False)
    shown = visible(statement(make_report(first, october(), gone))[0])
    assert "Premier calcul de ce mois : rien n'avait encore été facturé." in shown
    assert "le montant facturé est repris en avoir" in shown
    assert "janvier 2027 0,00 € 500,00 € -500,00 €" in shown


def test_exit_right_is_shown_with_its_rule_and_date():
    shown = visible(statement(make_report())[0])
    assert "Droit de sortie ouvert" in shown
    assert "Valeur au point de sortie : 68 % (seuil 70 %)" in shown
    assert ("Au point de sortie (juin 2026, mois 6 du contrat), « Automatisation » doit être "
            "d'au moins 70 %") in shown


def test_exit_watch_before_the_exit_month():
    watch = ExitResult("watch", "2026-12", "2026-10", D("0.65"), D("0.7"))
    report = make_report(lang="en", exit=watch, terms=make_terms(lang="en", exit_month=12))
    shown = visible(statement(report)[0])
    assert "Watch In October 2026, 65% is worse than the threshold of 70%" in shown
    assert "At the exit point (December 2026, contract month 12), “Automatisation” must be at least 70%" in shown


def test_bonus_malus_states_its_rule_and_outcome():
    malus = replace(october(), bonus_malus="malus", bonus=D("0.00"), malus=D("340.00"),
                    bonus_value=D("0.2"))
    shown = visible(statement(make_report(malus))[0])
    assert "Valeur 20 % : malus de 340,00 €." in shown
    assert "« Rentabilité IA » (plus haut = mieux) comparé à 25 %" in shown
    assert "bonus de 10 % du variable acquis" in shown
    assert "Malus -340,00 €" in shown


def test_deferred_kpi_names_its_due_month():
    terms = make_terms(lang="en")
    roi = replace(terms.kpis[0], due_month=11)
    terms = replace(terms, kpis=(roi,) + terms.kpis[1:])
    month = october(detection=kpi_result("2026-10", "detection", "deferred", None, D("0.805"),
                                         D("0.735"), None, "1400.00", deferred="1400.00",
                                         reason="due 2026-11"))
    shown = visible(statement(make_report(month, terms=terms))[0])
    assert "Deferred €1,400.00" in shown
    assert "Evaluated at its due month (November 2026, contract month 11)" in shown


def test_a_contract_that_ended_before_the_period_shows_only_adjustments():
    report = make_report(restated_september(), changes=[SEPTEMBER_RESOLVED], period="2027-02")
    shown = visible(statement(report)[0])
    assert "Aucun calcul pour février 2027 : le contrat a pris fin en décembre 2026" in shown
    assert "Total à facturer 1 540,00 €" in shown


def test_injected_text_stays_inert():
    terms = make_terms(client='<script>alert(1)</script>')
    terms = replace(terms, contract=replace(terms.contract,
                                            provider='=HYPERLINK("http://evil.example","x")',
                                            mediator='<img src="http://evil.example/x.png">'))
    report = make_report(disputed_october(), terms=terms)
    html, text = statement(report)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html.lower()
    assert '=HYPERLINK("http://evil.example","x")' in visible(html)
    assert "<script>alert(1)</script>" in text         # plain text is not HTML: shown as typed
    summary = statements.render_summary(report)
    assert "<script" not in summary.lower() and "<img" not in summary.lower()


def test_html_is_email_safe():
    for lang in ("fr", "en"):
        html, _ = statement(make_report(disputed_october(), lang=lang))
        summary = statements.render_summary(make_report(lang=lang), lang)
        for page in (html, summary):
            lower = page.lower()
            assert "<style" not in lower and "<script" not in lower and "<link" not in lower
            assert not re.search(r'(src|href)\s*=', lower)          # no external resource at all
            assert "max-width: 600px" in page
            assert 'name="viewport"' in page
            assert 'style="' in page and 'class="total-amount"' in page
            total = re.search(r'<td class="total-amount"[^>]*style="([^"]*)"', page)
            assert total and "font-weight: bold" in total.group(1)   # the CSS really got inlined


def test_the_html_templates_are_inlined_once_and_give_what_css_inline_gives():
    """Statements are rendered from their template with its CSS inlined once (outputs/inlining.py),
    never falling back to css_inline on each document, and give, byte for byte, what css_inline
    gives on the ordinary rendering, hostile text included. The summary's template (made the
    ordinary way, once per close) compiles to the same output too."""
    for name in ("statement.html", "summary.html"):
        statements._inlined().compiled(name)           # raises if the compiler cannot follow it
    hostile = ['O\'Brien & Fils "SA" <b>', "Société\u00a0Générale\u202fSA", "a &amp; b &#39; c", "\u2028\ufeff☃"]
    for lang in ("fr", "en"):
        for client in hostile:
            terms = make_terms(lang=lang, client=client, mediator=client)
            terms = replace(terms, contract=replace(terms.contract, provider=client))
            for months, changes in (((disputed_october(),), ()), ((restated_september(), october()),
                                                                 (SEPTEMBER_RESOLVED,))):
                report = make_report(*months, changes=changes, terms=terms, lang=lang)
                result = report.results[0]
                view = statements._with_charts(statements._statement_view(report, result), report, result)
                assert statements._render_html("statement.html", **view) == \
                    statements._render_html_then_inline("statement.html", **view)
            summary = statements._summary_view(report, lang)
            assert statements._render_html("summary.html", **summary) == \
                statements._render_html_then_inline("summary.html", **summary)


@settings(max_examples=60, deadline=None)
@given(client=st.text(max_size=20), mediator=st.text(max_size=10))
def test_any_client_name_gives_what_css_inline_gives(client, mediator):
    terms = make_terms(client=client, mediator=mediator)
    report = make_report(disputed_october(), terms=terms)
    result = report.results[0]
    view = statements._with_charts(statements._statement_view(report, result), report, result)
    assert statements._render_html("statement.html", **view) == \
        statements._render_html_then_inline("statement.html", **view)


def test_templates_are_found_for_an_editable_install():
    folder = statements.templates_dir()
    assert (folder / "statement.html").is_file() and (folder / "statement.txt").is_file()


# --------------------------------------------------------------------------- summary

def portfolio_report() -> CloseReport:
    pme = make_report(restated_september(), october(), changes=[SEPTEMBER_RESOLVED]).results[0]
    watch_terms = make_terms(cid="C-WATCH", client="Hôtel Bellevue", exit_month=12)
    watch_terms = replace(watch_terms, contract=replace(watch_terms.contract, provider="Cabinet Orion"))
    watched = ContractResult("C-WATCH", "settled", "EUR",
                             ExitResult("watch", "2026-12", "2026-10", D("0.65"), D("0.7")),
                             (disputed_october(),), watch_terms)
    yen_terms = make_terms(cid="C-JP", client="Kaisha KK", currency="JPY")
    yen_month = MonthResult("C-JP", "2026-10", "JPY", D("1000000"), D("650000"), D("350000"),
                            D("350000"), D("0"), D("0"), D("0"), "none", D("0"), D("0"),
                            D("1000000"), D("0"), D("1000000"))
    yen = ContractResult("C-JP", "settled", "JPY", ExitResult("ok", "2026-06", "2026-06", D("0.9"),
                                                              D("0.7")), (yen_month,), yen_terms)
    excluded = ContractResult("C-BAD", "excluded", "EUR", ExitResult(""))
    weights = Diagnostic("weights-sum", "error", "weights of C-BAD sum to 0.9, not 1",
                         Source("bad.xlsx", "KPIs", 7, "K", "weight"), "C-BAD",
                         "les poids de C-BAD totalisent 0,9 et non 1")
    unreadable = Diagnostic("unreadable", "error", "not an Excel workbook", Source("broken.xlsx"),
                            None, "ce fichier n'est pas un classeur Excel")
    files = (FileOutcome("bad.xlsx", "aa", "partially_accepted", 1, 0, (weights,), ("C-BAD",)),
             FileOutcome("broken.xlsx", "bb", "rejected", 1, 0, (unreadable,)))
    return CloseReport("2026-10", "20261101T060000Z-ab12cd34", "2026-11-01T06:00:00+00:00",
                       (watched, yen, pme, excluded), files=files, changes=(SEPTEMBER_RESOLVED,),
                       contract_findings={"C-BAD": (1, 0)},
                       names={"C-BAD": ("Client Exclu", "Agence Lumen IA", "EUR")})


def test_summary_totals_per_currency():
    shown = visible(statements.render_summary(portfolio_report()))
    # EUR: C-PME-01 11 780,00 € + C-WATCH 8 810,00 €; JPY kept apart
    assert "Total à facturer (EUR) 20 590,00 €" in shown
    assert "dont octobre 2026 19 050,00 €" in shown and "dont ajustements 1 540,00 €" in shown
    assert "Total à facturer (JPY) 1 000 000 JPY" in shown
    assert "Variable retenu 1 400,00 €" in shown


def test_summary_puts_exit_rights_first_then_watches():
    shown = visible(statements.render_summary(portfolio_report()))
    assert shown.index("Droits de sortie et surveillances") < shown.index("Totaux par devise")
    alerts = shown.split("Droits de sortie et surveillances", 1)[1].split("Totaux par devise", 1)[0]
    assert alerts.index("Droit de sortie ouvert — C-PME-01") < alerts.index("Sous surveillance — C-WATCH")
    assert "(décembre 2026, mois 12 du contrat)" in alerts
    assert "C-JP" not in alerts


def test_long_summary_lists_stop_and_say_where_the_rest_is(monkeypatch):
    monkeypatch.setattr(statements, "SUMMARY_ROWS", 2)
    report = portfolio_report()
    shown = visible(statements.render_summary(report, "en"))
    assert "… and 2 more contracts: see contracts.csv and the Contract status sheet of " \
           "settlement-2026-10.xlsx." in shown
    listed = shown.rsplit("Total to invoice", 1)[-1]      # the contracts list, sorted by id
    assert "C-BAD" in listed and "C-JP" in listed and "C-WATCH" not in listed
    text = statements.render_summary_text(report)
    assert "… et 2 autres contrats : voir contracts.csv" in text
    monkeypatch.setattr(statements, "SUMMARY_ROWS", 300)
    assert "more contracts" not in visible(statements.render_summary(report, "en"))


def test_summary_lists_holds_with_the_mediator():
    shown = visible(statements.render_summary(portfolio_report(), "en"))
    holds = shown.split("Holds and disputes", 1)[1].split("Adjustments explained", 1)[0]
    assert "C-WATCH" in holds and "October 2026: reading disputed" in holds
    assert "Mediator: Mme Durand (CMAP)" in holds and "€1,400.00" in holds


def test_summary_explains_adjustments_by_the_readings_that_moved_them():
    shown = visible(statements.render_summary(portfolio_report()))
    section = shown.split("Ajustements expliqués", 1)[1].split("Contrats exclus", 1)[0]
    assert "« Taux de détection », septembre 2026 : 84 % (contesté) → 83,5 % (vérifié)" in section
    assert "readings.xlsx Readings!D4 · entre dans : septembre 2026 (+1 540,00 €)" in section


def test_summary_reports_excluded_contracts_and_rejected_files_with_their_findings():
    shown = visible(statements.render_summary(portfolio_report()))
    assert "Contrat exclu : C-BAD — Client Exclu (1 erreur)" in shown
    assert "bad.xlsx KPIs!K7 : les poids de C-BAD totalisent 0,9 et non 1" in shown
    assert "Fichier rejeté : broken.xlsx (1 erreur)" in shown
    assert "broken.xlsx : ce fichier n'est pas un classeur Excel" in shown


def test_summary_writes_plurals_and_never_s_in_parentheses():
    report = portfolio_report()
    for lang in ("fr", "en"):
        assert "(s)" not in visible(statements.render_summary(report, lang))
        assert "(s)" not in statements.render_summary_text(report, lang)
    shown = visible(statements.render_summary(report))
    assert "3 contrats clôturés, 1 exclu, 0 non commencé · 2 fichiers reçus, dont 1 rejeté." in shown
    assert "réglé" not in shown


def test_summary_scorecard_per_provider():
    shown = visible(statements.render_summary(portfolio_report(), "en"))
    card = shown.split("Provider scorecard", 1)[1].split("Contracts", 1)[0]
    # Agence Lumen IA, EUR: C-PME-01 over September and October: at stake 7 000,
    # earned 3 500 + 3 400, forfeited 100, one exit right
    assert ("Agence Lumen IA 1 contract · EUR At stake €7,000.00 Earned 98.6% €6,900.00 Forfeited €100.00 "
            "Held + deferred €0.00 Exit rights 1") in card
    assert ("Cabinet Orion 1 contract · EUR At stake €3,500.00 Earned 100% €2,100.00 Forfeited €0.00 "
            "Held + deferred €1,400.00 Exit rights 0") in card
    assert "Agence Lumen IA 1 contract · JPY" in card


# --------------------------------------------------------------------------- files and e-mails

def read_eml(path: Path) -> email.message.EmailMessage:
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def test_write_html_outputs_writes_pages_and_matching_emails(tmp_path):
    report = portfolio_report()
    paths = statements.write_html_outputs(report, tmp_path, sender="Finance <finance@agence.example>",
                                          finance_recipients=["daf@agence.example"])
    names = sorted(str(p.relative_to(tmp_path)) for p in paths)
    assert names == ["statements/C-JP.eml", "statements/C-JP.html", "statements/C-PME-01.eml",
                     "statements/C-PME-01.html", "statements/C-WATCH.eml",
                     "statements/C-WATCH.html", "summary.eml", "summary.html"]
    assert not list(tmp_path.rglob("*.tmp"))
    msg = read_eml(tmp_path / "statements" / "C-PME-01.eml")
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert msg["From"].addresses[0].addr_spec == "finance@agence.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["finance@martin.example"]
    assert msg["Subject"] == "Relevé de performance octobre 2026 — Boulangeries Martin SAS (C-PME-01)"
    assert msg["Date"].datetime.isoformat() == "2026-11-01T06:00:00+00:00"
    assert re.fullmatch(r"<[0-9a-f]{32}@perfsettle\.local>", msg["Message-ID"])
    html = msg.get_body(("html",)).get_content()
    assert html == (tmp_path / "statements" / "C-PME-01.html").read_text(encoding="utf-8")
    assert "TOTAL À FACTURER : 11 780,00 €" in plain(msg.get_body(("plain",)).get_content())
    summary = read_eml(tmp_path / "summary.eml")
    assert [a.addr_spec for a in summary["To"].addresses] == ["daf@agence.example"]
    assert summary["Subject"] == "Clôture octobre 2026 — synthèse"


def test_message_ids_identify_a_run_and_a_contract(tmp_path):
    report = portfolio_report()
    kw = dict(sender="finance@agence.example", finance_recipients=["daf@agence.example"])
    statements.write_html_outputs(report, tmp_path / "a", **kw)
    statements.write_html_outputs(report, tmp_path / "b", **kw)
    statements.write_html_outputs(replace(report, run_id="another-run"), tmp_path / "c", **kw)
    ids = {d: {p.name: read_eml(p)["Message-ID"] for p in (tmp_path / d).rglob("*.eml")}
           for d in "abc"}
    assert ids["a"] == ids["b"]                                       # rewritten: same ids
    assert len(set(ids["a"].values())) == len(ids["a"]) == 4          # one per message
    assert not set(ids["a"].values()) & set(ids["c"].values())        # another close: new ids


def test_without_recipients_the_statement_is_a_draft_and_the_summary_says_so(tmp_path):
    report = make_report(terms=make_terms(contact=""))
    paths = statements.write_html_outputs(report, tmp_path, sender="finance@agence.example",
                                          finance_recipients=[])
    assert sorted(p.name for p in paths) == ["C-PME-01.eml", "C-PME-01.html", "summary.html"]
    draft = read_eml(tmp_path / "statements" / "C-PME-01.eml")
    assert draft["X-Unsent"] == "1" and draft["To"] is None
    assert draft["From"].addresses[0].addr_spec == "finance@agence.example"
    text = statements.render_summary_text(report, "en")
    assert "STATEMENTS NOT E-MAILED\n- C-PME-01 · " in text and "no contact_email: a draft" in text
    assert statements.recipient_problems(report) == [
        ("C-PME-01", "no valid contact_email: statement not e-mailed")]


def test_an_injected_recipient_never_reaches_a_header(tmp_path):
    report = make_report(terms=make_terms(contact="ok@client.example, x@y.example\r\nBcc: spy@evil.example"))
    statements.write_html_outputs(report, tmp_path, sender="finance@agence.example",
                                  finance_recipients=[])
    raw = (tmp_path / "statements" / "C-PME-01.eml").read_bytes()
    assert b"spy@evil.example" not in raw and b"Bcc" not in raw
    assert read_eml(tmp_path / "statements" / "C-PME-01.eml")["To"] == "ok@client.example"
    assert statements.recipient_problems(report)[0][0] == "C-PME-01"
    with pytest.raises(ValueError):
        statements.write_html_outputs(report, tmp_path, sender="finance@agence.example\nBcc: x@y.z",
                                      finance_recipients=[])


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "", ".hidden", "x" * 65])
def test_a_contract_id_never_escapes_the_outbox(tmp_path, bad_id):
    terms = make_terms()
    terms = replace(terms, contract=replace(terms.contract, contract_id=bad_id))
    result = ContractResult(bad_id, "settled", "EUR", EXIT_RIGHT, (october(),), terms)
    report = replace(make_report(), results=(result,))
    with pytest.raises(ValueError, match="unsafe contract id"):
        statements.write_html_outputs(report, tmp_path / "out", sender="finance@agence.example",
                                      finance_recipients=[])
    assert not (tmp_path / "escape.html").exists()
    assert [p.name for p in (tmp_path / "out" / "statements").iterdir()] == []


# --------------------------------------------------------------------------- golden files

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(os.environ.get("PERFSETTLE_EXAMPLES", REPO_EXAMPLES))
UPDATE = os.environ.get("PERFSETTLE_UPDATE_GOLDEN") == "1"


def _perfsettle() -> list[str]:
    exe = Path(sys.executable).parent / "perfsettle"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "perfsettle.cli"]


def normalise(html: str, text: str) -> tuple[str, str]:
    """Mask only what changes from run to run: the run id and the close time."""
    volatile = re.findall(r'<span data-volatile="(\w+)">([^<]*)</span>', html)
    for kind, value in volatile:
        html = html.replace(value, f"[{kind}]")
        text = text.replace(value, f"[{kind}]")
    return html, text


def run_scenario(scenario: str, workdir: Path) -> list[Path]:
    """Run every step of an example against one store; return each step's outbox folder."""
    outdirs = []
    for step in sorted((EXAMPLES / scenario).glob("step-*")):
        inbox = workdir / "inbox"
        inbox.mkdir(exist_ok=True)
        for f in (step / "inbox").iterdir():
            shutil.copy2(f, inbox / f.name)
        period = (step / "period").read_text().strip()
        proc = subprocess.run(_perfsettle() + [
            "run", "--period", period, "--min-age", "0", "--inbox", str(inbox),
            "--outbox", str(workdir / "outbox"), "--store", str(workdir / "store.sqlite")],
            cwd=workdir, capture_output=True, text=True, timeout=300)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        outdirs.append((step.name, workdir / "outbox" / period))
    return outdirs


def check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with PERFSETTLE_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} differs from its golden file"


needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="shared examples not available")


@needs_examples
@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["portfolio-basic", "opening-balance"])
def test_statements_of_the_shared_examples_match_their_golden_files(tmp_path, scenario):
    compared = 0
    languages = set()
    for step, outdir in run_scenario(scenario, tmp_path):
        for page in sorted((outdir / "statements").glob("*.html")):
            html = page.read_text(encoding="utf-8")
            eml = page.with_suffix(".eml")
            text = ""
            if eml.exists():
                msg = read_eml(eml)
                assert msg.get_body(("html",)).get_content() == html
                text = msg.get_body(("plain",)).get_content()
            html, text = normalise(html, text)
            assert "[run]" in html and "[when]" in html
            languages.add(re.search(r'<html lang="(\w+)"', html).group(1))
            check_golden(GOLDEN / scenario / step / page.name, html)
            if text:
                check_golden(GOLDEN / scenario / step / page.with_suffix(".txt").name, text)
            compared += 1
        summary, _ = normalise((outdir / "summary.html").read_text(encoding="utf-8"), "")
        check_golden(GOLDEN / scenario / step / "summary.html", summary)
    assert compared >= 1
    if scenario == "portfolio-basic":
        assert languages == {"fr", "en"}


@needs_examples
@pytest.mark.slow
def test_example_emails_parse_back_with_their_recipients(tmp_path):
    outdirs = dict(run_scenario("portfolio-basic", tmp_path))
    scenario = json.loads((EXAMPLES / "portfolio-basic" / "step-1" / "scenario.json").read_text())
    contacts = {c["contract_id"]: c.get("contact_email", "")
                for wb in scenario.values() for c in wb["contracts"]}
    for step, outdir in outdirs.items():
        emls = sorted((outdir / "statements").glob("*.eml"))
        assert [p.stem for p in emls] == ["C-ETI-02", "C-PME-01"]      # the not-started TPE has none
        for path in emls:
            msg = read_eml(path)
            expected = [a.strip() for a in contacts[path.stem].split(",")]
            assert [a.addr_spec for a in msg["To"].addresses] == expected
            assert path.stem in msg["Subject"]
            assert msg["Date"] and msg["Message-ID"]
            assert msg["From"] is None   # From and Reply-To are the configured sender's, set when sending
            assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_a_month_invoiced_outside_perfsettle_names_its_invoice(tmp_path):
    """The Invoiced sheet's invoice_number is printed where the statement says the amount
    already invoiced came from outside perfsettle."""
    outdir = dict(run_scenario("invoices", tmp_path))["step-1"]
    texts = [p.read_text(encoding="utf-8") for p in (outdir / "statements").glob("*.html")]
    assert any("FM-2026-118" in t and "Déjà facturé" in t for t in texts)


def test_the_summary_caps_every_list_and_says_how_many_more():
    from perfsettle.outputs.i18n import translator
    from perfsettle.outputs.statements import SUMMARY_ROWS, _capped
    rows = list(range(SUMMARY_ROWS + 5))
    unsent = _capped("unsent", rows, translator("en"), period="2026-10")
    assert unsent["unsent"] == rows[:SUMMARY_ROWS]
    assert unsent["unsent_more"] == "… and 5 more statement(s) not e-mailed: see the drafts in statements/."
    assert "5 more contracts" in _capped("contracts", rows, translator("en"), period="2026-10")["contracts_more"]
    assert _capped("unsent", rows[:3], translator("en"), period="2026-10") == {"unsent": rows[:3], "unsent_more": ""}
