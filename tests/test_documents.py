"""perfsettle finalize end to end (SPEC §8): Factur-X files valid against the EN 16931 XSD and
the business rules (EN 16931 and French BR-FR-* schematrons), PDF/A-3 with the XML attached,
documents.csv, the FEC journal, refusals, reruns, the lock, the register, drafts; and a finalise
killed at each of its steps, then run again."""
from __future__ import annotations

import csv
import fcntl
import io
import os
import signal
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import facturx
import pikepdf
import pytest

import schematron
from builders import contract, kpis, readings, workbook
from conftest import main
from perfsettle.infra import faults
from test_mail import smtp_server  # noqa: F401  (the local SMTP server fixture)

SELLER_TOML = """
[seller]
name = "Agence Lumen IA SAS"
siren = "123456789"
vat_id = "FR32123456789"
address = "12 rue de la Paix"
postcode = "75002"
city = "Paris"
iban = "FR7630006000011234567890189"
bic = "AGRIFRPP"
late_payment = "Pénalités de retard : taux BCE + 10 points ; indemnité forfaitaire de 40 €"
"""
BUYER = {"client_siren": "552100554", "client_address": "4 quai des Chartrons", "client_postcode": "33000",
         "client_city": "Bordeaux"}


@pytest.fixture(autouse=True)
def every_xml_meets_the_business_rules(tmp_path):
    """After each test, every CII XML it left (issued documents and drafts) passes the EN 16931
    and French schematrons; checked here, in the test's process, never in a child it forked."""
    yield
    schematron.assert_tree_valid(tmp_path)


def site(root: Path, *, toml: str = SELLER_TOML) -> Path:
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    (root / "perfsettle.toml").write_text(toml, encoding="utf-8")
    return root


def common(root: Path) -> list[str]:
    return ["--config", str(root / "perfsettle.toml"), "--store", str(root / "store.sqlite"),
            "--outbox", str(root / "outbox")]


def close(root: Path, period: str, *extra: str) -> int:
    return main(["run", "--period", period, "--min-age", "0", "--inbox", str(root / "inbox"), *common(root), *extra])


def finalize(root: Path, period: str, date: str) -> int:
    return main(["finalize", period, "--date", date, *common(root)])


def drop(root: Path, name: str, **sheets) -> None:
    workbook(root / "inbox" / name, **sheets)


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def two_contracts(root: Path, *, second: dict | None = None, invoiced=()) -> None:
    drop(root, "book.xlsx",
         contracts=[contract(contract_id="C1", start_month="2026-08", **BUYER),
                    contract(contract_id="C2", start_month="2026-09", vat_rate=0.1, payment_days=45, language="en",
                             **(second if second is not None else BUYER))],
         kpis=kpis("C1") + kpis("C2"),
         readings=readings("C1", ("2026-08", "2026-09")) + readings("C2", ("2026-09",)),
         **({"invoiced": list(invoiced)} if invoiced else {}))


def documents_dir(root: Path, period: str) -> Path:
    return root / "outbox" / period / "documents"


def test_finalize_issues_valid_factur_x_documents_csv_and_a_balanced_journal(tmp_path):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-02") == 0
    out = documents_dir(root, "2026-09")
    docs = rows(out / "documents.csv")
    assert [(d["number"], d["type"], d["contract_id"], d["base"], d["vat_rate"], d["vat"], d["total"], d["due_date"],
             d["months"]) for d in docs] == [
        ("F2026-00001", "invoice", "C1", "20000.00", "0.2", "4000.00", "24000.00", "2026-11-01", "2026-08;2026-09"),
        ("F2026-00002", "invoice", "C2", "10000.00", "0.1", "1000.00", "11000.00", "2026-11-16", "2026-09"),
    ]
    # documents.csv totals equal the ledger lines they document, to the cent
    db = sqlite3.connect(root / "store.sqlite")
    ledger = sum(D(a) for (a,) in db.execute("SELECT amount FROM ledger"))
    assert sum(D(d["base"]) for d in docs) == ledger
    assert db.execute("SELECT count(*) FROM ledger l LEFT JOIN ledger_documents d ON d.ledger_id = l.id "
                      "WHERE d.ledger_id IS NULL").fetchone() == (0,)
    for d in docs:
        xml = (out / f"{d['number']}.xml").read_bytes()
        assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
        schematron.assert_valid(xml, d["number"])
        pdf_bytes = (out / f"{d['number']}.pdf").read_bytes()
        name, embedded = facturx.get_xml_from_pdf(pdf_bytes, check_xsd=True)
        assert (name, embedded) == ("factur-x.xml", xml)
        with pikepdf.open(out / f"{d['number']}.pdf") as pdf:
            with pdf.open_metadata() as meta:
                assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
            spec = pdf.attachments["factur-x.xml"]
            assert spec.obj.get("/AFRelationship") == "/Data"
            assert any(a.get("/F") == "factur-x.xml" for a in pdf.Root.AF)
        assert f"<ram:ID>{d['number']}</ram:ID>".encode() in xml
    journal(out / "journal-20261002.txt", docs)


