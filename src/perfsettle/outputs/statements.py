"""HTML statements, the finance summary and their e-mails (SPEC §5, human outputs).

``render_statement`` and ``render_summary`` turn a CloseReport into e-mail-safe HTML: Jinja2
templates with autoescape, table layout, CSS inlined as css_inline inlines it, no script and no
external resource. The statement template has its CSS inlined once, when it is loaded
(``inlining``), rather than in each of thousands of statements; the summary, made once per
close, is rendered and then inlined whole. The views built here hold display text only (amounts,
months and percentages are formatted by ``formatting`` from exact Decimals; no markup); the
templates only lay them out.
"""
from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import css_inline
from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from perfsettle.outputs import attribution
from perfsettle.outputs import formatting as fmt
from perfsettle.outputs.inlining import InlinedTemplates, ViewEnvironment
from perfsettle.outputs import messages
from perfsettle.infra.files import write_atomic
from perfsettle.core import months
from perfsettle.core.terms import Schedule
from perfsettle.outputs.i18n import PHRASES as _PHRASES, translator
from perfsettle.core.model import CloseReport, ContractResult, Kpi, KpiResult, MonthResult, ReadingChange, Terms

log = logging.getLogger(__name__)

CONTRACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
FIRST_FINDINGS = 3
TIMEZONE = "Europe/Paris"    # where people read the close time, unless the configuration says otherwise

_t = translator


# --------------------------------------------------------------------------- templates

def templates_dir() -> Path:
    """The installed ``perfsettle/templates`` folder, else the repository's ``templates/``."""
    package = Path(__file__).resolve().parents[1]          # src/perfsettle, or site-packages/perfsettle
    for candidate in (package / "templates", package.parents[1] / "templates"):
        if (candidate / "statement.html").is_file():
            return candidate
    raise FileNotFoundError("perfsettle templates not found (statement.html)")


@lru_cache(maxsize=1)
def _env() -> Environment:
    return ViewEnvironment(loader=FileSystemLoader(str(templates_dir())),
                           autoescape=select_autoescape(["html"], default_for_string=True),
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=True)


_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False,
                                 keep_link_tags=False)


@lru_cache(maxsize=1)
def _inlined() -> InlinedTemplates:
    """The HTML templates with their CSS inlined once (``inlining``), not once per statement."""
    return InlinedTemplates(_env(), _INLINER)


def prepare() -> None:
    """Compile the statement templates now (a tenth of a second): before the render workers
    fork, so that they inherit them instead of each compiling them."""
    _inlined().compiled("statement.html")
    _env().get_template("statement.txt")


def _render_html(name: str, **view) -> str:
    """A statement's HTML, from its template with the CSS inlined once (thousands per close)."""
    return _document(_inlined().render(name, **view))


def _render_html_then_inline(name: str, **view) -> str:
    """The same document made the ordinary way: the template rendered, then css_inline on the
    whole of it. The summary is made this way: rendered once per close, compiling its template
    would cost as much as inlining it."""
    return _document(_inlined().reference(name, **view))


def _document(inlined: str) -> str:
    if inlined.lstrip()[:9].lower() != "<!doctype":
        inlined = "<!DOCTYPE html>\n" + inlined
    return inlined.rstrip("\n") + "\n"


def _render_text(name: str, **view) -> str:
    return _env().get_template(name).render(**view)


# --------------------------------------------------------------------------- shared views

def _close_time(report: CloseReport) -> _dt.datetime | None:
    return _moment(report.started_at)


def _moment(started_at: str) -> _dt.datetime | None:
    try:
        moment = _dt.datetime.fromisoformat(started_at)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _when(report: CloseReport, lang: str, timezone: str = TIMEZONE) -> str:
    return _when_text(report.started_at, lang, timezone)


@lru_cache(maxsize=64)   # one close time per run, printed on every statement
def _when_text(started_at: str, lang: str, timezone: str = TIMEZONE) -> str:
    """The close time in the reader's time zone: ``1er novembre 2026 à 07:00 (Europe/Paris)``."""
    import zoneinfo
    moment = _moment(started_at)
    if moment is None:
        return started_at
    zone = zoneinfo.ZoneInfo(timezone)
    local = moment.astimezone(zone)
    day = "'1er'" if lang != "en" and local.day == 1 else "d"
    pattern = _PHRASES["when"][1 if lang == "en" else 0].replace("{day}", day)
    return format_datetime(local, pattern, tzinfo=zone, locale=fmt.locale_for(lang)) + f" ({timezone})"


def _footer(key: str, report: CloseReport, lang: str, timezone: str = TIMEZONE, **kw) -> dict:
    """The footer line as text, and as (text, volatile) parts for HTML, where the run id and
    the time are marked volatile (``<span data-volatile="run">``)."""
    phrase = _PHRASES[key][1 if lang == "en" else 0]
    run, when = report.run_id, _when(report, lang, timezone)
    parts = []
    for piece in re.split(r"(\{run\}|\{when\})", phrase):
        if piece in ("{run}", "{when}"):
            parts.append((run, "run") if piece == "{run}" else (when, "when"))
        elif piece:
            parts.append((piece.format(**kw), ""))
    return {"footer_parts": parts, "footer_text": phrase.format(run=run, when=when, **kw)}


def _reason_items(problems, lang: str) -> list[str]:
    """The engine's problem months (month, why) in words."""
    t = _t(lang)
    return [t("r_" + p.why, month=fmt.month(p.month, lang)) for p in problems]


def _kpi_name(terms: Terms | None, kpi_id: str) -> str:
    kpi = terms.kpi(kpi_id) if terms else None
    return kpi.name if kpi and kpi.name else kpi_id


def _unit(terms: Terms | None, kpi_id: str) -> str:
    kpi = terms.kpi(kpi_id) if terms else None
    return kpi.unit if kpi else ""


def _reading_text(value: Decimal | None, status: str | None, unit: str, lang: str) -> str:
    t = _t(lang)
    if status is None:
        return t("no_reading")
    if status == "void":
        return t("withdrawn")
    label = t(status) if status in ("verified", "provisional", "disputed") else status
    return label if value is None else f"{fmt.kpi_value(value, unit, lang)} ({label})"


def _change_text(change: ReadingChange, terms: Terms | None, lang: str) -> str:
    unit = _unit(terms, change.kpi_id)
    text = _t(lang)("change", kpi=_kpi_name(terms, change.kpi_id),
                    month=fmt.month(change.month, lang),
                    old=_reading_text(change.old_value, change.old_status, unit, lang),
                    new=_reading_text(change.new_value, change.new_status, unit, lang))
    return text + (f" — {change.comment}" if change.comment else "")


def _window_of(kpi_id: str, m: MonthResult, terms: Terms | None) -> set[str]:
    """Calendar months of readings that entered the settlement of month m through kpi_id."""
    found: set[str] = set()
    for kr in m.kpis:
        if kr.kpi_id == kpi_id:
            found.update(kr.window or (kr.evaluated_month or kr.month,))
    contract = terms.contract if terms else None
    if contract and kpi_id == contract.bonus_kpi:
        kpi = terms.kpi(kpi_id)
        width = kpi.window_months if kpi else 1
        found.update(months.add(m.month, -i) for i in range(width))
    return found


def _moved_by(change: ReadingChange, result: ContractResult, among: list[MonthResult]) -> list[MonthResult]:
    """The months of ``result`` among ``among`` whose settlement used the changed reading."""
    return [m for m in result.months if m in among and change.month in _window_of(change.kpi_id, m, result.terms)]


def _changes_of(report: CloseReport, contract_id: str) -> tuple[ReadingChange, ...]:
    return report.changes_of(contract_id)


