"""The client's early-exit right (SPEC §3): evaluated at the exit month E, watched before it,
open for exit_window_months after it, exercised by a termination, lapsed after its window."""
from __future__ import annotations

from perfsettle.core import months
from perfsettle.core.model import ExitResult


def exit_status(ctx) -> ExitResult:
    terms = ctx.terms
    c = terms.contract
    if not c.exit_kpi or terms.kpi(c.exit_kpi) is None:
        return ExitResult("n/a")
    e = c.effective_exit_month
    e_month = ctx.month(e)
    ended = terms.termination
    if ended is not None and ctx.last < e:
        return ExitResult("n/a", e_month)
    at_e = ctx.at(e)
    threshold = at_e.contract.exit_threshold
    kpi = at_e.kpi(c.exit_kpi)
    period = ctx.period
    if e_month <= period:
        ev = ctx.evaluation(c.exit_kpi, e, hold=False)
        if ev.held:
            return ExitResult("undetermined", e_month, e_month, None, threshold, ev.problems)
        if not kpi.better(threshold, ev.value):
            return ExitResult("ok", e_month, e_month, ev.value, threshold)
        if ended is not None:
            return ExitResult("exercised", e_month, e_month, ev.value, threshold)
        w = c.exit_window_months
        if w and months.diff(period, e_month) > w:
            return ExitResult("lapsed", e_month, e_month, ev.value, threshold, deadline=months.add(e_month, w))
        return ExitResult("exit_right", e_month, e_month, ev.value, threshold,
                          deadline=months.add(e_month, w) if w else "")
    if period < c.start_month:
        return ExitResult("ok", e_month, "", None, threshold, not_started=True)
    ev = ctx.evaluation(c.exit_kpi, ctx.p, hold=False)
    if not ev.held and kpi.better(threshold, ev.value):
        return ExitResult("watch", e_month, period, ev.value, threshold)
    return ExitResult("ok", e_month, period, ev.value, threshold, ev.problems if ev.held else ())