def journal(path: Path, docs: list[dict]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("|")
    assert header[:3] == ["JournalCode", "JournalLib", "EcritureNum"] and len(header) == 18
    assert header[11:13] == ["Debit", "Credit"] and header[-1] == "Idevise"
    entries: dict[str, list] = {}
    for line in lines[1:]:
        cells = line.split("|")
        assert len(cells) == 18
        entries.setdefault(cells[2], []).append(cells)
    amount = lambda text: D(text.replace(",", ".")) if text else D(0)   # noqa: E731
    total_debit = total_credit = D(0)
    for number, cells in entries.items():
        debit, credit = sum(amount(c[11]) for c in cells), sum(amount(c[12]) for c in cells)
        assert debit == credit, number
        total_debit += debit
        total_credit += credit
    assert total_debit == total_credit == sum(D(d["total"]) for d in docs)
    assert set(entries) == {d["number"] for d in docs}


def test_a_contract_missing_buyer_data_is_refused_and_the_others_issued(tmp_path, capsys):
    root = site(tmp_path / "s")
    two_contracts(root, second={"client_address": "1 rue X"})
    assert close(root, "2026-09") == 0
    capsys.readouterr()
    assert finalize(root, "2026-09", "2026-10-02") == 1
    err = capsys.readouterr().err
    assert "C2" in err and "client_siren" in err and "client_city" in err
    assert [d["contract_id"] for d in rows(documents_dir(root, "2026-09") / "documents.csv")] == ["C1"]
    # completed later: the refused contract is issued with the next number, no gap
    two_contracts(root)
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-03") == 0
    assert [(d["number"], d["contract_id"]) for d in rows(documents_dir(root, "2026-09") / "documents.csv")] == [
        ("F2026-00002", "C2")]
    assert (documents_dir(root, "2026-09") / "superseded").is_dir()   # the first documents.csv kept aside
    # the close's rerun superseded its other outputs, not the documents issued before it
    assert (documents_dir(root, "2026-09") / "F2026-00001.pdf").is_file()
    first = next((documents_dir(root, "2026-09") / "superseded").iterdir())
    assert [d["number"] for d in rows(first / "documents.csv")] == ["F2026-00001"]


def test_a_rerun_with_nothing_to_document_issues_nothing(tmp_path, capsys):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-02") == 0
    before = sorted(p.name for p in documents_dir(root, "2026-09").iterdir())
    capsys.readouterr()
    assert finalize(root, "2026-09", "2026-10-02") == 0
    assert "rien à documenter" in capsys.readouterr().out   # the default language is French
    assert sorted(p.name for p in documents_dir(root, "2026-09").iterdir()) == before


def test_a_credit_note_cites_the_opening_invoice_or_is_refused(tmp_path, capsys):
    root = site(tmp_path / "s")
    two_contracts(root, invoiced=[
        {"contract_id": "C1", "month": "2026-08", "amount": 10500, "invoice_number": "FM-2026-118",
         "invoice_date": "2026-09-05"},
        {"contract_id": "C2", "month": "2026-09", "amount": 10700}])
    assert close(root, "2026-09") == 0
    capsys.readouterr()
    # C1: -500 for August, +10000 for September: an invoice whose August line cites FM-2026-118.
    # C2: -700 for September with no invoice number to cite: not issued.
    assert finalize(root, "2026-09", "2026-10-02") == 1
    assert "C2" in capsys.readouterr().err
    docs = rows(documents_dir(root, "2026-09") / "documents.csv")
    assert [(d["number"], d["base"], d["references"]) for d in docs] == [("F2026-00001", "9500.00", "FM-2026-118")]
    xml = (documents_dir(root, "2026-09") / "F2026-00001.xml").read_bytes()
    assert b"FM-2026-118" in xml and b"20260905" in xml


def test_a_restatement_after_finalise_issues_a_complementary_document_and_keeps_the_first(tmp_path):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-02") == 0
    first = (documents_dir(root, "2026-09") / "F2026-00001.xml").read_bytes()
    drop(root, "late.xlsx", readings=readings("C1", ("2026-09",), detection=0.7))
    assert close(root, "2026-10") == 0
    statement = root / "outbox" / "2026-10" / "statements" / "C1.html"
    assert "Déjà facturé par : F2026-00001" in statement.read_text(encoding="utf-8")   # the month's invoice cited
    assert finalize(root, "2026-10", "2026-11-02") == 0
    docs = rows(documents_dir(root, "2026-10") / "documents.csv")
    kinds = {(d["contract_id"], d["type"]) for d in docs}
    assert ("C1", "invoice") in kinds     # October, net of the September credit
    c1 = next(d for d in docs if d["contract_id"] == "C1")
    assert c1["references"] == "F2026-00001" and c1["months"] == "2026-09;2026-10"
    assert (documents_dir(root, "2026-09") / "F2026-00001.xml").read_bytes() == first
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        assert main(["documents", *common(root)]) == 0
    listed = out.getvalue().splitlines()
    assert [line.split()[0] for line in listed] == ["F2026-00001", "F2026-00002", "F2026-00003", "F2026-00004"]


def test_numbers_restart_with_the_year_of_issue(tmp_path):
    root = site(tmp_path / "s")
    drop(root, "book.xlsx", contracts=[contract(contract_id="C1", start_month="2026-11", **BUYER)],
         kpis=kpis("C1"), readings=readings("C1", ("2026-11", "2026-12")))
    assert close(root, "2026-11") == 0
    assert finalize(root, "2026-11", "2026-12-02") == 0
    assert close(root, "2026-12") == 0
    assert finalize(root, "2026-12", "2027-01-04") == 0
    assert rows(documents_dir(root, "2026-12") / "documents.csv")[0]["number"] == "F2027-00001"


def test_finalize_waits_for_the_lock_of_a_run(tmp_path):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    held_r, held_w = os.pipe()
    pid = os.fork()
    if pid == 0:   # another process holds the run lock until it is killed
        with open(root / "store.sqlite.lock", "a+") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            os.write(held_w, b"held")
            signal.pause()
        os._exit(0)
    try:
        assert os.read(held_r, 4) == b"held"
        assert finalize(root, "2026-09", "2026-10-02") == 3
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(held_r)
        os.close(held_w)
    assert not (documents_dir(root, "2026-09") / "documents.csv").exists()


def test_unknown_documents_keys_are_a_configuration_error(tmp_path):
    root = site(tmp_path / "s", toml=SELLER_TOML + "\n[documents]\ninvoice_prefx = \"F\"\n")
    assert main(["documents", *common(root)]) == 2
    for i, bad in enumerate(("-1", "true", "\"2\"")):
        root = site(tmp_path / f"workers-{i}", toml=SELLER_TOML + f"\n[documents]\nrender_workers = {bad}\n")
        assert main(["documents", *common(root)]) == 2


def test_eur_rates_must_be_currencies_and_positive_numbers(tmp_path):
    for i, bad in enumerate(('{ USD = "abc" }', "{ USD = 0 }", '{ usd = "0.92" }', '{ EUR = "1" }', '"0.92"')):
        root = site(tmp_path / f"rates-{i}", toml=SELLER_TOML + f"\n[documents]\neur_rates = {bad}\n")
        assert main(["documents", *common(root)]) == 2, bad


def test_a_document_in_dollars_states_its_vat_in_euros_at_the_configured_rate(tmp_path, capsys):
    root = site(tmp_path / "s", toml=SELLER_TOML + '\n[documents]\neur_rates = { USD = "0.9213" }\n')
    drop(root, "book.xlsx", contracts=[contract(contract_id="C1", start_month="2026-09", currency="USD", **BUYER)],
         kpis=kpis("C1"), readings=readings("C1", ("2026-09",)))
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-02") == 0
    folder = documents_dir(root, "2026-09")
    doc, = rows(folder / "documents.csv")
    vat = D(doc["vat"])
    xml = (folder / f"{doc['number']}.xml").read_bytes()
    eur = (vat * D("0.9213")).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    assert f'<ram:TaxTotalAmount currencyID="EUR">{eur}</ram:TaxTotalAmount>'.encode() in xml
    from pypdf import PdfReader
    text = "".join(page.extract_text() for page in PdfReader(folder / f"{doc['number']}.pdf").pages)
    assert "TVA en euros (1 USD = 0,9213 €)" in text
    assert "BR-FR-CO-12" not in capsys.readouterr().err


def test_a_document_in_dollars_without_a_rate_is_issued_and_the_warning_says_what_to_set(tmp_path, capsys):
    root = site(tmp_path / "s")
    drop(root, "book.xlsx", contracts=[contract(contract_id="C1", start_month="2026-09", currency="USD", **BUYER)],
         kpis=kpis("C1"), readings=readings("C1", ("2026-09",)))
    assert close(root, "2026-09") == 0
    capsys.readouterr()
    assert finalize(root, "2026-09", "2026-10-02") == 0      # issued: a warning is no refusal
    out = capsys.readouterr()
    assert "eur_rates" in out.err and "USD" in out.err and "refus" not in out.out
    assert len(rows(documents_dir(root, "2026-09") / "documents.csv")) == 1
    for xml in tmp_path.rglob("*.xml"):   # without the rate, BR-FR-CO-12 fails, as the warning says
        assert [f.rule for f in schematron.errors(xml.read_bytes())] == ["BR-FR-CO-12_BT-5"]
        xml.unlink()


def test_a_close_writes_drafts_that_consume_nothing(tmp_path):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    drafts = root / "outbox" / "2026-09" / "documents" / "draft"
    names = sorted(p.name for p in drafts.iterdir())
    assert len([n for n in names if n.endswith(".pdf")]) == 2 and len([n for n in names if n.endswith(".xml")]) == 2
    for p in drafts.glob("*.xml"):
        assert facturx.xml_check_xsd(p.read_bytes(), flavor="factur-x", level="en16931")
        assert b"DRAFT" in p.read_bytes()
    assert finalize(root, "2026-09", "2026-10-02") == 0
    assert rows(documents_dir(root, "2026-09") / "documents.csv")[0]["number"] == "F2026-00001"


# --------------------------------------------------------------------------- killed at any instant

def snapshot(root: Path) -> dict:
    db = sqlite3.connect(root / "store.sqlite")
    q = lambda sql: sorted(db.execute(sql).fetchall())  # noqa: E731
    store = {
        "documents": q("SELECT number, type, issue_date, due_date, contract_id, base, vat, total, data FROM documents"),
        "lines": q("SELECT number, line_no, month, amount FROM document_lines"),
        "refs": q("SELECT number, month, cited_number FROM document_refs"),
        "ledger_documents": q("SELECT ledger_id, number FROM ledger_documents"),
        "finalizes": q("SELECT period, issue_date, state FROM finalizes"),
    }
    db.close()
    out = documents_dir(root, "2026-09")
    files = {}
    for p in sorted(out.rglob("*")) if out.exists() else []:
        if p.is_file() and "draft" not in p.parts and p.name != "finalize.json":
            files[p.name] = p.read_text(encoding="utf-8") if p.suffix in (".csv", ".xml", ".txt") else "present"
    return {"store": store, "files": files}


def finalize_killed_at(root: Path, point: int) -> int | None:
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.environ["PERFSETTLE_CRASH_AT"] = str(point)
            faults._count = 0
            code = finalize(root, "2026-09", "2026-10-02")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def test_finalize_killed_at_each_step_then_rerun_issues_the_same_documents(tmp_path, monkeypatch):
    import shutil
    base = site(tmp_path / "base")
    two_contracts(base, invoiced=[{"contract_id": "C1", "month": "2026-08", "amount": 10500,
                                   "invoice_number": "FM-1", "invoice_date": "2026-09-05"}])
    assert close(base, "2026-09") == 0
    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    trace = tmp_path / "points.txt"
    monkeypatch.setenv("PERFSETTLE_TRACE_POINTS", str(trace))
    faults._count = 0
    assert finalize(reference, "2026-09", "2026-10-02") == 0
    monkeypatch.delenv("PERFSETTLE_TRACE_POINTS")
    faults._count = 0
    points = trace.read_text().splitlines()
    assert any("finalize committed" in p for p in points) and any("published" in p for p in points)
    expected = snapshot(reference)
    assert [d[0] for d in expected["store"]["documents"]] == ["F2026-00001", "F2026-00002"]
    for n, line in enumerate(points, start=1):
        root = tmp_path / f"crash-{n}"
        shutil.copytree(base, root)
        assert finalize_killed_at(root, n) == signal.SIGKILL, f"point {line} was not reached"
        assert finalize(root, "2026-09", "2026-10-02") == 0, f"after a crash at {line}"
        assert snapshot(root) == expected, f"after a crash at point {line}"
        staging = root / "outbox" / ".staging"
        assert not staging.exists() or not any(p.name.startswith("finalize-") for p in staging.iterdir())
        shutil.rmtree(root)


def test_send_attaches_the_documents_pdf_when_configured(tmp_path, smtp_server):
    from test_mail import LOCAL, Mailbox
    box = Mailbox()
    controller = smtp_server(box)
    root = site(tmp_path / "s", toml='sender = "cloture@agence.example"\n' + SELLER_TOML + f'''
[documents]
attach_documents = true
[smtp]
host = "{LOCAL}"
port = {controller.port}
security = "none"
''')
    drop(root, "book.xlsx", contracts=[contract(contract_id="C1", start_month="2026-09", contact_email="ap@client.example",
                                                **BUYER)],
         kpis=kpis("C1"), readings=readings("C1", ("2026-09",)))
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-02") == 0
    assert main(["send", "2026-09", *common(root)]) == 0
    statement = next(m for m in box.received if "ap@client.example" in str(m["To"]))
    pdfs = [part for part in statement.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert [p.get_filename() for p in pdfs] == ["F2026-00001.pdf"]
    assert pdfs[0].get_content() == (documents_dir(root, "2026-09") / "F2026-00001.pdf").read_bytes()
    assert statement.get_body(("html",)) is not None


@pytest.mark.parametrize("over,code,column", [
    ({"vat_rate": 0.2, "vat_category": "E"}, "vat-rate-category", "vat_rate"),
    ({"vat_rate": -0.1}, "vat-rate-out-of-range", "vat_rate"),
    ({"payment_days": 61}, "payment-days-out-of-range", "payment_days"),
    ({"client_country": "France"}, "bad-country", "client_country"),
    ({"vat_category": "X"}, "bad-value", "vat_category"),
])
def test_invoicing_columns_are_checked_at_their_cell(tmp_path, capsys, over, code, column):
    path = workbook(tmp_path / "c.xlsx", contracts=[contract(**over)], kpis=kpis())
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if f"[{code}]" in line)
    from builders import HEADERS
    cols = HEADERS["Contracts"] + [k for k in contract(**over) if k not in HEADERS["Contracts"]]
    letter = chr(ord("A") + cols.index(column))
    assert line.startswith(f"Contracts!{letter}2")


@pytest.mark.parametrize("over,column,found", [
    ({"client_siren": "55210055"}, "client_siren", "55210055"),
    ({"client_einvoicing_address": "412345670"}, "client_einvoicing_address", "412345670"),
])
def test_a_malformed_identifier_is_a_warning_at_its_cell_and_the_contract_settles(tmp_path, capsys, over, column,
                                                                                 found):
    row = contract(**{"client_siren": "552100554", **over})
    path = workbook(tmp_path / "c.xlsx", contracts=[row], kpis=kpis())
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "[bad-party-identifier]" in line)
    from builders import HEADERS
    cols = HEADERS["Contracts"] + [k for k in row if k not in HEADERS["Contracts"]]
    letter = chr(ord("A") + cols.index(column))
    assert line.startswith(f"Contracts!{letter}2") and found in line
    assert out.splitlines() == [line]    # a warning, and the only finding: exit 0, the contract settles