def _opening(report: CloseReport, m: MonthResult) -> Decimal | None:
    """What the Invoiced sheet says was invoiced for this month outside perfsettle."""
    return report.openings.get((m.contract_id, m.month))


def _recalculated(m: MonthResult, report: CloseReport, lang: str) -> str:
    t = _t(lang)
    amount = fmt.money(m.invoiced_before, m.currency, lang)
    opening = _opening(report, m)
    if opening is not None and opening == m.invoiced_before:
        number = report.opening_invoices.get((m.contract_id, m.month))
        return t("recalculated_opening", amount=amount, invoice=t("opening_invoice", number=number) if number else "")
    return t("recalculated", amount=amount)


_MOVES: dict = {}   # (id(report), id(result)) -> (report, result, moves): one re-settlement per contract


def _moves_of(report: CloseReport, result: ContractResult):
    key = (id(report), id(result))
    hit = _MOVES.get(key)
    if hit is not None and hit[0] is report and hit[1] is result:
        return hit[2]
    if len(_MOVES) > 512:
        _MOVES.clear()
    found = attribution.moves(result, _changes_of(report, result.contract_id), report.readings, report.period,
                              own=report.readings_of(result.contract_id))
    _MOVES[key] = (report, result, found)
    return found


def _move_text(move: attribution.Move, result: ContractResult, m: MonthResult, lang: str) -> str:
    t = _t(lang)
    change = _change_text(move.change, result.terms, lang)
    if move.amount:
        return t("moved", change=change, amount=fmt.signed(fmt.money(move.amount, m.currency, lang), move.amount))
    return t("moved_nothing", change=change, what=_what_it_did(move, result, m, lang))


def _what_it_did(move: attribution.Move, result: ContractResult, m: MonthResult, lang: str) -> str:
    """What a change that moved no invoiced amount did: held → forfeited, with the amount now lost."""
    t = _t(lang)
    what = []
    for kpi_id, was, now, amount in move.statuses:
        name = _kpi_name(result.terms, kpi_id) if kpi_id else t("bonus_title")
        if was == "held" and now == "forfeited":
            what.append(t("held_to_forfeited", kpi=name, amount=fmt.money(amount, m.currency, lang)))
        elif was == "held":
            what.append(t("held_to_earned", kpi=name))
        elif now == "held":
            what.append(t("to_held", kpi=name, amount=fmt.money(amount, m.currency, lang)))
    return "; ".join(what) or t("no_effect")


def _adjustment_causes(m: MonthResult, result: ContractResult, report: CloseReport,
                       lang: str) -> list[str]:
    t = _t(lang)
    if not m.in_term:
        return [t("out_of_term")]
    if m.invoiced_before == 0:
        return [t("first_invoice")]
    opening = _opening(report, m)
    if opening is not None and opening == m.invoiced_before:
        # perfsettle settles this month for the first time: what it was compared with is the
        # Invoiced sheet's amount, not an earlier close that a reading could have moved.
        return [_recalculated(m, report, lang)]
    found = _moves_of(report, result)
    if found is not None:
        # Follow the money: each change by the amount it moved in this month.
        month_moves = found.get(m.month, [])
        causes = [_move_text(mv, result, m, lang) for mv in month_moves]
        rest = m.invoice_now - sum((mv.amount for mv in month_moves), Decimal(0))
        terms = _restated_terms(report, result.contract_id, lang)
        if causes and rest:
            phrase = "terms_causes" if terms else "other_causes"
            causes.append(t(phrase, amount=fmt.signed(fmt.money(rest, m.currency, lang), rest), terms=terms))
        if not causes and terms and m.invoice_now:
            return [t("terms_only", terms=terms)]
        return causes or [_recalculated(m, report, lang)]
    causes = [_change_text(c, result.terms, lang) for c in _changes_of(report, result.contract_id)
              if c.month in _window_of(c.kpi_id, m, result.terms)]
    terms = _restated_terms(report, result.contract_id, lang)
    if not causes and terms and m.invoice_now:
        return [t("terms_only", terms=terms)]
    return causes or [_recalculated(m, report, lang)]


def _restated_terms(report: CloseReport, contract_id: str, lang: str) -> str:
    """The Contracts/KPIs terms this run corrected for a contract already invoiced (the
    ``terms-restated`` findings), as ``column: old → new`` items."""
    t = _t(lang)
    items = []
    for f in report.files:
        for d in f.diagnostics:
            if d.code == "terms-restated" and d.contract_id == contract_id:
                data = d.fields
                item = t("term_change", column=data.get("column", ""), old=data.get("old", ""), new=data.get("new", ""))
                if item not in items:
                    items.append(item)
    return "; ".join(items)


def _period_month(report: CloseReport, result: ContractResult) -> MonthResult | None:
    """The latest settlement of the close period itself, when it is in the contract's term."""
    found = [m for m in result.months if m.month == report.period and m.in_term]
    return found[-1] if found else None


def _adjusted_months(report: CloseReport, result: ContractResult) -> list[MonthResult]:
    """Months other than the period (or out of the term) whose invoice changes now."""
    return [m for m in result.months
            if m.invoice_now != 0 and (m.month != report.period or not m.in_term)]


def _disputed(result: ContractResult, report: CloseReport, lang: str) -> list[str]:
    """Disputed readings that hold something in this statement (period month or adjustments)."""
    terms, contract = result.terms, result.terms.contract
    pm = _period_month(report, result)
    held: list[tuple[str, tuple]] = []          # (kpi_id, the engine's problem months)
    for m in ([pm] if pm else []) + _adjusted_months(report, result):
        held += [(kr.kpi_id, kr.problems) for kr in m.kpis if kr.status == "held"]
        if m.bonus_malus == "held":
            held.append((contract.bonus_kpi or "", m.bonus_problems))
    if result.exit.status == "undetermined":
        held.append((contract.exit_kpi or "", result.exit.problems))
    items: list[str] = []
    for kpi_id, problems in held:
        parts = [p for p in problems if p.why == "disputed"]
        if parts:
            text = f"{_kpi_name(terms, kpi_id)}, " + ", ".join(_reason_items(parts, lang))
            if text not in items:
                items.append(text)
    return items


def _exit_view(result: ContractResult, report: CloseReport, lang: str) -> dict | None:
    t = _t(lang)
    contract = result.terms.contract
    x = result.exit
    if not contract.exit_kpi or x.status in ("n/a", ""):
        return None
    kpi = result.terms.kpi(contract.exit_kpi)
    unit = kpi.unit if kpi else ""
    direction = kpi.direction if kpi else "higher"
    threshold = x.threshold if x.threshold is not None else contract.exit_threshold
    exit_month = x.month or months.calendar_month(contract.start_month,
                                                  contract.effective_exit_month)
    value = fmt.kpi_value(x.value, unit, lang)
    thr = fmt.kpi_value(threshold, unit, lang)
    if x.status == "exit_right" and x.deadline:
        detail = t("xd_exit_right_until", value=value, threshold=thr, month=fmt.month(x.deadline, lang))
    elif x.status == "exit_right":
        detail = t("xd_exit_right", value=value, threshold=thr)
    elif x.status in ("exercised", "lapsed"):
        detail = t("xd_" + x.status, value=value, threshold=thr, month=fmt.month(x.deadline or exit_month, lang),
                   last=fmt.month(result.last_month or exit_month, lang))
    elif x.status == "watch":
        detail = t("xd_watch", month=fmt.month(x.evaluated_month or report.period, lang),
                   value=value, threshold=thr)
    elif x.status == "undetermined":
        detail = t("xd_undetermined", reason="; ".join(_reason_items(x.problems, lang)) or "—")
    elif exit_month <= report.period:
        detail = t("xd_ok_past", value=value, threshold=thr)
    elif x.value is not None:
        detail = t("xd_ok_future_value", month=fmt.month(x.evaluated_month or report.period, lang),
                   value=value, threshold=thr)
    else:
        detail = t("xd_ok_future")
    return {
        "status": x.status, "label": t("x_" + x.status),
        "rule": t("exit_rule", month=fmt.month(exit_month, lang), n=contract.effective_exit_month,
                  kpi=_kpi_name(result.terms, contract.exit_kpi),
                  cmp=t("cmp_" + direction), threshold=thr),
        "detail": detail,
        "tone": {"exit_right": "bad", "exercised": "bad", "watch": "warn", "undetermined": "warn"}.get(x.status, "good"),
    }


