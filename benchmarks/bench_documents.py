"""Benchmark of a finalise (SPEC §8): seconds per document and peak memory.

    python benchmarks/bench_documents.py [--documents 10000] [--keep]

Writes one workbook of N contracts (each with its client columns, two KPIs and one month of
readings), closes 2026-10 with the invoices example's [seller] (the close renders its N
drafts too), then times ``perfsettle finalize 2026-10 --date 2026-11-02`` in a child process:
wall time (interpreter start included) per document, and the peak memory of the process tree
(PSS, the worker processes that render the PDFs included). Targets, printed, never asserted:
at most 100 ms of wall time per document on 2 cores, peak ≤ 2 GiB.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import EXAMPLE_SELLER, describe_finalize, finalize_child, perfsettle_command, run_child  # noqa: E402

CONTRACTS = ["contract_id", "client", "provider", "company_size", "currency", "start_month", "duration_months",
             "monthly_fee", "variable_share", "vat_rate", "payment_days", "client_siren", "client_address",
             "client_postcode", "client_city", "client_country", "language"]
KPIS = ["contract_id", "kpi_id", "name", "category", "direction", "unit", "target_mode", "target", "weight"]
READINGS = ["contract_id", "kpi_id", "month", "value", "status"]


def portfolio(path: Path, n: int) -> None:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheets = {name: wb.add_worksheet(name) for name in ("Contracts", "KPIs", "Readings")}
    for name, header in (("Contracts", CONTRACTS), ("KPIs", KPIS), ("Readings", READINGS)):
        sheets[name].write_row(0, 0, header)
    for i in range(n):
        cid = f"C-{i:06d}"
        sheets["Contracts"].write_row(i + 1, 0, [
            cid, f"Client {i} SAS", "Agence Lumen IA", "PME", "EUR", "2026-09", 12, 10000 + i % 7 * 1000, 0.35,
            0.2, 30, f"{552100000 + i:09d}", f"{i % 90 + 1} rue de la République", "69002", "Lyon", "FR",
            "fr" if i % 3 else "en"])
    r = 1
    for i in range(n):
        cid = f"C-{i:06d}"
        for kid, cat, target, weight in (("precision", "operational", 0.9, 0.6), ("uptime", "robustness", 0.99, 0.4)):
            sheets["KPIs"].write_row(r, 0, [cid, kid, kid.title(), cat, "higher", "%", "absolute", target, weight])
            r += 1
    r = 1
    for i in range(n):
        cid = f"C-{i:06d}"
        for month in ("2026-09", "2026-10"):
            for kid, value in (("precision", 0.85 + (i % 10) / 100), ("uptime", 0.995)):
                sheets["Readings"].write_row(r, 0, [cid, kid, month, value, "verified"])
                r += 1
    wb.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=10_000)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--timeout", type=float, default=6 * 3600)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="perfsettle-bench-documents-"))
    try:
        (work / "inbox").mkdir()
        portfolio(work / "inbox" / "portfolio.xlsx", args.documents)
        shutil.copy(EXAMPLE_SELLER, work / "perfsettle.toml")
        common = ["--config", str(work / "perfsettle.toml"), "--store", str(work / "store.sqlite"),
                  "--outbox", str(work / "outbox")]
        close = run_child(perfsettle_command() + ["run", "--period", "2026-10", "--min-age", "0", "--inbox",
                                                  str(work / "inbox"), *common], work, work / "close.log",
                          args.timeout)
        print(f"close 2026-10 ({args.documents} contracts, drafts included): exit {close['exit']}, "
              f"{close['seconds']:.1f} s, {close['rss_mib']:.0f} MiB", flush=True)
        if close["exit"] not in (0, 1):
            print((work / "close.log").read_text(errors="replace")[-2000:])
            return 1
        fin = finalize_child(common, work, "2026-10", args.timeout)
        print(describe_finalize(fin))
        return 0 if fin["exit"] == 0 else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