def test_invoicing_columns_have_their_defaults(tmp_path):
    from perfsettle.inputs.validation import check_run
    from perfsettle.pipeline import parse, read_workbook
    from perfsettle.config import Settings
    path = workbook(tmp_path / "c.xlsx", contracts=[contract(vat_category="e", vat_rate=0, client_country="be")],
                    kpis=kpis(), invoiced=[{"contract_id": "C1", "month": "2026-01", "amount": 100,
                                            "invoice_number": "X-1", "invoice_date": "05/02/2026"}])
    raw, _ = read_workbook(path, Settings())
    intake = check_run([parse("c.xlsx", raw)], {}, {}, "2026-01")
    c = intake.contracts["C1"][0]
    assert (c.vat_rate, c.vat_category, c.payment_days, c.client_country) == (0, "E", 30, "BE")
    assert intake.invoice_refs == {("C1", "2026-01"): ("X-1", "2026-02-05")}
    plain = workbook(tmp_path / "d.xlsx", contracts=[contract()], kpis=kpis())
    raw, _ = read_workbook(plain, Settings())
    c = check_run([parse("d.xlsx", raw)], {}, {}, "2026-01").contracts["C1"][0]
    assert (c.vat_rate, c.vat_category, c.payment_days, c.client_country, c.client_siren) == (D("0.20"), "S", 30, "FR", "")