# --------------------------------------------------------------------------- statement

def _definition(kpi: Kpi | None, change: Decimal | None, level: Decimal, lang: str) -> str:
    t = _t(lang)
    unit = kpi.unit if kpi else ""
    shown = fmt.kpi_value(level, unit, lang)
    if kpi is None or change is None or kpi.target_mode == "absolute" or kpi.baseline is None:
        return t("def_absolute", level=shown)
    return t("def_" + kpi.target_mode, change=fmt.kpi_change(change, unit, kpi.target_mode, lang),
             base=fmt.kpi_value(kpi.baseline, unit, lang), level=shown)


def badge(kr: KpiResult) -> str:
    """What happened to the KPI's money: met, partly (met), missed, held or deferred."""
    if kr.status != "earned":
        return kr.status
    if kr.pool_k:
        return "met" if kr.earned_k == kr.pool_k else "missed" if kr.earned_k == 0 else "partly"
    a = kr.attainment
    return "met" if a is not None and a >= 1 else "missed" if not a else "partly"


def _held_reading(kr: KpiResult, unit: str, lang: str, readings: dict) -> tuple[str, list[str]]:
    """A held KPI's latest reading, and for each month why it does not count."""
    t = _t(lang)
    latest = None
    for month in reversed(kr.window or (kr.evaluated_month or kr.month,)):
        r = readings.get((kr.contract_id, kr.kpi_id, month))
        if r is not None and r.value is not None and r.status != "void":
            latest = r
            break
    reasons = []
    for problem in kr.problems:
        r = readings.get((kr.contract_id, kr.kpi_id, problem.month))
        if r is not None and r.value is not None and problem.why in ("unverified", "disputed"):
            reasons.append(t("held_why_" + problem.why, month=fmt.month(problem.month, lang),
                             value=fmt.kpi_value(r.value, unit, lang)))
        else:
            reasons.append(t("r_" + problem.why, month=fmt.month(problem.month, lang)))
    if latest is None:
        return fmt.DASH, reasons
    shown = _reading_text(latest.value, latest.status, unit, lang)
    return t("held_reading", reading=shown), reasons


def _kpi_view(kr: KpiResult, terms: Terms, currency: str, lang: str, readings: dict | None = None) -> dict:
    t = _t(lang)
    kpi = terms.kpi(kr.kpi_id)
    unit = kpi.unit if kpi else ""
    cmp = "≤" if kpi and kpi.direction == "lower" else "≥"
    notes = []
    if len(kr.window) > 1:
        notes.append(t("window_mean" if kpi is not None and kpi.window_agg == "mean" else "window", n=len(kr.window), first=fmt.month(kr.window[0], lang),
                       last=fmt.month(kr.window[-1], lang)))
    if kr.evaluated_month and kr.evaluated_month != kr.month and kr.status != "deferred":
        notes.append(t("at_due", month=fmt.month(kr.evaluated_month, lang)))
    amounts = []
    if kr.status == "earned":
        amounts.append((t("amt_earned"), fmt.money(kr.earned_k, currency, lang), "earned"))
        if kr.forfeited_k:
            amounts.append((t("amt_forfeited"), fmt.money(kr.forfeited_k, currency, lang), "lost"))
    elif kr.status == "held":
        amounts.append((t("amt_held"), fmt.money(kr.held_k, currency, lang), "held"))
    else:
        amounts.append((t("amt_deferred"), fmt.money(kr.deferred_k, currency, lang), "deferred"))
    reasons: list[str] = []
    reading = fmt.kpi_value(kr.value, unit, lang) if kr.status == "earned" else fmt.DASH
    if kr.status == "held":
        reading, why = _held_reading(kr, unit, lang, readings or {})
        reasons = why + [t("held_note")]
    elif kr.status == "deferred":
        due_month = kr.due_month or kr.evaluated_month
        n = kpi.due_month if kpi and kpi.due_month else "?"
        reasons = [t("r_due", month=fmt.month(due_month, lang), n=n)]
    elif kr.deemed:
        reasons = [t("r_deemed_" + kr.deemed, items="; ".join(_reason_items(kr.problems, lang)))]
    if kr.earned_back:
        reasons.append(t("r_earned_back", amount=fmt.money(kr.earned_back_k, currency, lang),
                         first=fmt.month(kr.earned_back[0], lang), last=fmt.month(kr.earned_back[-1], lang)))
    floor = None
    if kr.floor_level is not None:
        floor_def = (fmt.kpi_value(kr.floor_level, unit, lang)
                     if kpi is None or kpi.target_mode == "absolute"
                     else _definition(kpi, kpi.floor, kr.floor_level, lang))
        floor = t("labelled", label=t("floor"), value=floor_def)
    return {
        "kpi_id": kr.kpi_id, "name": kpi.name if kpi else kr.kpi_id,
        "meta": " · ".join(filter(None, [t(kpi.category) if kpi and kpi.category in _PHRASES else "",
                                         t(kpi.direction) if kpi else "",
                                         t("weight", pct=fmt.percent(kpi.weight, lang),
                                           amount=fmt.money(kr.pool_k, currency, lang))
                                         if kpi else ""])),
        "status": badge(kr), "status_label": t("st_" + badge(kr)),
        "reading": reading,
        "reading_notes": notes,
        "target": f"{cmp} {fmt.kpi_value(kr.target_level, unit, lang)}",
        "definition": _definition(kpi, kpi.target if kpi else None, kr.target_level, lang),
        "floor": floor,
        "payout": t("linear") if kr.floor_level is not None else t("all_or_nothing"),
        "attainment": t("labelled", label=t("attainment"), value=fmt.attainment(kr.attainment, lang))
        if kr.status == "earned" else "",
        "bar": fmt.bar_width(kr.attainment) if kr.status == "earned" else None,
        "amounts": amounts, "reasons": reasons,
        "amounts_text": " · ".join(f"{label} {amount}" for label, amount, _tone in amounts),
    }


