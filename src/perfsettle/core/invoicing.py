"""Invoices and credit notes (SPEC §8), without files, clock or store: from the ledger lines
still to document, the documents a finalise issues, their numbers, VAT, due dates and the
earlier invoices they cite; and what cannot be issued, as findings.

Every ledger line is on a document or still to be documented. A finalise of period P takes,
per contract, the lines of closes up to P that no document holds (opening entries are never
among them: they were invoiced outside perfsettle), groups their months by the VAT rate and
category in force in each month, and issues per group one invoice (net ≥ 0, type 380) or one
credit note (net < 0, type 381) with one line per month. A month whose lines sum to zero gets
no line; a group left without a line gets no document; such lines count as documented.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from typing import Callable, Iterable, Mapping

from perfsettle.core.diagnostics import make
from perfsettle.core.model import Contract, Diagnostic, MonthResult, Source
from perfsettle.core.money import format_money, round_money

INVOICE, CREDIT_NOTE = "invoice", "credit_note"
TYPE_CODES = {INVOICE: "380", CREDIT_NOTE: "381"}

# The columns EN 16931 (and the French mandatory mentions) need of each party.
SELLER_REQUIRED = ("name", "siren", "vat_id", "address", "postcode", "city", "country")
BUYER_REQUIRED = ("client", "client_siren", "client_address", "client_postcode", "client_city", "client_country")
# Categories where the buyer's VAT number is required (intra-community supply, reverse charge).
BUYER_VAT_ID_REQUIRED = ("K", "AE")

# A SIREN: nine digits (French rule BR-FR-32). An electronic address of the French directory of
# e-invoicing addresses (scheme 0225): the party's SIREN, possibly followed by a suffix (SIRET,
# routing code), in letters, digits and + - _ . only, 125 characters at most (BR-FR-21, -23, -25).
_SIREN = re.compile(r"[0-9]{9}")
_ADDRESS = re.compile(r"[A-Za-z0-9+\-_.]{1,125}")


def compact(text: str) -> str:
    """An identifier as typed, without its spaces (also no-break ones): '552 100 554' -> '552100554'."""
    return "".join(str(text).split())


def einvoicing_address(given: str, siren: str) -> str:
    """A party's electronic address (BT-34, BT-49): the one given, else its SIREN, the address at
    SIREN level that every company has in the French directory."""
    return compact(given) or compact(siren)


def identifier_problems(siren: str, address: str, siren_name: str, address_name: str):
    """(variant, column, found, SIREN) for a SIREN that is not nine digits and an electronic
    address outside the directory's format (one that does not start with the SIREN included)."""
    siren = compact(siren)
    if siren and not _SIREN.fullmatch(siren):
        yield "", siren_name, siren, siren
    elif address and (not _ADDRESS.fullmatch(address) or not address.startswith(siren)):
        yield "address", address_name, address, siren


@dataclass(frozen=True, slots=True)
class Line:
    """One ledger line written by a close: what it invoiced (or credited) for a contract month."""
    line_id: int
    contract_id: str
    month: str                  # 'YYYY-MM'
    amount: Decimal
    currency: str
    period: str                 # the close period that wrote it


@dataclass(frozen=True, slots=True)
class Cited:
    """An earlier invoice with a line for a month: perfsettle's own, or an opening entry's."""
    number: str                 # '' for an opening entry recorded without invoice_number
    date: str = ""              # 'YYYY-MM-DD' or ''


@dataclass(frozen=True, slots=True)
class Seller:
    name: str = ""
    siren: str = ""
    vat_id: str = ""
    address: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "FR"
    iban: str = ""
    bic: str = ""
    email: str = ""
    late_payment: str = ""
    einvoicing_address: str = ""    # default: the SIREN (BT-34)

    def missing(self) -> list[str]:
        return [k for k in SELLER_REQUIRED if not str(getattr(self, k)).strip()]

    @property
    def legal_id(self) -> str:
        """The SIREN as the documents state it (BT-30): without spaces."""
        return compact(self.siren)

    @property
    def address_id(self) -> str:
        return einvoicing_address(self.einvoicing_address, self.siren)

    def malformed(self):
        """(variant, setting, found, SIREN) of each identifier EN 16931 and the French rules reject."""
        return identifier_problems(self.siren, self.address_id, "[seller] siren", "[seller] einvoicing_address")


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    siren: str
    vat_id: str
    address: str
    postcode: str
    city: str
    country: str
    email: str = ""
    address_id: str = ""            # the electronic address (BT-49)

    @classmethod
    def of(cls, c: Contract) -> "Buyer":
        return cls(c.client, compact(c.client_siren), c.client_vat_id, c.client_address, c.client_postcode,
                   c.client_city, c.client_country, c.contact_email,
                   einvoicing_address(c.client_einvoicing_address, c.client_siren))


