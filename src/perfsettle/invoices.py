"""Finalise: issue the numbered invoices and credit notes of the closes (SPEC §8), and the
drafts a close writes of what finalising would issue.

The order makes a finalise safe to kill at any instant, like a close (SPEC §6):
1. the documents are planned from the store (core.invoicing) and their files written into
   ``outbox/.staging/finalize-<id>/``;
2. one store transaction records the documents (numbers included), the ledger lines each holds
   and the finalise with its staging folder;
3. each staged file is published into ``outbox/<P>/documents/`` by a rename (an earlier
   documents.csv or journal of that folder first goes to ``superseded/<its finalise>/``);
4. the finalise is marked done.
Killed before (2), nothing was numbered and the staging folder is removed by the next run;
killed after, the next run publishes what was committed. Numbers exist only in the store, so
a failed finalise assigns none and a number is never skipped.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from perfsettle.config import ConfigError, Settings
from perfsettle.core import invoicing
from perfsettle.core.invoicing import CREDIT_NOTE, INVOICE, Cited, Document, Line, Plan, Seller
from perfsettle.core.model import Diagnostic
from perfsettle.infra.faults import checkpoint
from perfsettle.infra.files import fsync_path, write_atomic
from perfsettle.store import Store, exists

log = logging.getLogger("perfsettle")

EXIT_OK, EXIT_FINDINGS = 0, 1


@dataclass
class FinalizeResult:
    exit_code: int
    period: str = ""
    documents: tuple[Document, ...] = ()
    findings: tuple[Diagnostic, ...] = ()
    outdir: Path | None = None
    message: str = ""
    recovered: list = field(default_factory=list)


def seller_of(settings: Settings) -> Seller:
    return settings.seller


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- planning

def store_inputs(store: Store) -> dict:
    """What core.invoicing.plan needs of the store: earlier invoices per month, documented
    months, the series' counters."""
    cited: dict[tuple[str, str], list[Cited]] = {}
    documented: set[tuple[str, str]] = set()
    for (cid, month), (amount, number, date) in sorted(store.opening_invoices().items()):
        if amount != 0:
            cited.setdefault((cid, month), []).append(Cited(number, date))
            documented.add((cid, month))
    for cid, month, number, kind, issued in store.document_months():
        documented.add((cid, month))
        if kind == INVOICE:
            cited.setdefault((cid, month), []).append(Cited(number, issued))
    return {"cited": {k: tuple(v) for k, v in cited.items()}, "documented": documented,
            "counters": store.document_counters()}


def stored_lines(store: Store) -> list[Line]:
    return [Line(i, cid, month, amount, ccy, period) for i, cid, month, amount, ccy, period in
            store.undocumented_lines()]


def month_results(store: Store, contracts: dict, period: str) -> dict:
    """The month results of the latest close of ``period`` (for the lines' labels)."""
    from perfsettle.core.model import Terms
    from perfsettle.core.settle import settle
    kpis = store.kpis()
    ledger = store.closed()
    for k, a in store.opening().items():
        ledger[k] = ledger.get(k, Decimal(0)) + a
    for key, amount in store.closed(since=period).items():
        ledger[key] -= amount
    terms = [Terms(c, tuple(sorted(kpis.get(cid, {}).values(), key=lambda k: k.kpi_id)))
             for cid, c in contracts.items()]
    try:
        results = settle(terms, store.readings(), ledger, period)
    except Exception:   # the labels are a courtesy: never lose a finalise for them
        log.exception("the month results for the documents' labels could not be computed")
        return {}
    return {(m.contract_id, m.month): m for r in results for m in r.months}


def draft_plan(store: Store, settings: Settings, contracts: dict, new_lines, period: str, today: dt.date,
               results: dict) -> Plan:
    """What finalising would issue once this close is committed (drafts: unnumbered)."""
    lines = stored_lines(store)
    lines += [Line(-i, cid, month, amount, ccy, period) for i, (cid, month, amount, ccy) in enumerate(new_lines, 1)]
    known = store_inputs(store)
    return invoicing.plan(lines, contracts, period, today, seller=seller_of(settings), cited=known["cited"],
                          documented=known["documented"], counters=known["counters"], results=results,
                          prefixes=(settings.documents.invoice_prefix, settings.documents.credit_prefix),
                          numbered=False, eur_rates=settings.documents.eur_rates)


def write_drafts(documents, folder: Path, settings: Settings, previous: Path | None = None) -> list[tuple[Path, str]]:
    """Draft files (PDF and XML, marked draft, unnumbered) of some documents, rendered like a
    finalise's (worker processes, see ``render_documents``); returns [(path, sha256)]. A draft
    whose XML equals the one in ``previous`` (the drafts of the earlier close of the period)
    takes that PDF again instead of rendering it: a rerun costs no PDF rendering."""
    from perfsettle.outputs.documents import draft_stem
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, str]] = []
    for doc, xml, pdf in render_documents(documents, seller_of(settings), render_workers(settings, len(documents)),
                                          earlier=previous):
        stem = draft_stem(doc)
        written.append((write_atomic(folder / f"{stem}.xml", xml), _sha(xml)))
        written.append((write_atomic(folder / f"{stem}.pdf", pdf), _sha(pdf)))
    return written