def _bonus_view(m: MonthResult | None, terms: Terms, lang: str) -> dict | None:
    t = _t(lang)
    c = terms.contract
    if not c.bonus_kpi:
        return None
    kpi = terms.kpi(c.bonus_kpi)
    unit = kpi.unit if kpi else ""
    rule = t("bonus_rule_pool" if c.bonus_base == "pool" else "bonus_rule", kpi=_kpi_name(terms, c.bonus_kpi),
             direction=t(kpi.direction) if kpi else "", target=fmt.kpi_value(c.bonus_target, unit, lang),
             b=fmt.percent(c.bonus_rate, lang), m=fmt.percent(c.malus_rate, lang))
    if c.bonus_band:
        rule += " " + t("bonus_band_note", band=fmt.kpi_value(c.bonus_band, unit, lang))
    outcome, tone = "", "neutral"
    if m is not None and m.in_term:
        value = fmt.kpi_value(m.bonus_value, unit, lang)
        if m.bonus_malus == "bonus":
            outcome, tone = t("bonus_bonus", value=value, amount=fmt.money(m.bonus, m.currency, lang)), "good"
        elif m.bonus_malus == "malus":
            outcome, tone = t("bonus_malus", value=value, amount=fmt.money(m.malus, m.currency, lang)), "bad"
        elif m.bonus_malus == "none":
            outcome = t("bonus_none", value=value)
        elif m.bonus_malus == "held":
            outcome, tone = t("bonus_held", reason="; ".join(_reason_items(m.bonus_problems, lang)) or "—"), "warn"
        elif m.bonus_malus == "pending" and m.bonus_block:
            outcome = t("bonus_pending", first=fmt.month(m.bonus_block[0], lang),
                        last=fmt.month(m.bonus_block[-1], lang))
        if m.bonus_block and m.bonus_block[0] != m.bonus_block[-1] and m.bonus_malus in ("bonus", "malus", "none"):
            outcome += " " + t("bonus_block", first=fmt.month(m.bonus_block[0], lang),
                               last=fmt.month(m.bonus_block[-1], lang), base=fmt.money(m.bonus_base, m.currency, lang))
    return {"rule": rule, "outcome": outcome, "tone": tone}


def _before_label(report: CloseReport | None, m: MonthResult, lang: str) -> str:
    """'Already invoiced', naming the Invoiced sheet when (part of) it was invoiced outside perfsettle."""
    t = _t(lang)
    opening = _opening(report, m) if report is not None else None
    if not opening:
        return t("invoiced_before")
    if opening == m.invoiced_before:
        return t("opening_before")
    return t("opening_and_closes", opening=fmt.money(opening, m.currency, lang))


def _month_view(m: MonthResult, contract, lang: str, report: CloseReport | None = None) -> dict:
    t = _t(lang)
    cur = m.currency
    money = lambda v: fmt.money(v, cur, lang)  # noqa: E731
    rows = [(t("fee"), money(m.fee), ""),
            (t("fixed", pct=fmt.percent(1 - contract.variable_share, lang)), money(m.fixed), ""),
            (t("pool", pct=fmt.percent(contract.variable_share, lang)), money(m.pool), "")]
    rows.append((t("earned"), money(m.earned), "earned"))
    for key in ("held", "deferred", "forfeited"):
        if getattr(m, key):
            rows.append((t(key), money(getattr(m, key)), {"forfeited": "lost"}.get(key, key)))
    if m.bonus:
        rows.append((t("bonus"), "+" + money(m.bonus), "earned"))
    if m.malus:
        rows.append((t("malus"), "-" + money(m.malus), "lost"))
    rows.append((t("due"), money(m.due), "strong"))
    if m.invoiced_before:
        rows.append((_before_label(report, m, lang), money(m.invoiced_before), ""))
        rows.append((t("invoice_month"), money(m.invoice_now), "strong"))
    return {"title": t("month_title", month=fmt.month(m.month, lang)), "rows": rows,
            "notes": [_amendment_line(a, lang) for a in m.amendments]}


def _amendment_line(a, lang: str) -> str:
    """A term in force and the amendment that set it."""
    t = _t(lang)
    if a.value is None:
        value = t("cleared")
    elif isinstance(a.value, bool):
        value = t("yes") if a.value else t("no")
    elif isinstance(a.value, (Decimal, int)):
        value = fmt.number(a.value, lang)
    else:
        value = str(a.value)
    term = f"{a.kpi_id} · {a.field}" if a.kpi_id else a.field
    ref = f" ({a.reference})" if a.reference else ""
    return t("amendment_line", ref=ref, month=fmt.month(a.effective_month, lang), term=term, value=value,
             reason=a.reason)


def _chronic_lines(result: ContractResult, lang: str) -> list[str]:
    t = _t(lang)
    return [t("chronic_line", kpi=_kpi_name(result.terms, c.kpi_id), n=len(c.missed), months=len(c.window),
              missed=", ".join(fmt.month(m, lang) for m in c.missed)) for c in result.chronic]


def whole_period(report: CloseReport, result: ContractResult) -> tuple[ContractResult, Decimal | None]:
    """The contract as the whole period sees it (SPEC §5, reruns), and what earlier closes of the
    period invoiced (None at the period's first close, where both views are the same).

    Each month's invoiced_before becomes what was invoiced before the period's first close,
    and its invoice_now what the closes of the period invoice together, earlier ones and this one.
    """
    earlier = report.earlier.get(result.contract_id)
    if earlier is None:
        return result, None
    moved = tuple(replace(m, invoiced_before=m.invoiced_before - earlier.get(m.month, 0),
                          invoice_now=m.invoice_now + earlier.get(m.month, 0)) for m in result.months)
    return replace(result, months=moved), sum(earlier.values(), Decimal(0))


def _rerun_why(report: CloseReport, result: ContractResult, lang: str) -> str:
    t = _t(lang)
    changes = [_change_text(c, result.terms, lang) for c in _changes_of(report, result.contract_id)]
    return t("rerun_why", reasons="; ".join(changes)) if changes else t("rerun_recalculated")


def _documented_by(report: CloseReport, m: MonthResult, lang: str) -> list[str]:
    """The numbered invoices and credit notes already issued for a month (SPEC §8)."""
    numbers = getattr(report, "documents", {}).get((m.contract_id, m.month))
    return [_t(lang)("documented_by", numbers=", ".join(numbers))] if numbers else []