def test_finalize_auto_issues_after_every_run(tmp_path):
    root = site(tmp_path / "s", toml='finalize = "auto"\n' + SELLER_TOML)
    two_contracts(root)
    assert close(root, "2026-09") == 0
    assert [d["number"] for d in rows(documents_dir(root, "2026-09") / "documents.csv")] == ["F2026-00001",
                                                                                           "F2026-00002"]


def test_a_dry_run_writes_drafts_and_issues_nothing(tmp_path):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09", "--dry-run") == 0
    assert len(list((root / "outbox" / "dry-run" / "2026-09" / "documents" / "draft").glob("*.pdf"))) == 2
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-09", "2026-10-02") == 0
    assert rows(documents_dir(root, "2026-09") / "documents.csv")[0]["number"] == "F2026-00001"


def test_a_period_not_closed_yet_cannot_be_finalised(tmp_path, capsys):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    assert finalize(root, "2026-10", "2026-11-02") == 2
    assert "2026-10 has not been closed" in capsys.readouterr().err


def test_a_rerun_reuses_the_draft_pdfs_whose_content_is_unchanged(tmp_path):
    root = site(tmp_path / "s")
    two_contracts(root)
    assert close(root, "2026-09") == 0
    drafts = root / "outbox" / "2026-09" / "documents" / "draft"
    pdfs = sorted(drafts.glob("*.pdf"))
    assert [p.name.split("-")[1] for p in pdfs] == ["C1", "C2"]
    for p in pdfs:   # mark the earlier drafts: a reused one keeps the mark, a rendered one has none
        p.write_bytes(p.read_bytes() + b"%earlier draft\n")
    drop(root, "late.xlsx", readings=readings("C2", ("2026-09",), detection=0.7))   # C2 changes, C1 does not
    assert close(root, "2026-09") == 0
    c1, c2 = (drafts / p.name for p in pdfs)
    assert c1.read_bytes().endswith(b"%earlier draft\n")
    assert not c2.read_bytes().endswith(b"%earlier draft\n")
    assert facturx.get_xml_from_pdf(c2.read_bytes())[1] == (drafts / c2.name.replace(".pdf", ".xml")).read_bytes()