# --------------------------------------------------------------------------- finalise

def finalize(settings: Settings, period: str | None = None, issue_date: dt.date | None = None) -> FinalizeResult:
    """Issue the documents of the closes up to ``period`` (default: the latest closed period)."""
    with Store(settings.store) as store:
        recovered = recover(store)
        latest = store.latest_closed_period()
        if period is None:
            if latest is None:
                raise ConfigError("no close recorded yet: nothing to finalise")
            period = latest
        elif latest is None or period > latest:
            raise ConfigError(f"period {period} has not been closed yet (latest close: {latest or 'none'}): "
                              f"run the close of {period} first")
        issue = issue_date or dt.date.today()
        seller = seller_of(settings)
        contracts = store.contracts()
        lines = stored_lines(store)
        known = store_inputs(store)
        checkpoint("finalize start")
        results = month_results(store, contracts, period) if any(l.period <= period for l in lines) else {}
        plan = invoicing.plan(lines, contracts, period, issue, seller=seller, cited=known["cited"],
                              documented=known["documented"], counters=known["counters"], results=results,
                              prefixes=(settings.documents.invoice_prefix, settings.documents.credit_prefix),
                              eur_rates=settings.documents.eur_rates)
        for f in plan.findings:
            log.warning("%s", f.message)
        code = EXIT_FINDINGS if invoicing.refusals(plan.findings) else EXIT_OK
        outdir = settings.outbox / period / "documents"
        if not plan.documents and not plan.settled:
            return FinalizeResult(code, period, (), plan.findings, None, "nothing to document", recovered)

        finalize_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        staging = settings.outbox / ".staging" / f"finalize-{finalize_id}"
        clean_stale_staging(settings.outbox, store)
        hashes = {}
        if plan.documents:
            staging.mkdir(parents=True)
            hashes = render(plan.documents, staging, settings, seller, issue)
            write_atomic(staging / "finalize.json", json.dumps(
                {"finalize_id": finalize_id, "period": period, "issue_date": issue.isoformat(),
                 "documents": [d.number for d in plan.documents]}, indent=1) + "\n")
            fsync_path(staging)
            checkpoint("finalize staged")
        store.commit_documents(finalize_id=finalize_id, period=period, issue_date=issue.isoformat(),
                               started_at=_now(), now=_now(), documents=plan.documents, settled=plan.settled,
                               hashes=hashes, staging=str(staging), outdir=str(outdir), exit_code=code,
                               prefixes=(settings.documents.invoice_prefix, settings.documents.credit_prefix))
        checkpoint("finalize committed")
        if plan.documents:
            publish(store, finalize_id, staging, outdir)
    return FinalizeResult(code, period, plan.documents, plan.findings, outdir if plan.documents else None, "",
                          recovered)


def render(documents, staging: Path, settings: Settings, seller: Seller, issue: dt.date) -> dict:
    """Every file of a finalise into ``staging``; returns {number: (xml sha256, pdf sha256)}.
    Each file is written whole under a temporary name then renamed (infra.files), as each
    document arrives from the processes rendering them."""
    from perfsettle.outputs import documents as out
    hashes = {}
    for doc, xml, pdf in render_documents(documents, seller, render_workers(settings, len(documents))):
        write_atomic(staging / f"{doc.number}.xml", xml)
        write_atomic(staging / f"{doc.number}.pdf", pdf)
        hashes[doc.number] = (_sha(xml), _sha(pdf))
        checkpoint(f"finalize staged {doc.number}")
    accounts = {"receivable": settings.accounts.receivable, "revenue": settings.accounts.revenue,
                "vat": settings.accounts.vat}
    write_atomic(staging / "documents.csv", out.documents_csv(list(documents)))
    write_atomic(staging / f"journal-{issue.strftime('%Y%m%d')}.txt", out.journal(list(documents), accounts))
    return hashes


# --------------------------------------------------------------------------- rendering