def _statement_view(report: CloseReport, result: ContractResult, timezone: str = TIMEZONE) -> dict:
    if result.terms is None:
        raise ValueError(f"contract {result.contract_id} has no terms to print")
    contract = result.terms.contract
    lang = contract.language if contract.language in fmt.LANGUAGES else "fr"
    t = _t(lang)
    cur = result.currency
    money = lambda v: fmt.money(v, cur, lang)  # noqa: E731
    this_close = result.invoice_now
    result, earlier = whole_period(report, result)
    pm = _period_month(report, result)
    in_force = Schedule(result.terms).at(pm.month) if pm is not None else result.terms   # the month's terms
    adjusted = _adjusted_months(report, result)
    adjust_total = sum((m.invoice_now for m in adjusted), Decimal(0))
    n_month = months.contract_month(contract.start_month, report.period)
    breakdown = []
    if pm is not None:
        breakdown.append((t("for_month") + f" ({fmt.month(report.period, lang)})", money(pm.invoice_now)))
    if adjusted:
        breakdown.append((t("adjustments_total"), money(adjust_total)))
    total = result.invoice_now
    total_label = t("total_now")
    total_note = t("credit_note") if total < 0 else (t("nothing_due") if total == 0 else "")
    if earlier is not None:   # a rerun: the period's total, what earlier closes invoiced, what this one changes
        total_label = t("period_total", month=fmt.month(report.period, lang))
        breakdown += [(t("earlier_closes", month=fmt.month(report.period, lang)), money(earlier)),
                      (t("this_close_credits" if this_close < 0 else "this_close_adds"), money(this_close))]
        total_note = " ".join(filter(None, [
            t("credit_note") if this_close < 0 else (t("nothing_more") if this_close == 0 else ""),
            _rerun_why(report, result, lang)]))
    order = {k.kpi_id: i for i, k in enumerate(result.terms.kpis)}
    kpis = sorted(pm.kpis, key=lambda kr: (order.get(kr.kpi_id, len(order)), kr.kpi_id)) if pm else []
    disputed = _disputed(result, report, lang)
    dispute = None
    if disputed:
        items = "; ".join(disputed)
        dispute = (t("dispute", items=items, mediator=contract.mediator) if contract.mediator.strip()
                   else t("dispute_no_mediator", items=items))
    return {
        "lang": lang,
        "title": f"{t('statement')} — {fmt.month(report.period, lang)}",
        "subject": t("subject", month=fmt.month(report.period, lang), client=contract.client,
                     cid=contract.contract_id),
        "preheader": t("labelled", label=t("total_now"), value=money(this_close)),
        "colon": t("labelled", label="", value=""),
        "header": [(t("client"), contract.client), (t("provider"), contract.provider),
                   (t("contract"), contract.contract_id),
                   (t("period"), fmt.month(report.period, lang)
                    + (f" ({t('month_of_term', m=n_month, n=contract.duration_months)})"
                       if 1 <= n_month <= contract.duration_months else "")),
                   (t("term"), t("term_value", start=fmt.month(contract.start_month, lang),
                                 end=fmt.month(contract.last_month, lang), n=contract.duration_months))],
        "total_label": total_label, "total": money(total), "total_negative": total < 0,
        "total_note": total_note,
        "breakdown": breakdown,
        "month": _month_view(pm, in_force.contract, lang, report) if pm else None,
        "chronic_title": t("chronic_title"), "chronic": _chronic_lines(result, lang),
        "no_month": None if pm else t("no_month", month=fmt.month(report.period, lang),
                                       end=fmt.month(result.last_month or contract.last_month, lang)),
        "kpis_title": t("kpis"),
        "kpi_headers": {k: t(k) for k in ("reading", "target", "floor", "attainment")},
        "kpis": [_kpi_view(kr, result.terms, cur, lang, report.readings) for kr in kpis],
        "bonus_title": t("bonus_title"),
        "bonus": _bonus_view(pm, in_force, lang),
        "adjustments_title": t("adjustments"),
        "adjust_headers": [t("month"), t("due_now"), t("invoiced_before"), t("adjustment")],
        "adjustments": [{"month": fmt.month(m.month, lang), "due": money(m.due),
                         "before": money(m.invoiced_before), "now": money(m.invoice_now),
                         "causes": _adjustment_causes(m, result, report, lang)
                         + _documented_by(report, m, lang)} for m in adjusted],
        "adjust_total": money(adjust_total),
        "exit_title": t("exit_title"),
        "exit": _exit_view(result, report, lang),
        "dispute_title": t("dispute_title"), "dispute": dispute,
        "dry_run": t("dry_run") if report.dry_run else "",
        **_footer("footer", report, lang, timezone, currency=cur),
        "reply": t("reply"),
    }


def render_statement(report: CloseReport, result: ContractResult,
                     timezone: str = TIMEZONE) -> tuple[str, str]:
    """(html, plain text) of one settled contract, in the contract's language."""
    view = _with_charts(_statement_view(report, result, timezone), report, result)
    return _render_html("statement.html", **view), _render_text("statement.txt", **view)


# --------------------------------------------------------------------------- summary

def _names(report: CloseReport, result: ContractResult) -> tuple[str, str]:
    if result.terms is not None:
        return result.terms.contract.client, result.terms.contract.provider
    names = tuple(report.names.get(result.contract_id, ())) + ("", "")   # (client, provider, ...)
    return names[0], names[1]


def _finding_lines(diagnostics, lang: str) -> tuple[list[str], int]:
    t = _t(lang)
    lines = []
    for d in diagnostics:
        message = d.message_fr if lang == "fr" and d.message_fr else d.message
        where = d.source.where()
        lines.append(t("labelled", label=where, value=message) if where else message)
    return lines[:FIRST_FINDINGS], max(0, len(lines) - FIRST_FINDINGS)


def _totals(report: CloseReport, lang: str) -> list[dict]:
    t = _t(lang)
    sums = {cur: {"total": c.amounts["invoice_now"], "adjust": c.adjustments, "month": c.period_month, **c.period}
            for cur, c in report.totals.items() if c.settled}
    earlier: dict[str, Decimal] = {}     # a rerun: what earlier closes of the period invoiced
    for r in report.results:
        if r.contract_id in report.earlier:
            earlier[r.currency] = earlier.get(r.currency, Decimal(0)) + sum(report.earlier[r.contract_id].values())
    month = fmt.month(report.period, lang)
    out = []
    for cur in sorted(sums):
        s = sums[cur]
        money = lambda v: fmt.money(v, cur, lang)  # noqa: E731
        rerun = [(t("earlier_closes", month=month), money(earlier[cur]), ""),
                 (t("period_total", month=month), money(earlier[cur] + s["total"]), "")] if cur in earlier else []
        out.append({"currency": cur, "total_label": t("total_now"), "total": money(s["total"]),
                    "rows": [(t("of_which_month", month=month), money(s["month"]), ""),
                             (t("of_which_adjust"), money(s["adjust"]), "")] + rerun,
                    "period_label": t("period_amounts", month=month),
                    "period_rows": [(t("pool_plain"), money(s["pool"]), ""),
                                    (t("earned"), money(s["earned"]), "earned"),
                                    (t("held"), money(s["held"]), "held"),
                                    (t("deferred"), money(s["deferred"]), "deferred"),
                                    (t("forfeited"), money(s["forfeited"]), "lost")]})
    return out


def _holds(settled: list[ContractResult], lang: str, readings: dict | None = None) -> list[dict]:
    t = _t(lang)
    rows = []
    for r in settled:
        contract = r.terms.contract
        mediator = contract.mediator.strip() or t("no_mediator")
        for m in r.months:
            for kr in m.kpis:
                if kr.status == "held":
                    rows.append({"cid": r.contract_id, "client": contract.client,
                                 "kpi": _kpi_name(r.terms, kr.kpi_id),
                                 "month": fmt.month(m.month, lang),
                                 "amount": fmt.money(kr.held_k, r.currency, lang),
                                 "reason": "; ".join(_held_reading(kr, _unit(r.terms, kr.kpi_id), lang,
                                                                   readings)[1] if readings
                                                     else _reason_items(kr.problems, lang)),
                                 "mediator": mediator if any(p.why == "disputed" for p in kr.problems) else ""})
            if m.bonus_malus == "held":
                rows.append({"cid": r.contract_id, "client": contract.client,
                             "kpi": f"{_kpi_name(r.terms, contract.bonus_kpi or '')} "
                                    f"({t('bonus_held_row')})",
                             "month": fmt.month(m.month, lang), "amount": fmt.DASH,
                             "reason": "; ".join(_reason_items(m.bonus_problems, lang)),
                             "mediator": mediator if any(p.why == "disputed" for p in m.bonus_problems) else ""})
    return rows


def _explained(report: CloseReport, settled: list[ContractResult], lang: str,
               limit: int | None = None) -> tuple[list[dict], int]:
    """The first ``limit`` (SUMMARY_ROWS) contracts whose adjustments the summary explains, and
    how many there are in all: past the limit, whether a contract is listed is worked out
    without following its changes' money wherever that decides it."""
    limit = SUMMARY_ROWS if limit is None else limit
    out, listed_in_all = [], 0
    for r in settled:
        if len(out) >= limit:
            listed = _listed(report, r)
            if listed is None:
                listed = _explained_row(report, r, lang) is not None
            listed_in_all += listed
            continue
        row = _explained_row(report, r, lang)
        if row is not None:
            out.append(row)
            listed_in_all += 1
    return out, listed_in_all


