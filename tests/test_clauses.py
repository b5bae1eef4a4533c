"""The clause options and contract changes of SPEC §3: amendments (terms in force per month),
terminations, coverage and mean windows, hold limit, earnback, bonus blocks, exit window and
chronic failure — each rule with a small inline contract and exact amounts."""
from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

from perfsettle.core.model import Amendment, Contract, Event, Kpi, Problem, Reading, Terms
from perfsettle.core.settle import settle_contract
from perfsettle.outputs.exports import kpi_reason


def contract(**over) -> Contract:
    base = dict(contract_id="C1", client="Client", provider="Agence", company_size="PME", currency="EUR",
                start_month="2026-01", duration_months=12, monthly_fee=D("10000"), variable_share=D("0.4"))
    base.update(over)
    return Contract(**base)


def kpi(kid, **over) -> Kpi:
    base = dict(contract_id="C1", kpi_id=kid, name=kid, category="operational", direction="higher",
                target_mode="absolute", target=D("0.8"), weight=D("0.5"))
    base.update(over)
    return Kpi(**base)


def terms(*kpis, amendments=(), events=(), **c) -> Terms:
    return Terms(contract(**c), tuple(sorted(kpis, key=lambda k: k.kpi_id)), tuple(amendments), tuple(events))


def table(text: str) -> dict:
    """Readings as an inline table: one line ``kpi month value [status]``."""
    out = {}
    for line in filter(str.strip, text.splitlines()):
        kid, month, value, *status = line.split()
        out[(kid, month)] = Reading("C1", kid, month, None if value == "-" else D(value),
                                    status[0] if status else "verified")
    return out


def amend(field, value, month, kid="", reason="avenant"):
    return Amendment("C1", kid, field, value, month, reason, "AV-1")


def ended(month, reason="mutual"):
    return Event("C1", "terminated", month, reason)


def row(result, month, kid=None):
    m = next(x for x in result.months if x.month == month)
    return m if kid is None else next(k for k in m.kpis if k.kpi_id == kid)


def months_of(result):
    return [m.month for m in result.months]


def b_met(*months):
    return "\n".join(f"b {m} 0.9" for m in months)


# --------------------------------------------------------------------------- coverage and mean windows

def test_coverage_at_the_start_of_a_contract_asks_only_for_the_months_the_window_has():
    t = terms(kpi("a", window_months=3, min_coverage=2), kpi("b"))
    rs = table("""
        a 2026-01 0.9
        a 2026-03 0.85
        b 2026-01 0.9
        b 2026-02 0.9
        b 2026-03 0.9
        b 2026-04 0.9
        a 2026-04 0.7 disputed
    """)
    r = settle_contract(t, rs, {}, "2026-04")
    assert row(r, "2026-01", "a").status == "earned"          # window of 1 month: needs 1
    held = row(r, "2026-02", "a")                              # window of 2 months: needs both
    assert held.status == "held" and held.problems == (Problem("2026-02", "missing"),)
    assert row(r, "2026-03", "a").value == D("0.85")           # 2 of 3 payable: the worst of them
    four = row(r, "2026-04", "a")                              # 2026-02 missing, 2026-04 disputed
    assert four.status == "held" and kpi_reason(four) == "2026-02 missing; 2026-04 disputed"


def test_a_mean_exactly_on_the_floor_pays_nothing_and_a_repeating_mean_is_exact():
    t = terms(kpi("a", window_months=3, window_agg="mean", floor=D("0.8"), target=D("0.9")), kpi("b"),
              monthly_fee=D("10000.03"))
    rs = table("""
        a 2026-01 0.7
        a 2026-02 0.85
        a 2026-03 0.85
        a 2026-04 0.8
        a 2026-05 0.8
        a 2026-06 0.9
    """ + "\n" + b_met("2026-03", "2026-06"))
    r = settle_contract(t, rs, {}, "2026-06")
    on_floor = row(r, "2026-03", "a")       # (0.7 + 0.85 + 0.85) / 3 = 0.8 exactly: the floor
    assert on_floor.value == Fraction(4, 5) and on_floor.attainment == 0 and on_floor.earned_k == 0
    third = row(r, "2026-06", "a")          # (0.8 + 0.8 + 0.9) / 3 = 0.8333…: a = 1/3
    assert third.value == Fraction(5, 6) and third.attainment == Fraction(1, 3)
    assert third.pool_k == D("2000.01")      # pool 4000.01 split 0.5 / 0.5: the leftover cent to a
    assert third.leftover_unit and not row(r, "2026-06", "b").leftover_unit
    assert third.earned_k == D("666.67")     # 2000.01 / 3 = 666.67 exactly, rounded once
    assert third.earned_k + third.forfeited_k == third.pool_k


