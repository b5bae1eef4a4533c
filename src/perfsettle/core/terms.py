"""The terms in force in each calendar month (SPEC §2 Amendments, §3).

The terms in force in month M are the Contracts and KPIs rows as signed with every amendment
whose effective_month ≤ M applied, in effective_month order. ``Schedule`` resolves them once
per distinct set of amendments: a contract with no amendment has one set of terms for all
its months.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from decimal import Decimal

from perfsettle.core.model import Amendment, Terms

# The terms an amendment may change (SPEC §2, sheet Amendments).
CONTRACT_FIELDS = ("monthly_fee", "variable_share", "requires_verified", "bonus_target", "bonus_rate",
                   "malus_rate", "bonus_band", "exit_threshold", "hold_limit_months", "deemed_outcome",
                   "vat_rate", "mediator", "contact_email", "language")
KPI_FIELDS = ("name", "unit", "baseline", "target_mode", "target", "floor", "weight", "window_months",
              "window_agg", "min_coverage")
# An amendment of a field the model does not hold (yet) is kept but changes nothing here.
# A blank value clears an optional term: it takes its default.
_DEFAULTS = {"bonus_band": Decimal(0), "deemed_outcome": "missed", "bonus_rate": Decimal("0.10"),
             "malus_rate": Decimal("0.10"), "requires_verified": False, "mediator": "", "contact_email": "",
             "language": "fr", "unit": "", "window_agg": "worst", "window_months": 1}


def apply(terms: Terms, amendments: tuple[Amendment, ...]) -> Terms:
    """``terms`` with ``amendments`` applied in order (a blank value clears an optional term)."""
    contract = terms.contract
    kpis = {k.kpi_id: k for k in terms.kpis}
    for a in amendments:
        if a.kpi_id:
            k = kpis.get(a.kpi_id)
            if k is not None and hasattr(k, a.field):
                kpis[a.kpi_id] = replace(k, **{a.field: _value(a)})
        elif hasattr(contract, a.field):
            contract = replace(contract, **{a.field: _value(a)})
    return Terms(contract, tuple(kpis[k.kpi_id] for k in terms.kpis), terms.amendments, terms.events)


def _value(a: Amendment):
    if a.value is None:
        return _DEFAULTS.get(a.field)
    return a.value


class Schedule:
    """The terms of one contract month by month."""
    __slots__ = ("signed", "starts", "sets", "applied")

    def __init__(self, terms: Terms):
        self.signed = terms
        ordered = sorted(terms.amendments, key=lambda a: (a.effective_month, a.kpi_id, a.field))
        self.starts: list[str] = []          # effective months, ascending
        self.sets: list[Terms] = [terms]     # sets[i + 1] is in force from starts[i]
        self.applied: list[tuple[Amendment, ...]] = [()]
        current = terms
        for month in sorted({a.effective_month for a in ordered}):
            now = tuple(a for a in ordered if a.effective_month == month)
            current = apply(current, now)
            self.starts.append(month)
            self.sets.append(current)
            self.applied.append(self.applied[-1] + now)

    def at(self, month: str) -> Terms:
        """The terms in force in calendar month ``month``."""
        return self.sets[bisect_right(self.starts, month)]

    def amendments_at(self, month: str) -> tuple[Amendment, ...]:
        """The amendments in force in ``month`` (effective by then), in effective order."""
        return self.applied[bisect_right(self.starts, month)]

    def effective_in(self, month: str) -> tuple[Amendment, ...]:
        """The amendments that take effect in ``month`` itself."""
        return tuple(a for a in self.signed.amendments if a.effective_month == month)

    @property
    def periods(self) -> list[tuple[str, Terms]]:
        """(first month, terms) of each stretch of months with the same terms."""
        return [(self.signed.contract.start_month, self.sets[0])] + list(zip(self.starts, self.sets[1:]))
