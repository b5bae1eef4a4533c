"""The totals of a close per currency, computed once (``CloseReport.totals``) for every output
that shows them: the CSV manifest and run log, the summary, the close workbook, the command line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

AMOUNTS = ("due", "earned", "held", "deferred", "forfeited", "bonus", "malus", "invoice_now")
PERIOD_AMOUNTS = ("pool", "earned", "held", "deferred", "forfeited")


@dataclass
class CurrencyTotals:
    settled: int = 0                 # settled contracts in this currency
    months: int = 0                  # settled contract months
    amounts: dict = field(default_factory=lambda: {k: Decimal(0) for k in AMOUNTS})   # Σ over every month
    lines: int = 0                   # invoice lines: months with an invoice_now
    period_lines: Decimal = Decimal(0)    # Σ invoice_now of the lines of the period month
    earlier_lines: Decimal = Decimal(0)   # Σ invoice_now of the lines of earlier months
    period_month: Decimal = Decimal(0)    # Σ invoice_now of the period month, in the term
    adjustments: Decimal = Decimal(0)     # Σ invoice_now of every other month (earlier, or out of the term)
    period: dict = field(default_factory=lambda: {k: Decimal(0) for k in PERIOD_AMOUNTS})  # the period month's


def per_currency(period: str, results) -> dict[str, CurrencyTotals]:
    """Per currency (sorted): the sums of the settled months of ``results``."""
    sums: dict[str, CurrencyTotals] = {}
    for r in results:
        if r.status == "settled":
            sums.setdefault(r.currency, CurrencyTotals()).settled += 1
        for m in r.months:
            t = sums.setdefault(m.currency, CurrencyTotals())
            t.months += 1
            for k in AMOUNTS:
                t.amounts[k] += getattr(m, k)
            if m.invoice_now != 0:
                t.lines += 1
                if m.month == period:
                    t.period_lines += m.invoice_now
                else:
                    t.earlier_lines += m.invoice_now
            if m.month == period and m.in_term:
                t.period_month += m.invoice_now
                for k in PERIOD_AMOUNTS:
                    t.period[k] += getattr(m, k)
            else:
                t.adjustments += m.invoice_now
    return dict(sorted(sums.items()))
