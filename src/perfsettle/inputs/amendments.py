"""Validation of the Amendments and Events sheets (SPEC §2), and of the terms in force in
every month of a contract once its amendments apply.

Each finding is located at its cell and belongs to its contract: an error excludes the
contract from the close (``validation.check_run`` applies the scope).
"""
from __future__ import annotations

from decimal import Decimal

from perfsettle.core import months, schema
from perfsettle.core.diagnostics import Text, make
from perfsettle.core.model import Amendment, Contract, Diagnostic, Event, Intake, Kpi, Terms
from perfsettle.core.money import fr as fr_number
from perfsettle.core.terms import CONTRACT_FIELDS, KPI_FIELDS, Schedule
from perfsettle.inputs import cells

VOID = {"void", "annule", "annulee"}
# Ranges of the amendable numbers (the same rules as their Contracts/KPIs columns).
_RANGES = {
    "monthly_fee": (Decimal(0), None, True), "variable_share": (Decimal(0), Decimal(1), True),
    "bonus_rate": (Decimal(0), Decimal(1), False), "malus_rate": (Decimal(0), Decimal(1), False),
    "bonus_band": (Decimal(0), None, False), "hold_limit_months": (1, 120, False),
    "vat_rate": (Decimal(0), Decimal(1), False),
    "weight": (Decimal(0), Decimal(1), False), "window_months": (1, 120, False), "min_coverage": (1, 120, False),
}


def field_column(name: str, kpi: bool) -> schema.Column | None:
    """The column an amendment's field names, when that field can be amended."""
    spec = schema.KPIS if kpi else schema.CONTRACTS
    allowed = KPI_FIELDS if kpi else CONTRACT_FIELDS
    col = schema.column_for(spec, name)
    if col is None:
        k = schema.key(name)
        return next((schema.Column(f, "fraction") for f in allowed if schema.key(f) == k), None)
    return col if col.name in allowed else None


def amendment(row, known: set, known_kpis: set, contract_of, out: Intake, diags: list) -> None:
    """One Amendments row: into ``out.amendments`` (None value = withdrawn), or findings."""
    v, cid = row.values, row.contract_id
    if cid is None:
        return
    if cid not in known:
        diags.append(make("unknown-contract", row.source("contract_id"), cid, contract=cid))
        return
    kid = v.get("kpi_id") or ""
    if kid and (cid, kid) not in known_kpis:
        diags.append(make("unknown-kpi", row.source("kpi_id"), cid, contract=cid, kpi_id=kid))
        return
    if row.bad or v.get("field") is None or v.get("effective_month") is None or not v.get("reason"):
        return
    col = field_column(v["field"], bool(kid))
    if col is None:
        what = Text("a KPI", "d'un indicateur") if kid else Text("a contract", "du contrat")
        diags.append(make("amendment-field", row.source("field"), cid, field=v["field"], what=what,
                          contract_fields=", ".join(CONTRACT_FIELDS), kpi_fields=", ".join(KPI_FIELDS)))
        return
    month = v["effective_month"]
    contract = contract_of(cid)
    if contract is not None and not contract.start_month <= month <= contract.last_month:
        diags.append(make("amendment-outside-term", row.source("effective_month"), cid, month=month, contract=cid,
                          start=contract.start_month, end=contract.last_month))
        return
    raw = v.get("value")
    key = (cid, kid, col.name, month)
    if isinstance(raw, str) and schema.key(raw) in VOID:
        out.amendments[key] = (None, row.source("value"))
        return
    if cells.is_blank(raw):
        if col.required:
            diags.append(make("amendment-clears-required", row.source("value"), cid,
                              column=Text(col.name, col.label_fr or col.name)))
            return
        value = None
    else:
        value, problem = cells.converter(col)(raw)
        if problem is not None:
            diags.append(problem.at(row.source("value"), cid))
            if problem.is_error:
                return
        found = _range_problem(col.name, value, contract, row.source("value"), cid)
        if found is not None:
            diags.append(found)
            return
    out.amendments[key] = (Amendment(cid, kid, col.name, value, month, v.get("reason") or "",
                                     v.get("reference") or ""), row.source("value"))


