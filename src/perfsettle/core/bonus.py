"""Bonus-malus in blocks of contract months (SPEC §3).

Contract months are grouped in blocks of bonus_every months (1..N, N+1..2N, …; the last
block ends at L). The month that ends a block settles it, once the close has reached it:
the bonus KPI is evaluated there (no due month, no hold limit), against bonus_target and
bonus_band in force there, on a base summed over the block's months (earned, or the whole
pool). Every other month is ``pending``.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from perfsettle.core.money import round_product


def settle_bonus(ctx, rows: list) -> list:
    """``rows`` (months 1..n before bonus-malus) with the bonus-malus of every block."""
    signed = ctx.terms.contract
    if not signed.bonus_kpi:
        return rows
    n_every = max(1, signed.bonus_every or 1)
    out = []
    for i, row in enumerate(rows):
        m = i + 1
        first = ((m - 1) // n_every) * n_every + 1
        last = min(first + n_every - 1, ctx.last)
        block = (ctx.month(first), ctx.month(last))
        if m < last:
            out.append(replace(row, bonus_malus="pending", bonus_block=block))
            continue
        terms = ctx.at(m)
        c = terms.contract
        ev = ctx.evaluation(signed.bonus_kpi, m, hold=False)
        months_of_block = rows[first - 1:m]
        base = sum(((r.pool if c.bonus_base == "pool" else r.earned) for r in months_of_block), row.fixed * 0)
        status, bonus, malus = "none", row.bonus, row.malus
        kpi, _ = ctx.kpi_at(terms, signed.bonus_kpi)
        if ev.held:
            status = "held"
        else:
            v, target, band = ev.value, c.bonus_target, c.bonus_band or 0
            if isinstance(v, Fraction):         # an exact mean: compare exactly
                target, band = Fraction(target), Fraction(band)
            gap = v - target if kpi.direction == "higher" else target - v
            if gap > band:
                status, bonus = "bonus", _times(base, c.bonus_rate, c.currency)
            elif -gap > band:
                status, malus = "malus", _times(base, c.malus_rate, c.currency)
        due = row.fixed + row.earned + bonus - malus
        out.append(replace(row, bonus_malus=status, bonus=bonus, malus=malus, due=due,
                           invoice_now=due - row.invoiced_before, bonus_value=ev.value,
                           bonus_problems=ev.problems if ev.held else (), bonus_block=block, bonus_base=base))
    return out


def _times(base, rate, currency: str):
    """round_money(base × rate), the product exact whatever the ambient decimal context."""
    return round_product(currency, base, rate)
