"""What statements and the summary say about the money: badges, held readings, opening
balances, the adjustments and what moved them, French wording, times and a phone's width.

Every report here comes from the settlement engine: a PME pays 10 000 €/month, 35 %
variable, split 60/40 between detection (absolute 80 %) and stability (absolute 98 %); ROI
drives a bonus-malus (target 25 %, ±10 % of the earned variable).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import pytest

from perfsettle.core.model import CloseReport, Contract, Kpi, Reading, ReadingChange, Terms
from perfsettle.core.settle import settle
from perfsettle.outputs import statements

CID = "C-PME-01"


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def visible(html: str) -> str:
    import html as _html
    text = re.sub(r"<div class=\"preheader\".*?</div>", "", html, flags=re.S)
    text = _html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(plain(text).split())


def terms(lang="fr", requires_verified=False) -> Terms:
    c = Contract(CID, "Boulangeries Martin SAS", "Agence Lumen IA", "PME", "EUR", "2026-01", 12,
                 D("10000"), D("0.35"), requires_verified=requires_verified, bonus_kpi="roi",
                 bonus_target=D("0.25"), mediator="Mme Durand (CMAP)",
                 contact_email="finance@martin.example", language=lang)
    kpis = (Kpi(CID, "detection", "Taux de détection", "operational", "higher", "absolute", D("0.8"), D("0.6"), "%"),
            Kpi(CID, "roi", "Rentabilité IA", "financial", "higher", "absolute", D("0.25"), D("0"), "%"),
            Kpi(CID, "stability", "Stabilité du modèle", "robustness", "higher", "absolute", D("0.98"), D("0.4"), "%"))
    return Terms(c, kpis)


def readings(over: dict | None = None) -> dict:
    """Every reading verified and met in September and October, but for ``over``:
    {(kpi_id, month): (value, status)}."""
    out = {}
    for month in ("2026-09", "2026-10"):
        for kid, value in (("detection", "0.85"), ("stability", "0.99"), ("roi", "0.3")):
            out[(CID, kid, month)] = Reading(CID, kid, month, D(value), "verified")
    for (kid, month), (value, status) in (over or {}).items():
        out[(CID, kid, month)] = Reading(CID, kid, month, None if value is None else D(value), status)
    return out


def report(t: Terms, rs: dict, *, ledger=None, changes=(), openings=None, period="2026-10") -> CloseReport:
    book = dict(ledger or {})
    for k, a in (openings or {}).items():
        book[k] = book.get(k, D(0)) + a
    (result,) = settle([t], rs.values(), book, period)
    return CloseReport(period, "20261201T060000Z-ab12cd34", "2026-12-01T06:00:00+00:00", (result,),
                       changes=tuple(changes), readings=rs, openings=dict(openings or {}))


def statement(rep: CloseReport) -> str:
    html, _text = statements.render_statement(rep, rep.results[0])
    return visible(html)


def kpi_block(shown: str, name: str) -> str:
    kpis = re.split(r"Indicateurs de performance|Performance indicators", shown, maxsplit=1)[1]
    return kpis.split(name, 1)[1][:400]


def badges(html: str) -> list[tuple[str, str]]:
    """(css class, label) of each KPI badge."""
    return re.findall(r'<span class="pill pill-(\w+)"[^>]*>([^<]*)<', html)


# --------------------------------------------------------------------------- badges

def test_a_kpi_that_earned_nothing_is_missed_not_earned():
    rep = report(terms(), readings({("detection", "2026-10"): ("0.5", "verified")}))
    html, _ = statements.render_statement(rep, rep.results[0])
    assert badges(html) == [("missed", "non atteint"), ("met", "atteint")]    # detection, stability
    en = report(terms("en"), readings({("detection", "2026-10"): ("0.5", "verified")}))
    html, text = statements.render_statement(en, en.results[0])
    assert badges(html) == [("missed", "missed"), ("met", "met")]
    assert "[missed]" in text and "[met]" in text


def test_a_linear_kpi_between_floor_and_target_is_partly_met():
    t = terms()
    kpis = tuple(Kpi(CID, "detection", "Taux de détection", "operational", "higher", "absolute", D("0.8"),
                     D("0.6"), "%", floor=D("0.7")) if k.kpi_id == "detection" else k for k in t.kpis)
    rep = report(Terms(t.contract, kpis), readings({("detection", "2026-10"): ("0.75", "verified")}))
    html, _ = statements.render_statement(rep, rep.results[0])
    assert badges(html)[0] == ("partly", "partiellement atteint")


# --------------------------------------------------------------------------- held readings

def test_a_held_kpi_shows_its_provisional_reading_and_why_it_does_not_count():
    rep = report(terms(requires_verified=True), readings({("stability", "2026-10"): ("0.991", "provisional")}))
    shown = statement(rep)
    block = kpi_block(shown, "Stabilité du modèle")
    assert "retenu" in block
    assert "Relevé 99,1 % (provisoire), ne compte pas encore" in block
    assert "Relevé —" not in block
    assert "octobre 2026 : relevé 99,1 % provisoire, or le contrat exige des relevés vérifiés" in block


def test_the_summary_says_why_a_held_reading_does_not_count():
    rep = report(terms(requires_verified=True), readings({("stability", "2026-10"): ("0.991", "provisional")}))
    holds = visible(statements.render_summary(rep)).split("Retenues et contestations", 1)[1].split("Ajustements", 1)[0]
    assert "octobre 2026 : relevé 99,1 % provisoire, or le contrat exige des relevés vérifiés" in holds


def test_a_held_kpi_with_a_disputed_reading_shows_it():
    rep = report(terms("en"), readings({("stability", "2026-10"): ("0.97", "disputed")}))
    block = kpi_block(statement(rep), "Stabilité du modèle")
    assert "Reading 97% (disputed), does not count yet" in block
    assert "October 2026: reading 97% is disputed" in block


# --------------------------------------------------------------------------- opening balance

def test_the_opening_balance_is_named_where_it_matters():
    # September was invoiced by hand (Invoiced sheet): 9 000 €; perfsettle's first close is October.
    rep = report(terms(), readings(), openings={(CID, "2026-09"): D("9000.00")})
    shown = statement(rep)
    adjustments = shown.split("Ajustements des mois antérieurs", 1)[1]
    assert "Déjà facturé (hors perfsettle)" not in adjustments
    assert "le déjà facturé (9 000,00 €) vient de la feuille Déjà facturé (facturé hors perfsettle)" in adjustments
    summary = visible(statements.render_summary(rep))
    assert "vient de la feuille Déjà facturé (facturé hors perfsettle)" in summary


def test_the_months_own_line_names_the_invoiced_sheet():
    rep = report(terms("en"), readings(), openings={(CID, "2026-10"): D("5000.00")})
    shown = statement(rep)
    assert "Already invoiced outside perfsettle (Invoiced sheet) €5,000.00" in shown


# --------------------------------------------------------------------------- attribution

def _september_restated(lang="fr"):
    """September was closed with stability disputed (held) and ROI at 20 % (malus); October's
    close brings stability verified at 95 % (missed: held → forfeited) and ROI corrected to
    30 % (bonus instead of malus)."""
    t = terms(lang)
    old = readings({("stability", "2026-09"): ("0.95", "disputed"), ("roi", "2026-09"): ("0.2", "verified")})
    (first,) = settle([t], [r for r in old.values() if r.month == "2026-09"], {}, "2026-09")
    ledger = {(CID, m.month): m.invoice_now for m in first.months}
    new = readings({("stability", "2026-09"): ("0.95", "verified")})
    changes = (ReadingChange(CID, "stability", "2026-09", D("0.95"), "disputed", D("0.95"), "verified",
                             "readings.xlsx", "Readings!D3"),
               ReadingChange(CID, "roi", "2026-09", D("0.2"), "verified", D("0.3"), "verified",
                             "readings.xlsx", "Readings!D4"))
    rep = report(t, new, ledger=ledger, changes=changes)
    (sept,) = [m for m in rep.results[0].months if m.month == "2026-09"]
    return rep, sept


def test_each_adjustment_names_the_reading_that_moved_the_money():
    rep, sept = _september_restated()
    # earned = fixed 6 500 + detection 2 100 (stability forfeited); bonus 210 instead of malus 210
    assert sept.invoice_now == D("420.00")
    shown = statement(rep)
    adjustments = shown.split("Ajustements des mois antérieurs", 1)[1]
    assert "« Rentabilité IA », septembre 2026 : 20 % (vérifié) → 30 % (vérifié) : +420,00 €" in adjustments
    assert ("« Stabilité du modèle », septembre 2026 : 95 % (contesté) → 95 % (vérifié) : aucun montant "
            "facturé ne change (« Stabilité du modèle » passe de retenu à perdu : 1 400,00 € désormais perdus)"
            ) in adjustments
    assert "Stabilité du modèle », septembre 2026 : 95 % (contesté) → 95 % (vérifié) : +420" not in adjustments


def test_the_summary_attributes_adjustments_the_same_way():
    rep, _ = _september_restated("en")
    shown = visible(statements.render_summary(rep, "en"))
    section = shown.split("Adjustments explained", 1)[1]
    assert "“Rentabilité IA”, September 2026: 20% (verified) → 30% (verified): +€420.00" in section
    assert "goes from held to forfeited: €1,400.00 now lost" in section
    changed = section.split("Readings changed by this close", 1)[1].split("Month Adjustment", 1)[0]
    assert "readings.xlsx Readings!D4 · feeds: September 2026 (+€420.00)" in changed
    assert ("readings.xlsx Readings!D3 · no invoiced amount moves in September 2026 (“Stabilité du modèle” "
            "goes from held to forfeited: €1,400.00 now lost)") in changed


# --------------------------------------------------------------------------- wording and times

def test_french_wording_dates_and_times_in_the_readers_zone():
    rep = report(terms(), readings())
    summary = visible(statements.render_summary(rep))
    shown = statement(rep)
    for text in (summary, shown):
        assert "réglé" not in text and "(s)" not in text
        assert "1er décembre 2026 à 07:00 (Europe/Paris)" in text       # 06:00 UTC
    assert "clôturé" in summary
    html, _ = statements.render_statement(rep, rep.results[0], timezone="America/New_York")
    assert "1er décembre 2026 à 01:00 (America/New_York)" in visible(html)
    en = report(terms("en"), readings())
    assert "1 December 2026 at 07:00 (Europe/Paris)" in statement(en)


# --------------------------------------------------------------------------- a phone's width

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def summary_width(html: str, folder: Path, viewport: int = 420) -> tuple[int, int]:
    """(layout width, viewport) of a page shown in a frame ``viewport`` px wide, by Chromium."""
    (folder / "page.html").write_text(html, encoding="utf-8")
    (folder / "phone.html").write_text(
        '<html><body style="margin:0"><iframe id="f" src="page.html" '
        f'style="width:{viewport}px;height:900px;border:0"></iframe><script>'
        "document.getElementById('f').onload=function(){var d=this.contentDocument;"
        "document.title='W'+d.documentElement.scrollWidth+'/'+this.contentWindow.innerWidth;};"
        "</script></body></html>", encoding="utf-8")
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--allow-file-access-from-files", "--virtual-time-budget=5000",
                           f"--window-size={viewport},900", "--dump-dom", (folder / "phone.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    m = re.search(r"<title>W(\d+)/(\d+)</title>", proc.stdout)
    assert m, proc.stderr[-1000:]
    return int(m.group(1)), int(m.group(2))


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium")
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_summary_fits_a_phone(tmp_path, lang):
    """At a 420 px viewport, the summary is no wider than the screen (no horizontal scrolling,
    no amount cut off); the statements already fit."""
    rep, _ = _september_restated(lang)
    rep = CloseReport(rep.period, rep.run_id, rep.started_at, rep.results, changes=rep.changes,
                      readings=rep.readings, names=rep.names)
    width, viewport = summary_width(statements.render_summary(rep, lang), tmp_path)
    assert viewport == 420
    assert width <= viewport, f"the summary is {width} px wide at a {viewport} px viewport"
    html, _ = statements.render_statement(rep, rep.results[0])
    width, _ = summary_width(html, tmp_path)
    assert width <= viewport, f"the statement is {width} px wide at a {viewport} px viewport"
    from test_statements import portfolio_report      # excluded contracts, rejected files, two currencies
    width, _ = summary_width(statements.render_summary(portfolio_report(), lang), tmp_path)
    assert width <= viewport, f"the portfolio summary is {width} px wide at a {viewport} px viewport"


def test_explain_names_the_invoiced_sheet():
    from perfsettle.outputs.explain import explain
    rep = report(terms("en"), readings(), openings={(CID, "2026-09"): D("9000.00")})
    text = plain(explain(rep.results[0], "2026-09", "en", openings={"2026-09": D("9000.00")}))
    assert "Invoiced before for this month: €9,000.00, invoiced outside perfsettle (Invoiced sheet)" in text
    text = plain(explain(rep.results[0], "2026-09", "fr", openings={"2026-09": D("9000.00")}))
    assert "Déjà facturé pour ce mois : 9 000,00 €, facturés hors perfsettle (feuille Déjà facturé)" in text