# --------------------------------------------------------------------------- hold limit

def test_a_hold_limit_reached_exactly_at_h_months_settles_the_deemed_outcome():
    t = terms(kpi("a"), kpi("b"), hold_limit_months=2)
    rs = table(b_met("2026-01", "2026-02", "2026-03", "2026-04", "2026-05") + """
        a 2026-01 0.9
        a 2026-02 0.9
        a 2026-04 0.9
        a 2026-05 0.9
    """)
    one_month = settle_contract(t, rs, {}, "2026-04")
    assert row(one_month, "2026-03", "a").status == "held"                 # 1 month after t
    at_h = settle_contract(t, rs, {}, "2026-05")                             # 2 months after t = H
    deemed = row(at_h, "2026-03", "a")
    assert (deemed.status, deemed.value, deemed.attainment, deemed.earned_k) == ("earned", None, 0, D("0.00"))
    assert deemed.deemed == "missed" and kpi_reason(deemed) == "deemed missed: 2026-03 missing"
    met = settle_contract(terms(kpi("a"), kpi("b"), hold_limit_months=2, deemed_outcome="met"), rs, {}, "2026-05")
    assert row(met, "2026-03", "a").earned_k == D("2000.00")
    assert kpi_reason(row(met, "2026-03", "a")) == "deemed met: 2026-03 missing"


# --------------------------------------------------------------------------- earnback

def test_earnback_is_blocked_by_a_held_month_and_granted_by_a_later_close():
    t = terms(kpi("a", earnback_months=2), kpi("b"))
    base = b_met("2026-01", "2026-02", "2026-03") + """
        a 2026-01 0.7
        a 2026-03 0.9
    """
    blocked = settle_contract(t, table(base), {}, "2026-03")
    jan = row(blocked, "2026-01", "a")
    assert (jan.earned_k, jan.forfeited_k, jan.earned_back_k) == (D("0.00"), D("2000.00"), D("0.00"))
    later = table(base + "\na 2026-02 0.95")
    granted = settle_contract(t, later, {"2026-01": row(blocked, "2026-01").due}, "2026-03")
    jan = row(granted, "2026-01", "a")
    assert (jan.earned_k, jan.forfeited_k, jan.earned_back_k) == (D("2000.00"), D("0.00"), D("2000.00"))
    assert (jan.value, jan.attainment) == (D("0.7"), 0)                  # its own evaluation stays
    assert kpi_reason(jan) == "earned back 2026-02..2026-03"
    assert row(granted, "2026-01").invoice_now == D("2000.00")           # invoiced as a restatement


def test_no_earnback_before_the_close_reaches_the_nth_month():
    t = terms(kpi("a", earnback_months=2), kpi("b"))
    rs = table(b_met("2026-01", "2026-02") + "\na 2026-01 0.7\na 2026-02 0.9")
    assert row(settle_contract(t, rs, {}, "2026-02"), "2026-01", "a").earned_back_k == 0


# --------------------------------------------------------------------------- bonus blocks

def test_a_quarterly_bonus_is_pending_then_settled_on_the_block_and_a_termination_cuts_the_block():
    c = dict(bonus_kpi="roi", bonus_target=D("0.2"), bonus_every=3, bonus_rate=D("0.1"))
    ks = (kpi("a"), kpi("b"), kpi("roi", weight=D("0")))
    rs = table(b_met("2026-01", "2026-02", "2026-03", "2026-04", "2026-05") + """
        a 2026-01 0.9
        a 2026-02 0.7
        a 2026-03 0.9
        a 2026-04 0.9
        a 2026-05 0.9
        roi 2026-03 0.25
        roi 2026-05 0.25
    """)
    r = settle_contract(terms(*ks, **c), rs, {}, "2026-05")
    assert [m.bonus_malus for m in r.months] == ["pending", "pending", "bonus", "pending", "pending"]
    q1 = row(r, "2026-03")
    assert q1.bonus_base == D("10000.00") and q1.bonus == D("1000.00")    # earned Jan–Mar 4000+2000+4000
    assert q1.bonus_block == ("2026-01", "2026-03")
    cut = settle_contract(terms(*ks, events=[ended("2026-05")], **c), rs, {}, "2026-06")
    assert months_of(cut) == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    may = row(cut, "2026-05")                                 # the block Apr–Jun ends at L = May
    assert (may.bonus_malus, may.bonus_block, may.bonus) == ("bonus", ("2026-04", "2026-05"), D("800.00"))


