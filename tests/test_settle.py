"""The settlement rules of SPEC §3–§4, each with a small inline contract."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from fractions import Fraction

from perfsettle.core.model import Contract, Kpi, Problem, Reading, Terms
from perfsettle.core.money import round_money
from perfsettle.core.settle import attainment, exit_status, settle, settle_contract, split_pool


def contract(**over) -> Contract:
    base = dict(contract_id="C1", client="Client", provider="Agence", company_size="PME", currency="EUR",
                start_month="2026-01", duration_months=12, monthly_fee=D("10000"), variable_share=D("0.35"))
    base.update(over)
    return Contract(**base)


def kpi(kid="k1", **over) -> Kpi:
    base = dict(contract_id="C1", kpi_id=kid, name=kid, category="operational", direction="higher",
                target_mode="absolute", target=D("0.8"), weight=D("0.5"))
    base.update(over)
    return Kpi(**base)


def terms(*kpis, **c) -> Terms:
    return Terms(contract(**c), tuple(kpis))


def reads(*rows) -> dict:
    """rows of (kpi_id, month, value, status)."""
    out = {}
    for kid, month, value, *status in rows:
        out[(kid, month)] = Reading("C1", kid, month, None if value is None else D(str(value)),
                                    status[0] if status else "verified")
    return out


def month(result, m):
    return next(x for x in result.months if x.month == m)


def kres(month_result, kid):
    return next(k for k in month_result.kpis if k.kpi_id == kid)


# --------------------------------------------------------------------------- levels and attainment

def test_relative_target_level_is_exact_and_a_reading_at_the_level_meets_it():
    k = kpi(baseline=D("0.7"), target_mode="relative", target=D("0.15"))
    assert k.target_level == D("0.805")
    assert attainment(k, D("0.805")) == 1
    assert attainment(k, D("0.8049")) == 0


def test_points_target_level_adds_to_the_baseline():
    k = kpi(baseline=D("0.62"), target_mode="points", target=D("0.2"), floor=D("0.1"))
    assert (k.target_level, k.floor_level) == (D("0.82"), D("0.72"))
    assert attainment(k, D("0.79")) == Fraction(7, 10)


def test_linear_attainment_is_clamped_for_a_lower_is_better_kpi():
    k = kpi(direction="lower", baseline=D("120"), target_mode="relative", target=D("-0.3"), floor=D("-0.1"))
    assert (k.target_level, k.floor_level) == (D("84.0"), D("108.0"))
    assert attainment(k, D("96")) == Fraction(1, 2)
    assert attainment(k, D("80")) == 1
    assert attainment(k, D("130")) == 0


def test_earned_k_is_pool_times_exact_attainment_rounded_once_half_up():
    # SPEC §3: pool_k = 1500.06 and a = 7/12 gives 875.04 (875.035 half up), not 875.03.
    assert round_money(Fraction(D("1500.06")) * Fraction(7, 12), "EUR") == D("875.04")
    t = terms(kpi("a", weight=D("0.5"), floor=D("0"), target=D("12")), kpi("b", weight=D("0.5")),
              monthly_fee=D("6000.24"), variable_share=D("0.5"))
    assert split_pool(t) == {"a": D("1500.06"), "b": D("1500.06")}
    r = settle_contract(t, reads(("a", "2026-01", 7), ("b", "2026-01", 0.9)), {}, "2026-01")
    assert kres(month(r, "2026-01"), "a").earned_k == D("875.04")


# --------------------------------------------------------------------------- pool split

def test_largest_remainder_gives_leftover_units_by_fraction_then_kpi_id():
    t = terms(kpi("b", weight=D("0.5")), kpi("a", weight=D("0.5")), monthly_fee=D("0.03"), variable_share=D("0.5"))
    # fixed = round(0.015) = 0.02, pool = 0.01: one unit, two equal quotas: kpi "a" gets it.
    assert split_pool(t) == {"a": D("0.01"), "b": D("0.00")}


def test_largest_remainder_prefers_the_largest_fractional_part():
    t = terms(kpi("a", weight=D("0.5")), kpi("b", weight=D("0.3")), kpi("c", weight=D("0.2")),
              monthly_fee=D("0.14"), variable_share=D("0.5"))
    # pool 7 units: quotas 3.5, 2.1, 1.4 -> floors 3, 2, 1 (6) -> leftover to a (.5)
    assert split_pool(t) == {"a": D("0.04"), "b": D("0.02"), "c": D("0.01")}


def test_zero_decimal_currency_rounds_to_whole_yen():
    t = terms(kpi("a", weight=D("0.5")), kpi("b", weight=D("0.5")), currency="JPY", monthly_fee=D("100001"),
              variable_share=D("0.35"))
    r = settle_contract(t, reads(("a", "2026-01", 0.9), ("b", "2026-01", 0.1)), {}, "2026-01")
    m = month(r, "2026-01")
    assert (m.fixed, m.pool, m.earned, m.forfeited) == (D("65001"), D("35000"), D("17500"), D("17500"))


def test_weight_zero_kpi_pays_nothing_and_has_no_result_row():
    t = terms(kpi("a"), kpi("b"), kpi("roi", weight=D("0")))
    r = settle_contract(t, reads(("a", "2026-01", 0.9), ("b", "2026-01", 0.9)), {}, "2026-01")
    assert [k.kpi_id for k in month(r, "2026-01").kpis] == ["a", "b"]


# --------------------------------------------------------------------------- holds, windows, due months

def test_window_takes_the_worst_reading_and_holds_on_missing_or_disputed_months():
    t = terms(kpi("a", window_months=3, target=D("0.98")), kpi("b"))
    rs = reads(("a", "2026-01", 0.99), ("a", "2026-02", 0.985), ("a", "2026-03", 0.99),
               ("a", "2026-05", 0.99, "disputed"), ("b", "2026-03", 0.9), ("b", "2026-05", 0.9))
    r = settle_contract(t, rs, {}, "2026-05")
    assert kres(month(r, "2026-03"), "a").value == D("0.985")
    held = kres(month(r, "2026-05"), "a")
    assert held.status == "held" and held.problems == (Problem("2026-04", "missing"), Problem("2026-05", "disputed"))
    assert held.held_k == held.pool_k and held.earned_k == 0


def test_requires_verified_holds_provisional_readings():
    t = terms(kpi("a"), kpi("b"), requires_verified=True)
    r = settle_contract(t, reads(("a", "2026-01", 0.9, "provisional"), ("b", "2026-01", 0.9)), {}, "2026-01")
    assert kres(month(r, "2026-01"), "a").problems == (Problem("2026-01", "unverified"),)
    t2 = terms(kpi("a"), kpi("b"))
    r2 = settle_contract(t2, reads(("a", "2026-01", 0.9, "provisional"), ("b", "2026-01", 0.9)), {}, "2026-01")
    assert kres(month(r2, "2026-01"), "a").status == "earned"


def test_a_voided_reading_counts_as_missing():
    t = terms(kpi("a"), kpi("b"))
    rs = reads(("a", "2026-01", None, "void"), ("b", "2026-01", 0.9))
    assert kres(month(settle_contract(t, rs, {}, "2026-01"), "2026-01"), "a").problems == (Problem("2026-01", "missing"),)


def test_due_month_defers_then_settles_earlier_months_by_the_due_evaluation():
    t = terms(kpi("roi", due_month=3, target=D("0.12")), kpi("b"))
    rs = reads(("b", "2026-01", 0.9), ("b", "2026-02", 0.9), ("b", "2026-03", 0.9), ("roi", "2026-03", 0.13))
    before = settle_contract(t, rs, {}, "2026-02")
    k = kres(month(before, "2026-01"), "roi")
    assert (k.status, k.due_month, k.deferred_k) == ("deferred", "2026-03", k.pool_k)
    after = settle_contract(t, rs, {}, "2026-03")
    k = kres(month(after, "2026-01"), "roi")
    assert (k.status, k.value, k.earned_k) == ("earned", D("0.13"), k.pool_k)


# --------------------------------------------------------------------------- bonus-malus and exit

def test_lower_is_better_bonus_kpi_pays_a_bonus_below_its_target():
    cost = kpi("cost", direction="lower", weight=D("0"), target=D("100"))
    t = terms(kpi("a"), kpi("b"), cost, bonus_kpi="cost", bonus_target=D("100"))
    base = reads(("a", "2026-01", 0.9), ("b", "2026-01", 0.9))
    below = settle_contract(t, {**base, **reads(("cost", "2026-01", 90))}, {}, "2026-01")
    m = month(below, "2026-01")
    assert (m.bonus_malus, m.bonus, m.malus) == ("bonus", D("350.00"), D("0.00"))
    assert m.due == D("6500.00") + D("3500.00") + D("350.00")
    above = month(settle_contract(t, {**base, **reads(("cost", "2026-01", 110))}, {}, "2026-01"), "2026-01")
    assert (above.bonus_malus, above.malus) == ("malus", D("350.00"))
    equal = month(settle_contract(t, {**base, **reads(("cost", "2026-01", 100))}, {}, "2026-01"), "2026-01")
    assert equal.bonus_malus == "none"
    held = month(settle_contract(t, base, {}, "2026-01"), "2026-01")
    assert (held.bonus_malus, held.bonus, held.malus) == ("held", 0, 0)


def test_exit_right_at_the_exit_month_and_watch_before_it():
    auto = kpi("auto", weight=D("0"), target=D("0.7"))
    t = terms(kpi("a"), kpi("b"), auto, exit_kpi="auto", exit_threshold=D("0.7"))  # E = month 6 = 2026-06
    low = reads(*[("auto", f"2026-0{m}", 0.6) for m in range(1, 8)])
    assert exit_status(t, low, "2026-03").status == "watch"
    assert exit_status(t, low, "2026-07").status == "exit_right"
    ok = reads(*[("auto", f"2026-0{m}", 0.7) for m in range(1, 8)])
    assert exit_status(t, ok, "2026-07").status == "ok"
    assert exit_status(t, {}, "2026-07").status == "undetermined"
    assert exit_status(t, {}, "2026-03").status == "ok"
    assert exit_status(t, low, "2025-12").status == "ok"
    assert exit_status(terms(kpi("a"), kpi("b")), low, "2026-07").status == "n/a"


# --------------------------------------------------------------------------- ledger

def test_invoice_now_is_due_minus_what_was_invoiced_and_a_rerun_invoices_nothing():
    t = terms(kpi("a"), kpi("b"))
    rs = reads(("a", "2026-01", 0.9), ("b", "2026-01", 0.9), ("a", "2026-02", 0.9), ("b", "2026-02", 0.5))
    first = settle([t], rs.values(), {("C1", "2026-01"): D("9000")}, "2026-02")[0]
    assert [(m.month, m.invoiced_before, m.invoice_now) for m in first.months] == [
        ("2026-01", D("9000"), D("1000.00")), ("2026-02", D("0"), D("8250.00"))]
    ledger = {("C1", m.month): m.invoiced_before + m.invoice_now for m in first.months}
    again = settle([t], rs.values(), ledger, "2026-02")[0]
    assert all(m.invoice_now == 0 for m in again.months)


def test_invoiced_month_outside_a_shortened_term_is_credited_back():
    t = terms(kpi("a"), kpi("b"), duration_months=1)
    rs = reads(("a", "2026-01", 0.9), ("b", "2026-01", 0.9))
    r = settle([t], rs.values(), {("C1", "2026-02"): D("7000.00")}, "2026-02")[0]
    feb = month(r, "2026-02")
    assert (feb.fee, feb.due, feb.bonus_malus, feb.invoice_now, feb.kpis) == (0, 0, "n/a", D("-7000.00"), ())


def test_not_started_and_excluded_contracts_have_no_months():
    t = terms(kpi("a"), kpi("b"), start_month="2027-01")
    assert settle([t], [], {}, "2026-12")[0].status == "not_started"
    r = settle([replace(t, contract=contract())], [], {}, "2026-12", excluded={"C1"})[0]
    assert (r.status, r.months) == ("excluded", ())


def test_conservation_in_every_month():
    t = terms(kpi("a", floor=D("0.5"), window_months=2), kpi("b", due_month=4), kpi("c", weight=D("0")),
              monthly_fee=D("12345.67"), variable_share=D("0.45"))
    t = replace(t, kpis=(replace(t.kpis[0], weight=D("0.65")), replace(t.kpis[1], weight=D("0.35")), t.kpis[2]))
    rs = reads(("a", "2026-01", 0.55), ("a", "2026-02", 0.77), ("b", "2026-01", 0.9), ("a", "2026-03", 0.7,
                                                                                          "disputed"))
    for m in settle_contract(t, rs, {}, "2026-03").months:
        assert m.fee == m.fixed + m.earned + m.held + m.deferred + m.forfeited
