"""SPEC §8, rule by rule, on inline ledgers: which documents a finalise issues, their numbers,
VAT, lines, references and refusals (core.invoicing: no store, no files)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from decimal import Decimal as D

import pytest

from perfsettle.core.invoicing import CREDIT_NOTE, INVOICE, Cited, Line, Seller, plan, vat_amount
from perfsettle.core.model import Contract

SELLER = Seller("Agence Lumen IA SAS", "123456789", "FR32123456789", "12 rue de la Paix", "75002", "Paris")
DAY = dt.date(2026, 10, 2)


def contract(cid="C1", **over):
    base = dict(contract_id=cid, client="Client SA", provider="Agence", company_size="PME", currency="EUR",
                start_month="2026-01", duration_months=12, monthly_fee=D(10000), variable_share=D("0.4"),
                client_siren="552100554", client_address="4 quai des Chartrons", client_postcode="33000",
                client_city="Bordeaux")
    base.update(over)
    return Contract(**base)


def ledger(*rows, period="2026-09"):
    """rows: (contract, month, amount[, period])"""
    return [Line(i, r[0], r[1], D(str(r[2])), "EUR", r[3] if len(r) > 3 else period) for i, r in enumerate(rows, 1)]


def table(p):
    return [(d.number, d.kind, d.contract_id, f"{d.base:f}", f"{d.vat:f}", f"{d.total:f}", ";".join(d.months),
             ";".join(d.references)) for d in p.documents]


def test_net_positive_is_an_invoice_net_negative_a_credit_note():
    contracts = {"C1": contract("C1"), "C2": contract("C2")}
    p = plan(ledger(("C1", "2026-09", "9400.00"), ("C2", "2026-09", "-600.00")), contracts, "2026-09", DAY,
             seller=SELLER, cited={("C2", "2026-09"): (Cited("F2026-00001", "2026-09-02"),)},
             documented={("C2", "2026-09")})
    assert table(p) == [
        ("F2026-00001", INVOICE, "C1", "9400.00", "1880.00", "11280.00", "2026-09", ""),
        ("AV2026-00001", CREDIT_NOTE, "C2", "600.00", "120.00", "720.00", "2026-09", "F2026-00001"),
    ]
    assert p.documents[1].type_code == "381" and p.documents[1].lines[0].amount == D("600.00")


def test_a_net_of_zero_is_an_invoice():
    p = plan(ledger(("C1", "2026-08", "-500.00"), ("C1", "2026-09", "500.00")), {"C1": contract()}, "2026-09",
             DAY, seller=SELLER, cited={("C1", "2026-08"): (Cited("F2026-00001"),)}, documented={("C1", "2026-08")})
    assert table(p) == [("F2026-00001", INVOICE, "C1", "0.00", "0.00", "0.00", "2026-08;2026-09", "F2026-00001")]


def test_a_month_credited_inside_an_invoice_cites_the_invoice_it_reduces():
    cited = {("C1", "2026-09"): (Cited("F2026-00002", "2026-10-02"),)}
    p = plan(ledger(("C1", "2026-08", "0.00"), ("C1", "2026-09", "-6250.00"), ("C1", "2026-10", "25000.00"),
                    period="2026-10"),
             {"C1": contract()}, "2026-10", dt.date(2026, 11, 3), seller=SELLER, cited=cited,
             documented={("C1", "2026-08"), ("C1", "2026-09")}, counters={("F", 2026): 2})
    assert table(p) == [("F2026-00003", INVOICE, "C1", "18750.00", "3750.00", "22500.00", "2026-09;2026-10",
                         "F2026-00002")]
    first, second = p.documents[0].lines
    assert (first.amount, first.regularisation, second.regularisation) == (D("-6250.00"), True, False)
    assert second.cites == ()                  # a line that adds cites nothing
    assert p.settled == (1,)                   # August sums to zero: no line, counted as documented
    assert first.label_en.startswith("Regularisation of 2026-09") and first.label_fr.startswith("Régularisation")


def test_vat_is_rounded_once_per_document():
    p = plan(ledger(("C1", "2026-08", "617.28"), ("C1", "2026-09", "617.29")), {"C1": contract()}, "2026-09",
             DAY, seller=SELLER)
    doc, = p.documents
    assert (doc.base, doc.vat, doc.total) == (D("1234.57"), D("246.91"), D("1481.48"))
    # per line it would be 123.46 + 123.46 = 246.92: the document rounds once
    assert vat_amount(D("617.28"), D("0.2"), "EUR") + vat_amount(D("617.29"), D("0.2"), "EUR") == D("246.92")


def test_vat_does_not_depend_on_the_decimal_context():
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        assert vat_amount(D("123456789.45"), D("0.055"), "EUR") == D("6790123.42")
        assert vat_amount(D("1234"), D("0.2"), "JPY") == D("247")


def test_two_rates_make_two_documents_numbered_by_rate():
    rates = {("C1", "2026-08"): (D("0.2"), "S"), ("C1", "2026-09"): (D("0.1"), "S")}
    p = plan(ledger(("C1", "2026-08", "1000.00"), ("C1", "2026-09", "2000.00")), {"C1": contract()}, "2026-09",
             DAY, seller=SELLER, vat_of=rates)
    assert [(d.number, f"{d.vat_rate}", ";".join(d.months), f"{d.vat:f}") for d in p.documents] == [
        ("F2026-00001", "0.1", "2026-09", "200.00"), ("F2026-00002", "0.2", "2026-08", "200.00")]


def test_a_rate_as_a_callable():
    p = plan(ledger(("C1", "2026-09", "1000.00")), {"C1": contract()}, "2026-09", DAY, seller=SELLER,
             vat_of=lambda cid, month: (D("0"), "E"))
    assert (p.documents[0].vat_category, p.documents[0].vat) == ("E", D("0.00"))


def test_numbers_follow_contract_order_and_continue_from_the_counters():
    contracts = {c: contract(c) for c in ("B", "A", "C")}
    rows = [(c, "2026-09", "100.00") for c in ("C", "A", "B")]
    p = plan(ledger(*rows), contracts, "2026-09", DAY, seller=SELLER, counters={("F", 2026): 7, ("AV", 2026): 3})
    assert [(d.number, d.contract_id) for d in p.documents] == [
        ("F2026-00008", "A"), ("F2026-00009", "B"), ("F2026-00010", "C")]
    assert p.counters == {("F", 2026): 10, ("AV", 2026): 3}


def test_numbering_across_two_finalises_and_a_year_change():
    contracts = {"C1": contract()}
    first = plan(ledger(("C1", "2026-11", "100.00"), period="2026-11"), contracts, "2026-11",
                 dt.date(2026, 12, 2), seller=SELLER)
    second = plan(ledger(("C1", "2026-12", "100.00"), period="2026-12"), contracts, "2026-12",
                  dt.date(2027, 1, 4), seller=SELLER, counters=first.counters)
    third = plan(ledger(("C1", "2027-01", "100.00"), period="2027-01"), contracts, "2027-01",
                 dt.date(2027, 2, 1), seller=SELLER, counters=second.counters)
    assert [d.number for d in first.documents + second.documents + third.documents] == [
        "F2026-00001", "F2027-00001", "F2027-00002"]


def test_a_refused_contract_takes_no_number():
    contracts = {"A": contract("A", client_siren=""), "B": contract("B")}
    p = plan(ledger(("A", "2026-09", "100.00"), ("B", "2026-09", "100.00")), contracts, "2026-09", DAY,
             seller=SELLER)
    assert [(d.number, d.contract_id) for d in p.documents] == [("F2026-00001", "B")]
    assert p.refused == ("A",)
    f, = p.findings
    assert f.code == "finalize-missing-party" and f.contract_id == "A" and "client_siren" in f.message
    assert "client_siren" in f.message_fr


def test_a_siren_typed_with_spaces_is_invoiced_without_them_and_addressed_at_its_siren():
    p = plan(ledger(("C1", "2026-09", "100.00")), {"C1": contract(client_siren="552\u00a0100 554")}, "2026-09",
             DAY, seller=SELLER)
    doc, = p.documents
    assert (doc.buyer.siren, doc.buyer.address_id, p.findings) == ("552100554", "552100554", ())


def test_a_given_directory_address_is_the_buyers():
    p = plan(ledger(("C1", "2026-09", "100.00")),
             {"C1": contract(client_einvoicing_address=" 552100554_00013 ")}, "2026-09", DAY, seller=SELLER)
    assert p.documents[0].buyer.address_id == "552100554_00013"


@pytest.mark.parametrize("over, column, found", [
    (dict(client_siren="55210055"), "client_siren", "55210055"),                  # eight digits
    (dict(client_siren="FR552100554"), "client_siren", "FR552100554"),
    (dict(client_einvoicing_address="412345670"), "client_einvoicing_address", "412345670"),   # another SIREN
    (dict(client_einvoicing_address="552100554/00013"), "client_einvoicing_address", "552100554/00013"),
    (dict(client_einvoicing_address="552100554" + "x" * 117), "client_einvoicing_address", "552100554" + "x" * 117),
])
def test_a_malformed_identifier_is_refused_with_the_column_and_the_value(over, column, found):
    contracts = {"A": contract("A", **over), "B": contract("B")}
    p = plan(ledger(("A", "2026-09", "100.00"), ("B", "2026-09", "100.00")), contracts, "2026-09", DAY,
             seller=SELLER)
    assert [(d.number, d.contract_id) for d in p.documents] == [("F2026-00001", "B")]
    assert p.refused == ("A",)
    f, = p.findings
    assert (f.code, f.contract_id, f.fields["column"], f.fields["found"]) == ("finalize-bad-identifier", "A", column, found)
    assert column in f.message and column in f.message_fr and found in f.message_fr


def test_a_seller_siren_that_is_not_nine_digits_refuses_every_contract():
    p = plan(ledger(("C1", "2026-09", "100.00")), {"C1": contract()}, "2026-09", DAY,
             seller=dataclasses.replace(SELLER, siren="123 456 78"))
    assert p.documents == () and p.refused == ("C1",)
    f, = p.findings
    assert (f.code, f.fields["column"], f.fields["found"]) == ("finalize-bad-identifier", "[seller] siren", "12345678")
    assert len(list(dataclasses.replace(SELLER, einvoicing_address="123456789_X").malformed())) == 0


def test_a_document_in_another_currency_takes_the_rate_of_its_currency():
    contracts = {"A": contract("A", currency="USD"), "B": contract("B", currency="JPY"), "C": contract("C")}
    rows = [Line(1, "A", "2026-09", D("1234.57"), "USD", "2026-09"), Line(2, "B", "2026-09", D("150000"), "JPY", "2026-09"),
            Line(3, "C", "2026-09", D("100.00"), "EUR", "2026-09")]
    p = plan(rows, contracts, "2026-09", DAY, seller=SELLER, eur_rates={"USD": D("0.9213"), "JPY": D("0.006123")})
    assert [(d.contract_id, d.vat, d.eur_vat) for d in p.documents] == [
        ("A", D("246.91"), D("227.48")),      # 246.91 × 0.9213 = 227.478183 -> 227.48
        ("B", D("30000"), D("183.69")),       # 30,000 yen × 0.006123 = 183.69 €
        ("C", D("20.00"), None)]              # a document in euros states its VAT once
    assert p.findings == ()


def test_a_currency_without_a_rate_is_issued_with_a_warning_naming_it():
    contracts = {"A": contract("A", currency="USD"), "B": contract("B", currency="USD")}
    rows = [Line(1, "A", "2026-09", D("100.00"), "USD", "2026-09"), Line(2, "B", "2026-09", D("100.00"), "USD", "2026-09")]
    p = plan(rows, contracts, "2026-09", DAY, seller=SELLER)
    assert [d.number for d in p.documents] == ["F2026-00001", "F2026-00002"] and p.refused == ()
    f, = p.findings
    assert (f.code, f.severity, f.fields["currency"], f.fields["count"]) == ("finalize-no-eur-rate", "warning", "USD", 2)
    assert "eur_rates" in f.message and "BR-FR-CO-12" in f.message_fr
    from perfsettle.core.invoicing import refusals
    assert refusals(p.findings) == []


def test_missing_seller_data_refuses_every_contract():
    p = plan(ledger(("C1", "2026-09", "100.00")), {"C1": contract()}, "2026-09", DAY, seller=Seller(name="X"))
    assert p.documents == () and p.refused == ("C1",)
    assert "[seller] siren" in p.findings[0].message


def test_intra_community_supply_needs_the_buyers_vat_number():
    p = plan(ledger(("C1", "2026-09", "100.00")), {"C1": contract(vat_rate=D(0), vat_category="K")}, "2026-09",
             DAY, seller=SELLER)
    assert p.documents == () and "client_vat_id" in p.findings[0].message


def test_a_credit_note_cites_opening_invoices_and_refuses_without_a_number():
    contracts = {"C1": contract(), "C2": contract("C2")}
    cited = {("C1", "2026-03"): (Cited("FM-2026-118", "2026-04-05"),), ("C2", "2026-03"): (Cited(""),)}
    p = plan(ledger(("C1", "2026-03", "-200.00"), ("C2", "2026-03", "-200.00")), contracts, "2026-09", DAY,
             seller=SELLER, cited=cited, documented={("C1", "2026-03"), ("C2", "2026-03")})
    assert table(p) == [("AV2026-00001", CREDIT_NOTE, "C1", "200.00", "40.00", "240.00", "2026-03", "FM-2026-118")]
    assert p.documents[0].cited == (Cited("FM-2026-118", "2026-04-05"),)
    f, = p.findings
    assert (f.code, f.contract_id) == ("credit-note-no-reference", "C2") and "2026-03" in f.message
    assert p.settled == ()            # C2's line waits for the number


def test_a_credit_note_citing_an_opening_invoice_without_its_date_is_refused_naming_the_column():
    # BR-FR-CO-05: a credit note cites the number and the date of each invoice it corrects.
    contracts = {"C1": contract(), "C2": contract("C2")}
    cited = {("C1", "2026-03"): (Cited("FM-2026-118", "2026-04-05"),), ("C2", "2026-03"): (Cited("FM-2026-119", ""),)}
    p = plan(ledger(("C1", "2026-03", "-200.00"), ("C2", "2026-03", "-200.00")), contracts, "2026-09", DAY,
             seller=SELLER, cited=cited, documented={("C1", "2026-03"), ("C2", "2026-03")})
    assert [d.contract_id for d in p.documents] == ["C1"]
    f, = p.findings
    assert (f.code, f.contract_id, f.severity) == ("credit-note-no-reference", "C2", "error")
    assert "invoice_date of 2026-03" in f.message and "FM-2026-119" in f.message
    assert "date_facture de 2026-03" in f.message_fr
    assert p.settled == ()


def test_an_invoice_with_a_month_credited_may_cite_an_undated_opening_invoice():
    # Only a credit note must carry the dates: an invoice's negative line cites what it can.
    cited = {("C1", "2026-03"): (Cited("FM-2026-118", ""),)}
    p = plan(ledger(("C1", "2026-03", "-200.00"), ("C1", "2026-04", "500.00")), {"C1": contract()}, "2026-09",
             DAY, seller=SELLER, cited=cited, documented={("C1", "2026-03")})
    assert [(d.kind, d.references) for d in p.documents] == [("invoice", ("FM-2026-118",))]
    assert p.findings == ()


def test_lines_of_later_closes_wait():
    p = plan(ledger(("C1", "2026-09", "100.00"), ("C1", "2026-10", "100.00", "2026-10")), {"C1": contract()},
             "2026-09", DAY, seller=SELLER)
    assert p.documents[0].months == ("2026-09",) and p.documents[0].line_ids == (1,)


def test_due_date_is_payment_days_after_the_issue_date():
    p = plan(ledger(("C1", "2026-09", "100.00")), {"C1": contract(payment_days=45)}, "2026-09", DAY,
             seller=SELLER)
    assert (p.documents[0].issue_date, p.documents[0].due_date) == ("2026-10-02", "2026-11-16")


def test_a_restatement_after_finalise_issues_a_complementary_document():
    contracts = {"C1": contract()}
    first = plan(ledger(("C1", "2026-09", "9400.00")), contracts, "2026-09", DAY, seller=SELLER)
    issued, = first.documents
    # a rerun of 2026-09 restates the month: +300; the first document is left as it was
    cited = {("C1", "2026-09"): (Cited(issued.number, issued.issue_date),)}
    later = plan([Line(2, "C1", "2026-09", D("300.00"), "EUR", "2026-09")], contracts, "2026-09",
                 dt.date(2026, 10, 5), seller=SELLER, cited=cited, documented={("C1", "2026-09")},
                 counters=first.counters)
    extra, = later.documents
    assert (extra.number, extra.kind, extra.base, extra.references) == ("F2026-00002", INVOICE, D("300.00"), ())
    assert extra.lines[0].regularisation and issued.base == D("9400.00") and issued.line_ids == (1,)


def test_drafts_are_unnumbered_and_consume_no_number():
    p = plan(ledger(("C1", "2026-09", "100.00")), {"C1": contract()}, "2026-09", DAY, seller=SELLER,
             counters={("F", 2026): 4}, numbered=False)
    assert p.documents[0].number == "" and p.counters == {("F", 2026): 4}


@pytest.mark.parametrize("lines,expected", [
    ([("C1", "2026-09", "100.00"), ("C1", "2026-09", "-100.00")], 0),
    ([("C1", "2026-09", "0.00")], 0),
])
def test_a_contract_with_nothing_left_gets_no_document(lines, expected):
    p = plan(ledger(*lines), {"C1": contract()}, "2026-09", DAY, seller=SELLER)
    assert len(p.documents) == expected and p.settled == tuple(range(1, len(lines) + 1))


from hypothesis import given, settings, strategies as st  # noqa: E402

_amounts = st.decimals(min_value=-5000, max_value=5000, places=2, allow_nan=False, allow_infinity=False)
_rows = st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["2026-07", "2026-08", "2026-09"]),
                           _amounts), max_size=14)


@settings(max_examples=150, deadline=None)
@given(_rows, st.sampled_from([D("0.2"), D("0.055"), D("0.1")]))
def test_every_line_is_documented_once_and_the_documents_add_up_to_the_ledger(rows, rate):
    lines = [Line(i, c, m, a, "EUR", "2026-09") for i, (c, m, a) in enumerate(rows, 1)]
    contracts = {c: contract(c, vat_rate=rate) for c in "ABC"}
    cited = {(c, m): (Cited(f"OLD-{c}-{m}", "2026-06-30"),) for c in "ABC" for m in ("2026-07", "2026-08", "2026-09")}
    p = plan(lines, contracts, "2026-09", DAY, seller=SELLER, cited=cited)
    documented = [i for d in p.documents for i in d.line_ids] + list(p.settled)
    assert sorted(documented) == [line.line_id for line in lines]          # each line once, none left
    assert sum((d.signed_base for d in p.documents), D(0)) == sum((line.amount for line in lines), D(0))
    for d in p.documents:
        assert d.base >= 0 and d.total == d.base + d.vat and d.base == sum((ln.amount for ln in d.lines), D(0))
        assert all(ln.amount != 0 for ln in d.lines)
    numbers = [d.number for d in p.documents]
    for prefix in ("F", "AV"):
        series = [n for n in numbers if n.startswith(prefix + "2")]
        assert series == [f"{prefix}2026-{k:05d}" for k in range(1, len(series) + 1)]   # gapless