def test_a_pool_based_malus_in_yen_with_a_tolerance_band():
    c = dict(currency="JPY", monthly_fee=D("1000000"), variable_share=D("0.35"), bonus_kpi="roi",
             bonus_target=D("0.2"), bonus_band=D("0.02"), bonus_base="pool", malus_rate=D("0.07"))
    ks = (kpi("a", floor=D("0.5")), kpi("b"), kpi("roi", weight=D("0")))
    rs = table(b_met("2026-01", "2026-02") + """
        a 2026-01 0.6
        a 2026-02 0.6
        roi 2026-01 0.17
        roi 2026-02 0.19
    """)
    r = settle_contract(terms(*ks, **c), rs, {}, "2026-02")
    jan, feb = row(r, "2026-01"), row(r, "2026-02")
    assert jan.pool == D("350000") and jan.earned == D("233333")           # a: 175000 × 1/3 = 58333.33 → 58333
    assert (jan.bonus_malus, jan.malus) == ("malus", D("24500"))           # 350000 × 0.07, on the pool
    assert (feb.bonus_malus, feb.malus) == ("none", D("0"))                # 0.01 short: within the band
    assert jan.due == jan.fixed + jan.earned - jan.malus


# --------------------------------------------------------------------------- amendments

def test_an_amendment_changes_the_terms_from_its_month_and_the_months_before_keep_theirs():
    t = terms(kpi("a", floor=D("0.5")), kpi("b"),
              amendments=[amend("monthly_fee", D("12000"), "2026-03"), amend("target", D("0.9"), "2026-03", "a")])
    rs = table(b_met("2026-02", "2026-03") + "\na 2026-02 0.8\na 2026-03 0.8")
    r = settle_contract(t, rs, {}, "2026-03")
    feb, mar = row(r, "2026-02"), row(r, "2026-03")
    assert (feb.fee, feb.pool, row(r, "2026-02", "a").attainment) == (D("10000.00"), D("4000.00"), 1)
    assert (mar.fee, mar.pool, row(r, "2026-03", "a").target_level) == (D("12000.00"), D("4800.00"), D("0.9"))
    assert row(r, "2026-03", "a").attainment == Fraction(3, 4)
    assert mar.amendments == t.amendments and feb.amendments == ()


def test_an_amendment_effective_in_a_deferred_due_month_sets_the_levels_of_the_months_settled_through_it():
    t = terms(kpi("a", due_month=3), kpi("b"), amendments=[amend("target", D("0.9"), "2026-03", "a")])
    rs = table(b_met("2026-01", "2026-02", "2026-03") + "\na 2026-03 0.85")
    before = settle_contract(t, rs, {}, "2026-02")
    jan = row(before, "2026-01", "a")
    assert (jan.status, jan.due_month, jan.target_level) == ("deferred", "2026-03", D("0.9"))   # as known now
    assert kpi_reason(jan) == "due 2026-03"
    after = settle_contract(t, rs, {}, "2026-03")
    for m in ("2026-01", "2026-02", "2026-03"):
        k = row(after, m, "a")
        assert (k.evaluated_month, k.target_level, k.attainment) == ("2026-03", D("0.9"), 0)


def test_a_kpi_joins_mid_term_by_amendments_of_the_weights():
    t = terms(kpi("a"), kpi("b"), kpi("c", weight=D("0")),
              amendments=[amend("weight", D("0.4"), "2026-03", "a"), amend("weight", D("0.3"), "2026-03", "b"),
                          amend("weight", D("0.3"), "2026-03", "c")])
    rs = table(b_met("2026-02", "2026-03") + "\na 2026-02 0.9\na 2026-03 0.9\nc 2026-03 0.9")
    r = settle_contract(t, rs, {}, "2026-03")
    assert [k.kpi_id for k in row(r, "2026-02").kpis] == ["a", "b"]
    assert [(k.kpi_id, k.pool_k) for k in row(r, "2026-03").kpis] == [
        ("a", D("1600.00")), ("b", D("1200.00")), ("c", D("1200.00"))]


def test_an_amendment_after_the_period_changes_nothing_yet():
    plain = terms(kpi("a"), kpi("b"))
    amended = terms(kpi("a"), kpi("b"), amendments=[amend("monthly_fee", D("99999"), "2026-04")])
    rs = table(b_met("2026-01", "2026-02") + "\na 2026-01 0.9\na 2026-02 0.7")
    assert settle_contract(plain, rs, {}, "2026-03").months == settle_contract(amended, rs, {}, "2026-03").months


# --------------------------------------------------------------------------- terminations