def test_documents_rendered_by_several_workers_are_the_files_a_single_one_renders(tmp_path):
    """Drafts and issued documents rendered by two worker processes are, byte for byte, the
    files rendered in the finalising process alone: a PDF depends on its document only (dated
    with its issue date, not with the time it was rendered), whichever process renders it after
    whichever others."""
    ids = [f"C{i}" for i in range(1, 7)]
    outputs = {}
    for workers in (1, 2):
        root = site(tmp_path / f"workers-{workers}", toml=SELLER_TOML + f"[documents]\nrender_workers = {workers}\n")
        drop(root, "book.xlsx",
             contracts=[contract(contract_id=cid, start_month="2026-08", language="en" if i % 2 else "fr",
                                 vat_rate=0.2 if i % 3 else 0.1, **BUYER) for i, cid in enumerate(ids)],
             kpis=[k for cid in ids for k in kpis(cid)],
             readings=[r for i, cid in enumerate(ids) for r in readings(cid, ("2026-08", "2026-09"),
                                                                       detection=0.8 + i / 100)])
        assert close(root, "2026-09") == 0
        assert finalize(root, "2026-09", "2026-10-02") == 0
        folder = documents_dir(root, "2026-09")
        outputs[workers] = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
                            if p.is_file() and p.name != "finalize.json"}
    assert len([name for name in outputs[1] if name.endswith(".pdf")]) == 2 * len(ids)   # drafts and issued
    assert outputs[2] == outputs[1]
