"""What moved the money of an adjusted month: each changed reading, by the amount it moved.

A close recomputes every month from everything known now; when an earlier month's due
changes, statements and the summary say why. A reading change is credited with exactly the
amount it moved: the contract is settled again with that one change undone (the reading as it
was stored before this run), and the difference of each month's due is that change's share.
A change that moved no invoiced amount says what it did instead (a held amount now
forfeited, with the amount now lost). Nothing here is arithmetic of record: the CSVs come
from the close itself; this only explains it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perfsettle.core.model import ContractResult, MonthResult, Reading, ReadingChange
from perfsettle.core.settle import settle_contract

MAX_CHANGES = 40     # changes of one contract re-settled one by one; beyond, months say "recalculated"


@dataclass(frozen=True)
class Move:
    """What one reading change did to one month."""
    change: ReadingChange
    amount: Decimal                                  # its share of the month's due
    statuses: tuple[tuple[str, str, str, Decimal], ...] = ()   # (kpi_id, before, after, amount)


def moves(result: ContractResult, changes: tuple[ReadingChange, ...], readings: dict,
          period: str, own: dict | None = None) -> dict[str, list[Move]] | None:
    """month -> the moves of the contract's reading changes in that month; None when the
    readings the close used are not known (then nothing can be attributed). ``own``: the
    contract's readings of ``readings`` by (kpi_id, month), when the caller has them indexed
    (``CloseReport.readings_of``), rather than looked for among all readings."""
    if not readings or result.terms is None or not changes or len(changes) > MAX_CHANGES:
        return None
    cid = result.contract_id
    mine = own if own is not None else {(kid, month): r for (c, kid, month), r in readings.items() if c == cid}
    invoiced = {m.month: m.invoiced_before for m in result.months}
    now = {m.month: m for m in result.months}
    out: dict[str, list[Move]] = {}
    for change in changes:
        undone = dict(mine)
        key = (change.kpi_id, change.month)
        if change.old_status is None:
            undone.pop(key, None)
        else:
            undone[key] = Reading(cid, change.kpi_id, change.month, change.old_value, change.old_status)
        before = {m.month: m for m in settle_contract(result.terms, undone, invoiced, period).months}
        for month, m in now.items():
            b = before.get(month)
            if b is None:
                continue
            amount = m.due - b.due
            statuses = _status_moves(b, m)
            if amount or statuses:
                out.setdefault(month, []).append(Move(change, amount, statuses))
    return out


def _outcome(kr) -> str:
    if kr.status != "earned":
        return kr.status
    return "forfeited" if kr.earned_k == 0 and kr.pool_k else "earned"


def _status_moves(before: MonthResult, after: MonthResult) -> tuple[tuple[str, str, str, Decimal], ...]:
    """KPIs whose outcome changed between the two settlements of a month."""
    old = {k.kpi_id: k for k in before.kpis}
    out = []
    for k in after.kpis:
        b = old.get(k.kpi_id)
        if b is None:
            continue
        was, now = _outcome(b), _outcome(k)
        if was != now:
            amount = {"forfeited": k.forfeited_k, "held": k.held_k, "deferred": k.deferred_k}.get(now, k.earned_k)
            out.append((k.kpi_id, was, now, amount))
    if before.bonus_malus != after.bonus_malus:
        out.append(("", before.bonus_malus, after.bonus_malus, after.bonus - after.malus))
    return tuple(out)