def _range_problem(field: str, value, contract: Contract | None, source, cid) -> Diagnostic | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    if field in _RANGES:
        lo, hi, lo_open = _RANGES[field]
        if (value <= lo if lo_open else value < lo) or (hi is not None and value > hi):
            bounds = Text(f"{'above' if lo_open else 'from'} {lo}" + (f" {'and at most' if lo_open else 'to'} {hi}"
                                                                        if hi is not None else ""),
                          f"{'supérieur à' if lo_open else 'à partir de'} {fr_number(lo)}"
                          + (f" {'et au plus' if lo_open else 'à'} {fr_number(hi)}" if hi is not None else ""))
            return make("amendment-value-out-of-range", source, cid, field=field, bounds=bounds, value=str(value))
    if field == "monthly_fee" and contract is not None:
        p = cells.money_digits_problem(value, contract.currency)
        if p is not None:
            return p.at(source, cid)
    return None


def event(row, known: set, contract_of, out: Intake, diags: list) -> None:
    """One Events row: into ``out.events`` (a blank month withdraws the event), or findings."""
    v, cid = row.values, row.contract_id
    if cid is None:
        return
    if cid not in known:
        diags.append(make("unknown-contract", row.source("contract_id"), cid, contract=cid))
        return
    if row.bad or v.get("event") is None:
        return
    month = v.get("month")
    key = (cid, v["event"])
    if month is None:
        out.events[key] = (None, row.source("month"))
        return
    contract = contract_of(cid)
    if contract is not None and month < contract.start_month:
        diags.append(make("termination-before-start", row.source("month"), cid, month=month, contract=cid,
                          start=contract.start_month))
        return
    out.events[key] = (Event(cid, v["event"], month, v.get("reason") or ""), row.source("month"))


def terms_problems(terms: Terms) -> list[tuple[str, str, str, str]]:
    """The §2 rules broken by the terms in force in each month where amendments take
    effect: (effective month, code, en, fr)."""
    out = []
    schedule = Schedule(terms)
    for month, t in schedule.periods[1:]:
        for code, en, fr in _rules(t):
            out.append((month, code, en, fr))
    return out


def _rules(t: Terms):
    c = t.contract
    cid = c.contract_id
    paying = [k for k in t.kpis if k.weight is not None and k.weight > 0]
    if len(paying) < 2:
        yield ("kpi-count", f"contract {cid} needs at least two KPIs with a weight above 0 (has {len(paying)})",
               f"le contrat {cid} doit avoir au moins deux indicateurs de poids non nul (en a {len(paying)})")
    total = sum((k.weight for k in t.kpis), Decimal(0))
    if abs(total - 1) > Decimal("1e-9"):
        yield ("weights-sum", f"the weights of contract {cid} sum to {total:f}, not 1",
               f"les poids du contrat {cid} font {fr_number(total)} au lieu de 1")
    if c.bonus_kpi and c.bonus_target is None:
        yield ("required", "bonus_target is required when bonus_kpi is set",
               "objectif_bonus est obligatoire quand kpi_bonus est renseigné")
    if c.exit_kpi and c.exit_threshold is None:
        yield ("required", "exit_threshold is required when exit_kpi is set",
               "seuil_sortie est obligatoire quand kpi_sortie est renseigné")
    for k in t.kpis:
        yield from _kpi_rules(k)