def render_workers(settings: Settings, count: int) -> int:
    """How many worker processes render ``count`` documents: ``[documents] render_workers``,
    else one per core; none (this process renders) below four documents per worker, where
    starting the workers would cost more than they save."""
    from perfsettle.infra.procs import usable_cores
    if settings.documents.render_workers:
        return min(settings.documents.render_workers, count)
    return min(usable_cores(), count // 4)


def render_documents(documents, seller: Seller, workers: int, earlier: Path | None = None):
    """(document, CII XML, PDF) for each document, in order, each yielded as soon as it and
    those before it are rendered, by ``workers`` processes forked once for all the documents
    (each loads WeasyPrint, its fonts, the stylesheet and the XSD once). The bytes do not depend
    on the process that rendered them nor on the documents rendered before: a single worker
    gives the same files as several. ``earlier``: a folder of drafts whose PDF is taken again
    for a draft whose XML is unchanged."""
    from perfsettle.infra.procs import ordered_map
    from perfsettle.outputs.documents import prepare_rendering
    tasks = ((doc, seller, earlier) for doc in documents)
    for doc, (xml, pdf) in zip(documents, ordered_map(_render_one, tasks, workers, initializer=prepare_rendering)):
        yield doc, xml, pdf


def _render_one(task: tuple[Document, Seller, Path | None]) -> tuple[bytes, bytes]:
    from perfsettle.outputs import documents as out
    doc, seller, earlier = task
    xml = out.cii_xml(doc, seller)
    if earlier is not None:
        stem = out.draft_stem(doc)
        old_xml, old_pdf = earlier / f"{stem}.xml", earlier / f"{stem}.pdf"
        if old_pdf.is_file() and old_xml.is_file() and old_xml.read_bytes() == xml:
            return xml, old_pdf.read_bytes()
    return xml, out.pdf(doc, seller, xml)


# --------------------------------------------------------------------------- publishing

def publish(store: Store, finalize_id: str, staging: Path, outdir: Path) -> None:
    """Move a committed finalise's files into ``outdir``, each by one rename; safe to repeat."""
    outdir.mkdir(parents=True, exist_ok=True)
    if staging.exists():
        previous = _finalize_id(outdir / "finalize.json")
        for name in sorted(os.listdir(staging), key=lambda n: n == "finalize.json"):
            dest = outdir / name
            if dest.exists() and not name.endswith((".pdf", ".xml")) and previous and previous != finalize_id:
                aside = outdir / "superseded" / previous
                aside.mkdir(parents=True, exist_ok=True)
                os.replace(dest, aside / name)
                checkpoint("finalize superseded")
        for name in sorted(os.listdir(staging), key=lambda n: n == "finalize.json"):
            os.replace(staging / name, outdir / name)
            checkpoint(f"finalize published {name}")
        shutil.rmtree(staging, ignore_errors=True)
    store.finish_finalize(finalize_id, _now())


def recover(store: Store) -> list[str]:
    """Publish the finalises a crash interrupted after their commit."""
    done = []
    for finalize_id, period, staging, outdir, code in store.pending_finalizes():
        publish(store, finalize_id, Path(staging), Path(outdir))
        done.append(finalize_id)
    return done


def clean_stale_staging(outbox: Path, store: Store) -> None:
    root = outbox / ".staging"
    if not root.exists():
        return
    pending = {Path(p[2]).name for p in store.pending_finalizes()}
    for child in root.glob("finalize-*"):
        if child.name not in pending:
            shutil.rmtree(child, ignore_errors=True)


def _finalize_id(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["finalize_id"]
    except (OSError, ValueError, KeyError):
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- e-mail

def with_documents(paths: list[Path], settings: Settings, period: str) -> list:
    """The statements of ``period`` to send, each with the PDFs of its contract's documents of
    that period attached (``attach_documents = true``); the others as they are."""
    if not settings.documents.attach_documents or not exists(settings.store):
        return list(paths)
    from perfsettle.outputs.messages import read_message
    with Store(settings.store) as store:
        issued: dict[str, list[str]] = {}
        for d in store.documents(period):
            issued.setdefault(d["contract_id"], []).append(d["number"])
    folder = settings.outbox / period / "documents"
    out: list = []
    for path in paths:
        numbers = [n for n in issued.get(Path(path).stem, []) if (folder / f"{n}.pdf").is_file()]
        if not numbers or Path(path).parent.name != "statements":
            out.append(path)
            continue
        msg = read_message(Path(path))
        if not msg.is_multipart() or msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        for n in numbers:
            msg.add_attachment((folder / f"{n}.pdf").read_bytes(), maintype="application", subtype="pdf",
                               filename=f"{n}.pdf")
        out.append(msg)
    return out


# --------------------------------------------------------------------------- the register

def register_lines(store: Store, period: str | None = None) -> list[str]:
    """``perfsettle documents``: one line per document of the register."""
    from perfsettle.core.money import format_money, format_number
    out = []
    for d in store.documents(period):
        kind = "invoice" if d["type"] == INVOICE else "credit note"
        refs = ", ".join(d["data"].get("references") or [])
        out.append(f"{d['number']:<14} {kind:<11} {d['issue_date']}  due {d['due_date']}  {d['contract_id']:<16} "
                   f"{format_money(Decimal(d['total']), d['currency']):>14} {d['currency']}  "
                   f"(base {format_money(Decimal(d['base']), d['currency'])}, VAT {d['vat_category']} "
                   f"{format_number(Decimal(d['vat_rate']) * 100)} %)  period {d['period']}"
                   + (f"  corrects {refs}" if refs else ""))
    return out


__all__ = ["FinalizeResult", "finalize", "draft_plan", "write_drafts", "register_lines", "recover", "CREDIT_NOTE"]