@dataclass(frozen=True, slots=True)
class DocLine:
    month: str
    amount: Decimal             # as printed on the document: on a credit note, what is credited
    regularisation: bool        # False: the first invoicing of the month
    label_en: str
    label_fr: str
    cites: tuple[Cited, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    number: str                 # '' on a draft
    kind: str                   # invoice | credit_note
    issue_date: str             # 'YYYY-MM-DD'
    due_date: str
    contract_id: str
    currency: str
    vat_rate: Decimal
    vat_category: str
    base: Decimal               # positive on a credit note
    vat: Decimal
    total: Decimal
    lines: tuple[DocLine, ...]
    line_ids: tuple[int, ...]   # the ledger lines this document documents
    buyer: Buyer
    language: str = "fr"
    period: str = ""
    eur_rate: Decimal | None = None    # euros for one unit of ``currency`` (documents not in EUR)

    @property
    def eur_vat(self) -> Decimal | None:
        """The VAT in euros of a document in another currency (BT-111, French rule BR-FR-CO-12):
        its VAT at the exchange rate, rounded once to the cent; None without a rate."""
        if self.eur_rate is None or self.currency == "EUR":
            return None
        return vat_amount(self.vat, self.eur_rate, "EUR")

    @property
    def type_code(self) -> str:
        return TYPE_CODES[self.kind]

    @property
    def months(self) -> tuple[str, ...]:
        return tuple(line.month for line in self.lines)

    @property
    def cited(self) -> tuple[Cited, ...]:
        """Every invoice a line cites, once each, in number order."""
        seen: dict[str, Cited] = {}
        for line in self.lines:
            for c in line.cites:
                seen.setdefault(c.number, c)
        return tuple(seen[n] for n in sorted(seen))

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(c.number for c in self.cited)

    @property
    def signed_base(self) -> Decimal:
        """The base as the ledger sees it: negative for a credit note."""
        return -self.base if self.kind == CREDIT_NOTE else self.base


@dataclass(frozen=True)
class Plan:
    documents: tuple[Document, ...]
    settled: tuple[int, ...]    # ledger lines documented without a document (months summing to zero)
    findings: tuple[Diagnostic, ...] = ()
    counters: dict = field(default_factory=dict)   # (prefix, year) -> last number, after this plan
    refused: tuple[str, ...] = ()                   # contracts (or parts) not finalised


VatOf = Callable[[str, str], tuple[Decimal, str]]


def plan(lines: Iterable[Line], contracts: Mapping[str, Contract], period: str, issue_date: dt.date, *,
         seller: Seller, cited: Mapping[tuple[str, str], tuple[Cited, ...]] | None = None,
         documented: Iterable[tuple[str, str]] = (), vat_of: VatOf | Mapping | None = None,
         payment_days_of: Callable[[str, str], int] | None = None,
         counters: Mapping[tuple[str, int], int] | None = None, prefixes: tuple[str, str] = ("F", "AV"),
         results: Mapping[tuple[str, str], MonthResult] | None = None, numbered: bool = True,
         eur_rates: Mapping[str, Decimal] | None = None) -> Plan:
    """The documents a finalise of ``period`` on ``issue_date`` issues.

    ``lines``: ledger lines of closes not on any document yet (those after ``period`` wait).
    ``cited``: per (contract, month), the earlier invoices with a line for that month.
    ``documented``: the (contract, month) already on a document or an opening entry: their new
    lines are regularisations. ``vat_of``: (contract, month) -> (vat_rate, vat_category) in
    force that month (default: the contract's columns). ``counters``: the last number of each
    series and year. ``results``: the month results of the latest close, for the labels.
    ``eur_rates``: currency -> euros for one unit, so that a document in that currency states
    its VAT in euros (a warning names each currency without one). With ``numbered=False``
    (drafts) no number is assigned.
    """
    cited = cited or {}
    documented = set(documented)
    results = results or {}
    vat = _vat_lookup(vat_of, contracts)
    days = payment_days_of or (lambda cid, month: contracts[cid].payment_days)
    issued = issue_date.isoformat()
    by_contract: dict[str, list[Line]] = {}
    for line in lines:
        if line.period <= period:
            by_contract.setdefault(line.contract_id, []).append(line)

    documents: list[Document] = []
    settled: list[int] = []
    findings: list[Diagnostic] = []
    refused: list[str] = []
    missing_seller = seller.missing()
    malformed_seller = list(seller.malformed())
    for cid in sorted(by_contract):
        contract = contracts.get(cid)
        if contract is None:
            continue   # a contract the store no longer knows: its lines wait
        groups: dict[tuple[Decimal, str, str], dict[str, list[Line]]] = {}
        for line in by_contract[cid]:
            rate, category = vat(cid, line.month)
            groups.setdefault((rate, category, line.currency), {}).setdefault(line.month, []).append(line)
        drafts: list[Document] = []
        for (rate, category, currency), by_month in sorted(groups.items()):
            doc, zero_ids = _document(contract, rate, category, currency, by_month, cited, documented, results,
                                      issued, issue_date, days, period)
            if doc is None:
                settled += zero_ids
                continue
            unciteable = [f for m in doc.lines if doc.kind == CREDIT_NOTE and _reduces(doc, m)
                          if (f := _uncited(cid, m)) is not None]
            if unciteable:
                findings += unciteable
                refused.append(cid)
                continue
            settled += zero_ids
            drafts.append(doc)
        if not drafts:
            continue
        missing = list(_buyer_missing(contract, {d.vat_category for d in drafts}))
        if missing or missing_seller:
            what = ", ".join(missing + [f"[seller] {k}" for k in missing_seller])
            findings.append(make("finalize-missing-party", Source(), cid, contract=cid, missing=what))
            refused.append(cid)
            continue
        buyer = drafts[0].buyer
        malformed = [*identifier_problems(buyer.siren, buyer.address_id, "client_siren", "client_einvoicing_address"),
                     *malformed_seller]
        if malformed:
            findings += [make("finalize-bad-identifier", Source(), cid, variant, contract=cid, column=column,
                              found=found, siren=siren)
                         for variant, column, found, siren in malformed]
            refused.append(cid)
            continue
        documents += drafts

    rates = eur_rates or {}
    documents = [replace(d, eur_rate=rates[d.currency]) if d.currency != "EUR" and d.currency in rates else d
                 for d in documents]
    unrated = Counter(d.currency for d in documents if d.currency != "EUR" and d.eur_rate is None)
    findings += [make("finalize-no-eur-rate", Source(), None, currency=c, count=n) for c, n in sorted(unrated.items())]

    last = dict(counters or {})
    if numbered:
        year = issue_date.year
        out = []
        for kind, prefix in ((INVOICE, prefixes[0]), (CREDIT_NOTE, prefixes[1])):
            for doc in sorted((d for d in documents if d.kind == kind), key=lambda d: (d.contract_id, d.vat_rate,
                                                                                       d.vat_category, d.currency)):
                n = last.get((prefix, year), 0) + 1
                last[(prefix, year)] = n
                out.append(replace(doc, number=number(prefix, year, n)))
        documents = out
    else:
        documents.sort(key=lambda d: (d.kind != INVOICE, d.contract_id, d.vat_rate, d.vat_category, d.currency))
    return Plan(tuple(documents), tuple(sorted(settled)), tuple(findings), last, tuple(dict.fromkeys(refused)))


def refusals(findings) -> list[Diagnostic]:
    """The findings of a plan that kept a document from being issued (its errors)."""
    return [f for f in findings if f.is_error]


def number(prefix: str, year: int, n: int) -> str:
    """``<prefix><YYYY>-<NNNNN>``: F2026-00001."""
    return f"{prefix}{year:04d}-{n:05d}"


def vat_amount(base: Decimal, rate: Decimal, currency: str) -> Decimal:
    """VAT of a document: base × rate, exactly, rounded once half up to the minor unit."""
    with localcontext(Context(prec=40)):   # exact whatever the caller's context
        return round_money(Fraction(base) * Fraction(rate), currency)


def due_date(issue_date: dt.date, payment_days: int) -> dt.date:
    return issue_date + dt.timedelta(days=payment_days)


# --------------------------------------------------------------------------- internals

def _vat_lookup(vat_of, contracts) -> VatOf:
    if vat_of is None:
        return lambda cid, month: (contracts[cid].vat_rate, contracts[cid].vat_category)
    if callable(vat_of):
        return vat_of
    return lambda cid, month: vat_of.get((cid, month)) or (contracts[cid].vat_rate, contracts[cid].vat_category)


def _uncited(cid: str, line: DocLine) -> Diagnostic | None:
    """Why a credit note's line cannot cite the invoices it corrects (BR-FR-CO-05: the number
    and the date of each), or None."""
    if not line.cites or any(not c.number for c in line.cites):
        return make("credit-note-no-reference", Source(), cid, contract=cid, month=line.month)
    undated = next((c for c in line.cites if not c.date), None)
    if undated is not None:
        return make("credit-note-no-reference", Source(), cid, "no-date", contract=cid, month=line.month,
                    number=undated.number)
    return None


def _document(contract: Contract, rate, category, currency, by_month, cited, documented, results, issued,
              issue_date, days, period) -> tuple[Document | None, list[int]]:
    cid = contract.contract_id
    nets = {month: sum((l.amount for l in ls), Decimal(0)) for month, ls in by_month.items()}
    zero_ids = [l.line_id for month, ls in by_month.items() if nets[month] == 0 for l in ls]
    kept = sorted(m for m, net in nets.items() if net != 0)
    if not kept:
        return None, zero_ids
    base = sum((nets[m] for m in kept), Decimal(0))
    kind = INVOICE if base >= 0 else CREDIT_NOTE
    sign = 1 if kind == INVOICE else -1
    lines = []
    for month in kept:
        net = nets[month]
        again = (cid, month) in documented
        en, fr = _label(month, net, again, results.get((cid, month)), currency)
        lines.append(DocLine(month, sign * net, again, en, fr, tuple(cited.get((cid, month), ())) if net < 0 else ()))
    base = sign * base
    tax = vat_amount(base, rate, currency)
    due = due_date(issue_date, days(cid, kept[-1])).isoformat()
    ids = tuple(sorted(l.line_id for m in kept for l in by_month[m]))
    return Document("", kind, issued, due, cid, currency, rate, category, base, tax, base + tax, tuple(lines), ids,
                    Buyer.of(contract), contract.language, period), zero_ids


def _reduces(doc: Document, line: DocLine) -> bool:
    """The line lowers what was invoiced for its month."""
    return (line.amount > 0) if doc.kind == CREDIT_NOTE else (line.amount < 0)


def _buyer_missing(contract: Contract, categories: set[str]):
    for column in BUYER_REQUIRED:
        if not str(getattr(contract, column)).strip():
            yield column
    if categories & set(BUYER_VAT_ID_REQUIRED) and not contract.client_vat_id.strip():
        yield "client_vat_id"


def _label(month: str, net: Decimal, again: bool, result: MonthResult | None, currency: str) -> tuple[str, str]:
    """What a line is: the first invoicing of its month, or a regularisation and why."""
    def m(x):
        return format_money(x, currency)

    if not again:
        if result is None:
            return (f"Fees for {month}: fixed part, variable part earned, bonus or malus",
                    f"Honoraires de {month} : part fixe, part variable acquise, bonus ou malus")
        parts_en = [f"fixed part {m(result.fixed)}", f"variable part earned {m(result.earned)}"]
        parts_fr = [f"part fixe {m(result.fixed)}", f"part variable acquise {m(result.earned)}"]
        if result.bonus:
            parts_en.append(f"bonus {m(result.bonus)}")
            parts_fr.append(f"bonus {m(result.bonus)}")
        if result.malus:
            parts_en.append(f"malus -{m(result.malus)}")
            parts_fr.append(f"malus -{m(result.malus)}")
        if result.held:
            parts_en.append(f"{m(result.held)} held")
            parts_fr.append(f"{m(result.held)} en attente")
        return f"Fees for {month}: " + ", ".join(parts_en), f"Honoraires de {month} : " + ", ".join(parts_fr)
    direction_en = "additional amount" if net > 0 else "amount credited"
    direction_fr = "complément" if net > 0 else "montant crédité"
    if result is not None and not result.in_term:
        return (f"Regularisation of {month} ({direction_en}): the month is outside the contract's term "
                f"(contract ended or start changed), what was invoiced is credited back",
                f"Régularisation de {month} ({direction_fr}) : le mois est hors de la durée du contrat "
                f"(contrat résilié ou début modifié), ce qui a été facturé est annulé")
    if result is None:
        return (f"Regularisation of {month} ({direction_en}): the month was restated",
                f"Régularisation de {month} ({direction_fr}) : le mois a été recalculé")
    why_en = [f"now due {m(result.due)}", f"variable part earned {m(result.earned)}"]
    why_fr = [f"désormais dû {m(result.due)}", f"part variable acquise {m(result.earned)}"]
    if result.bonus or result.malus:
        why_en.append(f"bonus-malus {m(result.bonus - result.malus)}")
        why_fr.append(f"bonus-malus {m(result.bonus - result.malus)}")
    return (f"Regularisation of {month} ({direction_en}): restated after revised readings or terms, "
            + ", ".join(why_en),
            f"Régularisation de {month} ({direction_fr}) : recalcul après révision des relevés ou des conditions, "
            + ", ".join(why_fr))