def _kpi_rules(k: Kpi):
    mode = k.target_mode
    if mode in ("relative", "points") and k.baseline is None:
        yield ("required", f"baseline of {k.kpi_id} is required for a {mode} target",
               f"la référence de {k.kpi_id} est obligatoire pour un objectif {mode}")
        return
    if mode == "relative" and k.baseline <= 0:
        yield ("out-of-range", f"a relative target needs a baseline above 0 ({k.kpi_id})",
               f"un objectif relatif exige une référence supérieure à 0 ({k.kpi_id})")
        return
    if mode in ("relative", "points"):
        sign = 1 if k.direction == "higher" else -1
        if k.target * sign <= 0:
            yield ("target-direction", f"the target of {k.kpi_id} is no longer better than its baseline",
                   f"l'objectif de {k.kpi_id} n'est plus meilleur que sa référence")
            return
    if k.floor is not None and not k.better(k.target_level, k.floor_level):
        yield ("floor-not-worse", f"the floor level {k.floor_level:f} of {k.kpi_id} must be strictly worse than the target level {k.target_level:f}",
               f"le niveau plancher {fr_number(k.floor_level)} de {k.kpi_id} doit être strictement moins bon que l'objectif {fr_number(k.target_level)}")
    if k.min_coverage is not None and k.min_coverage > k.window_months:
        yield ("out-of-range", f"min_coverage {k.min_coverage} of {k.kpi_id} is more than its window ({k.window_months} months)",
               f"couverture_min {k.min_coverage} de {k.kpi_id} dépasse sa fenêtre ({k.window_months} mois)")


def check_amended_terms(terms: Terms, sources: dict, anchor, diags: list) -> None:
    """Errors for every month whose terms in force break a rule, at the cells of the
    amendments effective in that month (``sources``: amendment key -> Source of this run)."""
    cid = terms.contract.contract_id
    for month, code, en, fr in terms_problems(terms):
        cells_of = [src for key, src in sources.items() if key[3] == month]
        where = cells_of or ([anchor] if anchor is not None else [])
        for src in where:
            diags.append(make("amended-terms-invalid", src, cid, month=month, rule=Text(en, fr), rule_code=code))
    # The warning of §2 holds month by month too: operational gains crossed with robustness.
    for month, t in Schedule(terms).periods[1:]:
        paying = [k for k in t.kpis if k.weight is not None and k.weight > 0]
        if len(paying) >= 2 and all(k.category for k in paying) and \
                not any(k.category == "robustness" for k in paying):
            cells_of = [src for key, src in sources.items() if key[3] == month]
            for src in cells_of:
                diags.append(make("no-robustness", src, cid, contract=cid))


# Terms that do not enter the arithmetic: changing them restates nothing (SPEC §4).
_NOT_ARITHMETIC = {"client", "provider", "mediator", "contact_email", "language", "name", "unit", "category",
                   "contract_id", "kpi_id"}


def restated(old, new, row, invoiced: list[str], diags: list) -> None:
    """The ``terms-restated`` warning on every changed cell of a stored contract or KPI whose
    months were already invoiced by a close."""
    if old is None or not invoiced:
        return
    span = invoiced[0] if len(invoiced) == 1 else f"{invoiced[0]}..{invoiced[-1]}"
    for name in type(new).__dataclass_fields__:
        if name in _NOT_ARITHMETIC or name.startswith("client_") or getattr(old, name, None) == getattr(new, name):
            continue
        if name not in row.letters:
            src = row.source()
        else:
            src = row.source(name)
        diags.append(make("terms-restated", src, new.contract_id, column=name, old=_show(getattr(old, name, None)),
                          new=_show(getattr(new, name)), months=span))


def _show(value) -> str:
    if value is None:
        return "(blank)"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def invoiced_months(closed: dict) -> dict[str, list[str]]:
    """(cid, month) -> amount invoiced by closes, as cid -> sorted months with a line."""
    out: dict[str, set] = {}
    for (cid, month), amount in closed.items():
        out.setdefault(cid, set()).add(month)
    return {cid: sorted(ms) for cid, ms in out.items()}


__all__ = ["amendment", "event", "check_amended_terms", "restated", "invoiced_months", "field_column", "months"]