def _listed(report: CloseReport, r: ContractResult) -> bool | None:
    """Whether the summary lists the contract's adjustments, when that is known without
    following its changes' money (None: it depends on what they moved)."""
    if _adjusted_months(report, whole_period(report, r)[0]) or \
            any(c.old_status is not None for c in _changes_of(report, r.contract_id)):
        return True
    restated = [m for m in _adjusted_months(report, r) if m.invoiced_before != 0 or not m.in_term]
    return None if restated and _changes_of(report, r.contract_id) else False


def _explained_row(report: CloseReport, r: ContractResult, lang: str) -> dict | None:
    t = _t(lang)
    period = fmt.month(report.period, lang)
    # this run's adjustments, which its changes explain, and the period's: a rerun lists the
    # months an earlier close of the period adjusted too, with what that close invoiced
    this_run = {m.month: m for m in _adjusted_months(report, r)}
    adjusted = _adjusted_months(report, whole_period(report, r)[0])
    earlier = report.earlier.get(r.contract_id, {})
    restated = [m for m in this_run.values() if m.invoiced_before != 0 or not m.in_term]
    changes = []
    # What each change moved matters only in restated months (a first invoice has no cause to follow).
    found = _moves_of(report, r) if restated else None
    by_month = {m.month: m for m in restated}
    for c in _changes_of(report, r.contract_id):
        where = " ".join(filter(None, [c.file, c.cell]))
        if found is not None:
            # follow the money: the months this change moved, each by the amount it moved
            own = [(month, mv) for month, mvs in sorted(found.items()) for mv in mvs
                   if mv.change is c and month in by_month]
            if not own and c.old_status is None:
                continue
            paid = [(month, mv.amount) for month, mv in own if mv.amount]
            if paid:
                cur = r.currency
                moves = t("moves", months=", ".join(
                    f"{fmt.month(month, lang)} ({fmt.signed(fmt.money(a, cur, lang), a)})" for month, a in paid))
            elif own:
                moves = t("moved_nothing_in", months=", ".join(fmt.month(month, lang) for month, _ in own),
                          what="; ".join(dict.fromkeys(_what_it_did(mv, r, by_month[month], lang)
                                                       for month, mv in own)))
            else:
                moves = t("moves_nothing")
            changes.append({"text": _change_text(c, r.terms, lang),
                            "where_moves": " · ".join(filter(None, [where, moves]))})
            continue
        moved = _moved_by(c, r, restated)
        if not moved and c.old_status is None:
            continue            # a plain new reading: no adjustment to explain
        moves = t("moves", months=", ".join(
            f"{fmt.month(m.month, lang)} ({fmt.signed(fmt.money(m.invoice_now, m.currency, lang), m.invoice_now)})"
            for m in moved)) if moved else t("moves_nothing")
        changes.append({"text": _change_text(c, r.terms, lang),
                        "where_moves": " · ".join(filter(None, [where, moves]))})
    if not adjusted and not changes:
        return None
    listed = {c["text"] for c in changes}
    return {"cid": r.contract_id, "client": r.terms.contract.client, "changes": changes,
            "months": [{"month": fmt.month(m.month, lang),
                        "amount": fmt.signed(fmt.money(m.invoice_now, m.currency, lang),
                                             m.invoice_now),
                        "causes": ([c for c in _adjustment_causes(this_run[m.month], r, report, lang)
                                    if c not in listed] if m.month in this_run else [])
                        + ([t("earlier_part", month=period,
                              amount=fmt.signed(fmt.money(earlier[m.month], m.currency, lang),
                                                earlier[m.month]))] if earlier.get(m.month) else [])}
                       for m in adjusted]}


def _scorecard(report: CloseReport, settled: list[ContractResult], lang: str) -> list[dict]:
    groups: dict[tuple[str, str], dict] = {}
    for r in settled:
        key = (r.terms.contract.provider, r.currency)
        g = groups.setdefault(key, {"contracts": 0, "exit_rights": 0, **{
            k: Decimal(0) for k in ("pool", "earned", "forfeited", "pending")}})
        g["contracts"] += 1
        g["exit_rights"] += r.exit.status == "exit_right"
        for m in r.months:
            if m.in_term:
                g["pool"] += m.pool
                g["earned"] += m.earned
                g["forfeited"] += m.forfeited
                g["pending"] += m.held + m.deferred
    rows = []
    for (provider, cur), g in sorted(groups.items()):
        decided = g["earned"] + g["forfeited"]
        rows.append({"provider": provider, "currency": cur,
                     "contracts": _t(lang)("n_contracts", n=g["contracts"]),
                     **{k: fmt.money(g[k], cur, lang) for k in ("pool", "earned", "forfeited", "pending")},
                     "rate": fmt.percent(Fraction(g["earned"]) / Fraction(decided), lang, 1)
                     if decided else fmt.DASH,
                     "exit_rights": g["exit_rights"]})
    return rows


SUMMARY_ROWS = 300   # rows per list of the summary; the CSVs and workbooks hold them all


_MORE_NOUNS = {"alerts": "n_more_contracts", "holds": "n_more_held", "explained": "n_more_adjusted",
               "contracts": "n_more_contracts"}


def _capped(name: str, rows: list, t, more_key: str = "", count: int | None = None, **kw) -> dict:
    """``{name: the first SUMMARY_ROWS rows, name_more: where the others are}``: a summary
    stays readable, and light enough for a mailbox, at thousands of contracts. ``count``:
    how many rows there are in all, when only the first ones were made."""
    more = (len(rows) if count is None else count) - SUMMARY_ROWS
    if more <= 0:
        return {name: rows, f"{name}_more": ""}
    counted = t(_MORE_NOUNS[name], n=more) if name in _MORE_NOUNS else str(more)   # "3 more contracts", or "3"
    return {name: rows[:SUMMARY_ROWS], f"{name}_more": t(more_key or f"more_{name}", more=counted, n=more, **kw)}