def test_a_termination_before_a_due_month_judges_the_kpi_at_the_last_month():
    t = terms(kpi("a", due_month=6), kpi("b"), events=[ended("2026-04")])
    rs = table(b_met("2026-01", "2026-02", "2026-03", "2026-04") + "\na 2026-04 0.9")
    r = settle_contract(t, rs, {}, "2026-05")
    assert months_of(r) == ["2026-01", "2026-02", "2026-03", "2026-04"] and r.last_month == "2026-04"
    assert {row(r, m, "a").evaluated_month for m in months_of(r)} == {"2026-04"}
    assert all(row(r, m, "a").earned_k == D("2000.00") for m in months_of(r))


def test_months_after_a_termination_are_credited_once_then_disappear():
    t = terms(kpi("a"), kpi("b"), events=[ended("2026-02")])
    rs = table(b_met("2026-01", "2026-02", "2026-03") + "\na 2026-01 0.9\na 2026-02 0.9\na 2026-03 0.9")
    ledger = {"2026-01": D("10000.00"), "2026-02": D("10000.00"), "2026-03": D("10000.00")}
    first = settle_contract(t, rs, ledger, "2026-03")
    march = row(first, "2026-03")
    assert (march.in_term, march.due, march.invoice_now, march.kpis) == (False, D("0.00"), D("-10000.00"), ())
    ledger["2026-03"] += march.invoice_now
    again = settle_contract(t, rs, ledger, "2026-04")
    assert months_of(again) == ["2026-01", "2026-02"]
    assert again.invoice_now == 0


def test_exit_right_open_with_a_deadline_then_lapsed_or_exercised():
    c = dict(exit_kpi="x", exit_threshold=D("0.7"), exit_month=3, exit_window_months=2)
    ks = (kpi("a"), kpi("b"), kpi("x", weight=D("0")))
    rs = table("x 2026-03 0.6\nx 2026-02 0.65")
    assert settle_contract(terms(*ks, **c), rs, {}, "2026-02").exit.status == "watch"
    open_ = settle_contract(terms(*ks, **c), rs, {}, "2026-05").exit
    assert (open_.status, open_.deadline) == ("exit_right", "2026-05")
    assert settle_contract(terms(*ks, **c), rs, {}, "2026-06").exit.status == "lapsed"
    used = terms(*ks, events=[ended("2026-04", "exit_right")], **c)
    assert settle_contract(used, rs, {}, "2026-06").exit.status == "exercised"


def test_a_termination_before_the_exit_month_has_no_exit_right():
    c = dict(exit_kpi="x", exit_threshold=D("0.7"), exit_month=6)
    t = terms(kpi("a"), kpi("b"), kpi("x", weight=D("0")), events=[ended("2026-04")], **c)
    rs = table("x 2026-03 0.1")
    assert settle_contract(t, rs, {}, "2026-03").exit.status == "n/a"     # known before the month itself


# --------------------------------------------------------------------------- chronic failure

def test_chronic_failure_counts_missed_months_deemed_included_held_excluded():
    t = terms(kpi("a", chronic_misses=2, chronic_months=3), kpi("b"), hold_limit_months=1)
    rs = table(b_met("2026-01", "2026-02", "2026-03", "2026-04") + """
        a 2026-01 0.7
        a 2026-02 0.9
        a 2026-04 0.9
    """)
    before = settle_contract(t, rs, {}, "2026-02")
    assert before.chronic == ()                                   # 1 miss in 2026-01..2026-02
    r = settle_contract(t, rs, {}, "2026-04")                     # Feb met, Mar deemed missed, Apr met
    assert r.chronic == ()
    r2 = settle_contract(t, table(b_met("2026-01", "2026-02", "2026-03") + "\na 2026-01 0.7\na 2026-02 0.9"),
                         {}, "2026-05")
    (right,) = r2.chronic                         # Mar and Apr deemed missed; May held (not counted)
    assert (right.kpi_id, right.missed, right.window) == ("a", ("2026-03", "2026-04"),
                                                         ("2026-03", "2026-04", "2026-05"))


def test_a_blank_amendment_clears_an_optional_term_to_its_default():
    t = terms(kpi("a", window_months=3, floor=D("0.5")), kpi("b"), hold_limit_months=2,
              amendments=[amend("window_months", None, "2026-03", "a"), amend("floor", None, "2026-03", "a"),
                          amend("hold_limit_months", None, "2026-03")])
    rs = table(b_met("2026-03") + "\na 2026-03 0.7")
    march = row(settle_contract(t, rs, {}, "2026-03"), "2026-03", "a")
    assert (march.window, march.floor_level, march.attainment) == (("2026-03",), None, 0)