def _summary_view(report: CloseReport, lang: str, timezone: str = TIMEZONE) -> dict:
    lang = lang if lang in fmt.LANGUAGES else "fr"
    t = _t(lang)
    results = sorted(report.results, key=lambda r: r.contract_id)
    settled = [r for r in results if r.status == "settled" and r.terms is not None]
    severity = {"exit_right": 0, "undetermined": 1, "watch": 2}
    alerts = []
    for r in sorted(settled, key=lambda r: (severity.get(r.exit.status, 9), r.contract_id)):
        if r.exit.status in severity:
            alerts.append({"cid": r.contract_id, "client": r.terms.contract.client,
                           "provider": r.terms.contract.provider, **_exit_view(r, report, lang)})
    restated = {d.contract_id for f in report.files for d in f.diagnostics if d.code == "terms-restated"}
    for r in settled:
        who = {"cid": r.contract_id, "client": r.terms.contract.client, "provider": r.terms.contract.provider}
        for line in _chronic_lines(r, lang):
            alerts.append({**who, "status": "chronic", "label": t("chronic_title"), "detail": line, "rule": "",
                           "tone": "bad"})
        if r.contract_id in restated:
            amount = sum((m.invoice_now for m in r.months if m.invoiced_before), Decimal(0))
            alerts.append({**who, "status": "restated", "label": t("restated_title"),
                           "detail": t("restated_detail", amount=fmt.money(amount, r.currency, lang)),
                           "rule": t("restated_rule"), "tone": "warn"})
    contracts = []
    for r in results:
        client, provider = _names(report, r)
        contracts.append({"cid": r.contract_id, "client": client, "provider": provider,
                          "status": t("s_" + r.status) if "s_" + r.status in _PHRASES else r.status,
                          "exit": t("x_" + r.exit.status) if r.status == "settled"
                          and "x_" + r.exit.status in _PHRASES else fmt.DASH,
                          "tone": {"exit_right": "bad", "watch": "warn", "undetermined": "warn"}
                          .get(r.exit.status, "") if r.status == "settled" else "",
                          "invoice_now": fmt.money(r.invoice_now, r.currency, lang)})
    problems = []
    for r in results:
        if r.status == "excluded":
            findings = [d for f in report.files for d in f.diagnostics
                        if d.contract_id == r.contract_id and d.is_error]
            lines, more = _finding_lines(findings, lang)
            errors = report.contract_findings.get(r.contract_id, (len(findings), 0))[0]
            problems.append({"title": t("excluded_row", cid=r.contract_id, client=_names(report, r)[0],
                                        errors=t("n_errors", n=errors)),
                             "lines": lines,
                             "more": t("more_findings", more=t("n_more_findings", n=more)) if more else ""})
    for f in report.files:
        if f.outcome == "rejected":
            errors = [d for d in f.diagnostics if d.is_error] or list(f.diagnostics)
            lines, more = _finding_lines(errors, lang)
            problems.append({"title": t("rejected_row", name=f.name, errors=t("n_errors", n=f.errors)),
                             "lines": lines,
                             "more": t("more_findings", more=t("n_more_findings", n=more)) if more else ""})
    unsent = [{"cid": r.contract_id, "client": r.terms.contract.client,
               "why": t("unsent_bad") if r.terms.contract.contact_email.strip() else t("unsent_none")}
              for r in not_emailed(report)]
    skipped = [{"name": d.source.file, "why": d.message_fr if lang == "fr" and d.message_fr else d.message}
               for d in report.skipped]
    month = fmt.month(report.period, lang)
    count = lambda status: sum(r.status == status for r in results)  # noqa: E731
    explained, explained_in_all = _explained(report, settled, lang)
    return {
        "lang": lang, "title": t("summary", month=month),
        "colon": t("labelled", label="", value=""),
        "subject": t("summary_subject", month=month),
        "preheader": t("counts", settled=t("n_settled", n=count("settled")),
                       excluded=t("n_excluded", n=count("excluded")),
                       not_started=t("n_not_started", n=count("not_started")),
                       files=t("n_files", n=len(report.files)),
                       rejected=t("n_rejected", n=sum(f.outcome == "rejected" for f in report.files))),
        "dry_run": t("dry_run") if report.dry_run else "",
        "h": {k: t(k) for k in ("totals", "alerts", "no_alerts", "holds", "no_holds", "contract",
                                "client", "provider", "month", "reason", "mediator", "amt_held",
                                "adjust_explained", "no_adjust", "changed_readings", "contracts",
                                "status", "exit", "total_now", "problems", "no_problems",
                                "scorecard", "at_stake", "amt_earned", "amt_forfeited", "pending",
                                "exit_rights", "adjustment", "unsent_title",
                                "skipped_title")},
        "scorecard_note": t("scorecard_note", month=month),
        "totals": _totals(report, lang),
        **_capped("alerts", alerts, t, period=report.period),
        **_capped("holds", _holds(settled, lang, report.readings), t, period=report.period),
        **_capped("explained", explained, t, "more_adjust", count=explained_in_all, period=report.period),
        **_capped("contracts", contracts, t, period=report.period),
        "problems": problems,
        **_capped("unsent", unsent, t, period=report.period),
        "skipped": skipped,
        "scorecard": _scorecard(report, settled, lang),
        **_footer("summary_footer", report, lang, timezone),
    }


def render_summary(report: CloseReport, lang: str = "fr", timezone: str = TIMEZONE) -> str:
    """summary.html for the finance team."""
    return _render_html_then_inline("summary.html", **_summary_view(report, lang, timezone))


def render_summary_text(report: CloseReport, lang: str = "fr", timezone: str = TIMEZONE) -> str:
    return _render_text("summary.txt", **_summary_view(report, lang, timezone))


# --------------------------------------------------------------------------- files and e-mails

def _child(folder: Path, contract_id: str, suffix: str) -> Path:
    """folder/<contract_id><suffix>, refusing any id that could leave the folder."""
    if not CONTRACT_ID.fullmatch(contract_id or ""):
        raise ValueError(f"unsafe contract id for a file name: {contract_id!r}")
    return folder / f"{contract_id}{suffix}"   # CONTRACT_ID admits no separator and no leading dot


def _write_bytes(path: Path, data: bytes) -> Path:
    """A statement file, written in place: statements are written into the run's staging
    folder, which is published as a whole, so no temporary file is needed per statement."""
    with open(path, "wb") as f:
        f.write(data)
    return path


def _write_text(path: Path, text: str) -> Path:
    return write_atomic(path, text, durable=False)


def recipient_problems(report: CloseReport) -> list[tuple[str, str]]:
    """(contract_id, problem) for settled contracts whose statement cannot be e-mailed."""
    out = []
    for r in report.results:
        if r.status != "settled" or r.terms is None:
            continue
        valid, invalid = messages.parse_recipients(r.terms.contract.contact_email)
        if invalid:
            out.append((r.contract_id, "invalid contact_email: " + ", ".join(invalid)))
        if not valid:
            out.append((r.contract_id, "no valid contact_email: statement not e-mailed"))
    return out


def not_emailed(report: CloseReport) -> list[ContractResult]:
    """Settled contracts whose statement is a draft, not e-mailed: no valid contact_email."""
    return [r for r in report.results if r.status == "settled" and r.terms is not None
            and not messages.parse_recipients(r.terms.contract.contact_email)[0]]


def write_html_outputs(report: CloseReport, outdir: Path, *, sender: str,
                       finance_recipients: Sequence[str], lang: str = "fr",
                       message_id_domain: str = "perfsettle.local", timezone: str = TIMEZONE) -> list[Path]:
    """Write summary.html, statements/<id>.html and .eml, and summary.eml; return the paths.

    A statement's .eml goes to the contract's valid contact_email addresses, and is a draft with
    no recipient when there is none (see ``not_emailed``); summary.eml is skipped without finance
    recipients. Invalid sender or finance addresses raise ValueError.
    """
    settled = [r.contract_id for r in report.results if r.status == "settled"]
    return (write_summary(report, outdir, sender=sender, finance_recipients=finance_recipients, lang=lang,
                          message_id_domain=message_id_domain, timezone=timezone)
            + write_statements(report, outdir, settled, sender=sender, message_id_domain=message_id_domain,
                               timezone=timezone))


def write_summary(report: CloseReport, outdir: Path, *, sender: str, finance_recipients: Sequence[str],
                  lang: str = "fr", message_id_domain: str = "perfsettle.local",
                  timezone: str = TIMEZONE) -> list[Path]:
    """summary.html, and summary.eml when there are finance recipients."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    summary = _summary_view(report, lang, timezone)
    summary_html = _render_html_then_inline("summary.html", **summary)
    written = [_write_text(outdir / "summary.html", summary_html)]
    if finance_recipients:
        msg = messages.compose_message(sender=sender, to=list(finance_recipients),
                                 subject=summary["subject"],
                                 text=_render_text("summary.txt", **summary), html=summary_html,
                                 message_id_domain=message_id_domain,
                                 msgid_seed=f"{report.run_id}/summary", date=_close_time(report))
        written.append(messages.write_message(msg, outdir / "summary.eml"))
    return written


def write_statements(report: CloseReport, outdir: Path, contract_ids: Sequence[str], *, sender: str,
                     message_id_domain: str = "perfsettle.local", timezone: str = TIMEZONE) -> list[Path]:
    """statements/<id>.html and .eml for the given settled contracts, in their language; the
    .eml of a contract with no valid contact_email is a draft with no recipient (``X-Unsent: 1``)."""
    folder = Path(outdir) / "statements"
    folder.mkdir(parents=True, exist_ok=True)
    when = _close_time(report)
    written = []
    for cid in sorted(contract_ids):
        r = report.result(cid)
        if r is None or r.status != "settled":
            continue
        html_path = _child(folder, r.contract_id, ".html")
        view = _with_charts(_statement_view(report, r, timezone), report, r)
        html = _render_html("statement.html", **view)
        written.append(_write_bytes(html_path, html.encode("utf-8")))
        to, _invalid = messages.parse_recipients(r.terms.contract.contact_email)
        msg = messages.compose_message(sender=sender, to=to, subject=view["subject"],
                                 text=_render_text("statement.txt", **view), html=html,
                                 message_id_domain=message_id_domain, draft=not to,
                                 msgid_seed=f"{report.run_id}/{r.contract_id}", date=when)
        written.append(_write_bytes(_child(folder, r.contract_id, ".eml"), msg))
    return written


# --------------------------------------------------------------------------- readings chart

CHART_PX = 48          # the height of a chart's plot area, in px
CHART_MIN_PX = 4       # the smallest bar a reading gets, so the lowest one still shows
CHART_LINE_PX = 2      # the target line
CHART_MONTHS = 12      # the latest months a chart shows
CHART_COLOURS = {"met": "#2e7d32", "partly": "#e09b00", "missed": "#c62828", "none": "#9ca3af", "line": "#111827"}


def _chart_height(value: Decimal, lo: Decimal, hi: Decimal) -> int:
    """A value's height in px between the chart's lowest (CHART_MIN_PX) and highest (CHART_PX) value."""
    if hi == lo:
        return CHART_PX // 2
    share = (value - lo) / (hi - lo)
    return CHART_MIN_PX + int((share * (CHART_PX - CHART_MIN_PX)).to_integral_value(ROUND_HALF_UP))


def _chart_segments(bar: int, line: int | None) -> list[tuple[int, str]]:
    """The stacked divs of one month's column, top to bottom: (height px, space | bar | line)."""
    if line is None:
        parts = [(CHART_PX - bar, "space"), (bar, "bar")]
    elif bar > line:
        parts = [(CHART_PX - bar, "space"), (bar - line, "bar"), (CHART_LINE_PX, "line"), (line, "bar")]
    else:
        parts = [(CHART_PX - line, "space"), (CHART_LINE_PX, "line"), (line - bar, "space"), (bar, "bar")]
    return [(h, kind) for h, kind in parts if h > 0]


def _segment_colour(kind: str, tone: str) -> str:
    return CHART_COLOURS["line"] if kind == "line" else CHART_COLOURS[tone] if kind == "bar" else ""


@lru_cache(maxsize=None)    # heights are whole px up to CHART_PX: a few hundred columns in all
def _chart_column(bar: int, line: int | None, tone: str) -> tuple[tuple[int, str, str], ...]:
    """One month's column: its stacked divs (height px, kind, colour)."""
    return tuple((h, kind, _segment_colour(kind, tone)) for h, kind in _chart_segments(bar, line))


@lru_cache(maxsize=4096)
def _month_short(month: str, lang: str) -> str:
    """'2026-10' as ``oct. 26`` (fr) or ``Oct 26`` (en), under a chart's column."""
    from babel.dates import format_date
    day = _dt.date(int(month[:4]), int(month[5:7]), 1)
    return format_date(day, "MMM yy", locale=fmt.locale_for(lang))


def _chart_view(kpi_id: str, result: ContractResult, report: CloseReport, lang: str) -> dict | None:
    """One KPI's readings over the contract's months so far against the target level the engine
    applied each month: display only, the settlement is the engine's."""
    t = _t(lang)
    terms = result.terms
    kpi = terms.kpi(kpi_id) if terms else None
    if kpi is None or kpi.weight <= 0:       # only the KPIs that pay
        return None
    unit = kpi.unit
    lower = kpi.direction == "lower"
    cmp = "≤" if lower else "≥"
    strict = bool(terms and getattr(terms.contract, "requires_verified", False))
    points = []
    for m in result.months:
        if not m.in_term or m.month > report.period:
            continue
        kr = next((k for k in m.kpis if k.kpi_id == kpi_id), None)
        if kr is None:
            continue
        r = report.readings.get((result.contract_id, kpi_id, m.month))
        value = None if r is None or r.status == "void" else r.value
        if value is None:
            why = "missing"
        elif r.status == "disputed":
            why = "disputed"
        elif strict and r.status != "verified":
            why = "unverified"
        else:
            why = ""
        points.append((m.month, value, kr.target_level, why, kr.floor_level))
    points = list({p[0]: p for p in points}.values())      # a month settled twice: its latest settlement
    if not points:
        return None
    if all(p[1] is None for p in points):     # no reading at all: nothing to draw
        return None
    earlier = len(points) > CHART_MONTHS
    points = points[-CHART_MONTHS:]
    scale = [p[1] for p in points if p[1] is not None] + [p[2] for p in points if p[2] is not None]
    lo, hi = min(scale), max(scale)
    cells, text = [], []
    verdicts = {"met": ("met", "✓", t("chart_met")), "partly": ("partly", "~", t("chart_partly")),
                "missed": ("missed", "✗", t("chart_missed"))}
    for why in {p[3] for p in points if p[3]}:
        verdicts[why] = ("none", t("chart_" + why), t("chart_" + why))
    for month, value, target, why, floor in points:
        if why:
            tone, mark, verdict = verdicts[why]
        elif (value <= target) if lower else (value >= target):
            tone, mark, verdict = verdicts["met"]
        elif floor is not None and ((value < floor) if lower else (value > floor)):
            tone, mark, verdict = verdicts["partly"]
        else:
            tone, mark, verdict = verdicts["missed"]
        shown = fmt.kpi_value(value, unit, lang)
        level = f"{cmp} {fmt.kpi_value(target, unit, lang)}"
        bar = 0 if value is None else _chart_height(value, lo, hi)
        line = None if target is None else _chart_height(target, lo, hi)
        cells.append({"month": month, "label": _month_short(month, lang), "value": shown,
                      "tone": tone, "height": bar, "line": line,
                      "segments": _chart_column(bar, line, tone),
                      "title": t("chart_cell", month=fmt.month(month, lang), value=shown,
                                 target=level, verdict=verdict)})
        text.append(f"{month} {shown} {mark}" if value is not None else f"{month} {mark}")
    tones = {c["tone"] for c in cells}
    whys = [why for why in ("missing", "disputed", "unverified") if any(p[3] == why for p in points)]
    swatches = [(CHART_COLOURS[tone], t("chart_" + tone)) for tone in ("met", "partly", "missed") if tone in tones]
    if whys:
        swatches.append((CHART_COLOURS["none"],
                         t("chart_none", why=", ".join(t("chart_" + why) for why in whys))))
    return {"cells": cells, "text": " · ".join(text), "latest": t("chart_latest", n=len(cells)) if earlier else "",
            "caption": t("chart_caption", target=t("chart_target")), "swatches": swatches}


def _with_charts(view: dict, report: CloseReport, result: ContractResult) -> dict:
    """The statement's view with each KPI's readings chart and the chart's legend."""
    lang = view["lang"]
    t = _t(lang)
    result, _earlier = whole_period(report, result)
    kpis = [dict(k, chart=_chart_view(k["kpi_id"], result, report, lang)) for k in view["kpis"]]
    legend = {"title": t("chart_title")}
    return dict(view, kpis=kpis, chart_legend=legend)
