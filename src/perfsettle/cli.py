"""Command line (SPEC §7): run, check, template, explain, history, send, store copy.

Exit codes: 0 everything accepted; 1 something rejected or excluded; 2 usage or
configuration error; 3 another run holds the lock; 4 internal error.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from perfsettle import __version__

from perfsettle.core import months
from perfsettle.config import ConfigError, Settings, load, override, store_location
from perfsettle.store import Locked, StoreError, StoreLost, describe, exists, run_lock
from perfsettle.pipeline import (EXIT_FINDINGS, EXIT_INTERNAL, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, read_workbook, run,
                       send_outputs, utcnow)

log = logging.getLogger("perfsettle")


class _OneLine(logging.Formatter):
    """stderr gets one line per event; tracebacks go to the run log only."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage().splitlines()[0] if record.getMessage() else ""


class Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 with a one-line message, never a traceback
        self.print_usage(sys.stderr)
        print(f"perfsettle: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _period(text: str) -> str:
    m = months.parse(text)
    if m is None or not text.strip()[:4].isdigit():
        raise argparse.ArgumentTypeError(f"not a period YYYY-MM: {text!r}")
    return m


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="perfsettle", description="Monthly close for AI performance contracts.")
    p.add_argument("--version", action="version", version=f"perfsettle {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp):
        sp.add_argument("--config", type=Path, help="configuration file (default: ./perfsettle.toml)")
        sp.add_argument("--store", type=store_location, metavar="PATH|URL",
                        help="SQLite file or postgresql:// URL (default: ./perfsettle.sqlite)")
        sp.add_argument("-v", "--verbose", action="count", default=0)

    r = sub.add_parser("run", help="close a period: read the inbox, settle, write the outbox")
    common(r)
    r.add_argument("--period", type=_period, help="YYYY-MM (default: the month before today)")
    r.add_argument("--inbox", type=Path)
    r.add_argument("--outbox", type=Path)
    r.add_argument("--min-age", type=float, help="seconds a file must be unchanged to be taken (default 10)")
    r.add_argument("--dry-run", action="store_true", help="compute and write outputs, store nothing, move nothing")
    r.add_argument("--send", action="store_true", help="e-mail the statements over the configured SMTP server")
    r.add_argument("--timings", action="store_true",
                   help="print each phase's seconds and peak memory (store and publish included) as JSON on stderr")

    c = sub.add_parser("check", help="validate workbooks without storing anything")
    common(c)
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--period", type=_period)
    c.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies into DIR")

    t = sub.add_parser("template", help="write a blank input workbook")
    t.add_argument("file", type=Path)
    t.add_argument("--lang", choices=("fr", "en"), default="fr")

    e = sub.add_parser("explain", help="explain one contract's settlement, in words and numbers")
    common(e)
    e.add_argument("contract")
    e.add_argument("--period", type=_period)
    e.add_argument("--month", type=_period, help="the contract month to explain (default: the period)")
    e.add_argument("--lang", choices=("fr", "en"))

    h = sub.add_parser("history", help="list the closes and runs recorded in the store")
    common(h)

    s = sub.add_parser("send", help="e-mail the statements of a closed period (retries what failed)")
    common(s)
    s.add_argument("period", type=_period)
    s.add_argument("--outbox", type=Path)

    st = sub.add_parser("store", help="manage stores")
    st_sub = st.add_subparsers(dest="store_command", required=True, parser_class=_Parser)
    cp = st_sub.add_parser("copy", help="copy a whole store into an empty one (SQLite <-> PostgreSQL), then check it")
    cp.add_argument("source", type=store_location, metavar="FROM", help="SQLite file or postgresql:// URL")
    cp.add_argument("target", type=store_location, metavar="TO", help="SQLite file or postgresql:// URL (empty)")
    return p


def settings_from(args) -> Settings:
    s = load(getattr(args, "config", None))
    return override(s, store=getattr(args, "store", None), inbox=getattr(args, "inbox", None),
                    outbox=getattr(args, "outbox", None), min_age=getattr(args, "min_age", None))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    level = logging.DEBUG if getattr(args, "verbose", 0) > 1 else logging.INFO if getattr(args, "verbose", 0) else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("%(message)s"))
    root = logging.getLogger("perfsettle")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    try:
        return {"run": cmd_run, "check": cmd_check, "template": cmd_template, "explain": cmd_explain,
                "history": cmd_history, "send": cmd_send, "store": cmd_store}[args.command](args)
    except (ConfigError, Usage, StoreError) as exc:
        print(f"perfsettle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreLost as exc:
        print(f"perfsettle: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("perfsettle: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:   # a bug: say so briefly, keep the traceback in a log file
        where = _crash_log(exc)
        print(f"perfsettle: internal error: {type(exc).__name__}: {exc} (details in {where})", file=sys.stderr)
        return EXIT_INTERNAL


def _crash_log(exc: BaseException) -> str:
    path = Path(os.environ.get("PERFSETTLE_CRASH_LOG", "perfsettle-error.log"))
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {utcnow()}\n")
            f.write("".join(traceback.format_exception(exc)))
        return str(path)
    except OSError:
        return "stderr"


def cmd_run(args) -> int:
    s = settings_from(args)
    try:
        with run_lock(s.store):   # one run at a time: a lock file (SQLite), an advisory lock (PostgreSQL)
            result = run(s, args.period, dry_run=args.dry_run, send=args.send)
    except Locked as exc:
        print(f"perfsettle: {exc}; nothing done", file=sys.stderr)
        return EXIT_LOCKED
    if result.report is None:
        print(f"perfsettle: {result.message}")
        return result.exit_code
    report = result.report
    for f in report.files:
        print(f"{f.name}: {f.outcome.replace('_', ' ')} ({f.errors} errors, {f.warnings} warnings)", file=sys.stderr)
        if args.verbose:
            for d in f.diagnostics:
                print("  " + d.line(), file=sys.stderr)
    from perfsettle.outputs.exports import totals
    settled = sum(r.status == "settled" for r in report.results)
    excluded = sum(r.status == "excluded" for r in report.results)
    money = "; ".join(f"{v['invoice_now']} {ccy}" for ccy, v in (result.totals or totals(report)).items()) or "nothing"
    tag = " (dry run: nothing stored)" if report.dry_run else ""
    print(f"close {report.period}{tag}: {settled} settled, {excluded} excluded; to invoice now: {money}")
    print(f"outputs: {result.outdir}")
    if result.message:
        print(f"perfsettle: {result.message}", file=sys.stderr)
    if args.timings:
        import json
        print("timings " + json.dumps({"seconds": {k: round(v, 3) for k, v in result.timings.items()},
                                       "peak_rss_mib": result.memory}), file=sys.stderr)
    return result.exit_code


def cmd_check(args) -> int:
    from perfsettle.pipeline import parse
    from perfsettle.store import Store
    from perfsettle.inputs.validation import check_run
    s = settings_from(args)
    stored_contracts, stored_kpis = {}, {}
    if exists(s.store):
        with Store(s.store) as store, store.snapshot():
            stored_contracts, stored_kpis = store.contracts(), store.kpis()
    parsed, paths = [], {}
    for path in args.files:
        if not path.is_file():
            raise Usage(f"no such file: {path}")
        raw, problems = read_workbook(path, s)
        wb = parse(path.name, raw)
        wb.diagnostics[:0] = problems
        parsed.append(wb)
        paths[path.name] = path
    intake = check_run(parsed, stored_contracts, stored_kpis, args.period)
    errors = 0
    for wb in parsed:
        for d in wb.diagnostics:
            print(d.line())
            errors += d.is_error
        if args.annotate:
            from perfsettle.outputs import annotate
            args.annotate.mkdir(parents=True, exist_ok=True)
            annotate.write_annotated(paths[wb.name], args.annotate / (Path(wb.name).stem + ".annotated.xlsx"),
                                     wb.diagnostics, [], s.language)
    n = len(intake.diagnostics)
    print(f"{len(parsed)} file(s) checked: {errors} error(s), {n - errors} warning(s)", file=sys.stderr)
    return EXIT_FINDINGS if errors else EXIT_OK


def cmd_template(args) -> int:
    from perfsettle.outputs.template import write_template
    path = write_template(args.file, args.lang)
    print(f"template written: {path}")
    return EXIT_OK


def cmd_explain(args) -> int:
    from perfsettle.outputs.explain import explain
    from perfsettle.core.settle import settle
    from perfsettle.store import Store
    s = settings_from(args)
    if not exists(s.store):
        raise Usage(f"no store at {describe(s.store)}: run a close first")
    with Store(s.store) as store, store.snapshot():
        contracts, kpis = store.contracts(), store.kpis()
        if args.contract not in contracts:
            raise Usage(f"no contract {args.contract} in the store")
        period = args.period or store.latest_closed_period()
        if period is None:
            raise Usage("no close recorded yet: give --period")
        from perfsettle.core.model import Terms
        terms = Terms(contracts[args.contract], tuple(sorted(kpis.get(args.contract, {}).values(), key=lambda k: k.kpi_id)))
        ledger = store.closed()
        for k, a in store.opening().items():
            ledger[k] = ledger.get(k, 0) + a
        # What the ledger held before the close of this period: remove that close's own lines.
        for (cid, month), amount in store.closed(since=period).items():
            ledger[(cid, month)] -= amount
        readings = [r for r in store.readings() if r.contract_id == args.contract]
    result = settle([terms], readings, {k: v for k, v in ledger.items() if k[0] == args.contract}, period)[0]
    try:
        text = explain(result, args.month or period, args.lang or terms.contract.language, readings=readings)
    except ValueError as exc:
        raise Usage(str(exc)) from None
    print(text)
    return EXIT_OK


def cmd_history(args) -> int:
    from perfsettle.store import Store
    s = settings_from(args)
    if not exists(s.store):
        print("no store yet: no close recorded")
        return EXIT_OK
    with Store(s.store) as store, store.snapshot():
        for r in store.runs():
            totals = r["totals"] or "{}"
            print(f"{r['period']}  {r['run_id']}  {r['state']:<9}  exit {r['exit_code']}  "
                  f"started {r['started_at']}  finished {r['finished_at'] or '-'}  totals {totals}")
            for f in r["files"]:
                print(f"    {f['outcome']:<18} {f['name']}  ({f['errors']} errors, {f['warnings']} warnings)")
    return EXIT_OK


def cmd_send(args) -> int:
    s = settings_from(args)
    failures = send_outputs(s, args.period)
    if failures:
        print(f"perfsettle: {failures} message(s) could not be sent; run send again to retry", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_store(args) -> int:
    from perfsettle.store.copy import copy_store
    with run_lock(args.target):   # no run may start on the target while it is being filled
        copied = copy_store(args.source, args.target)
    width = max(len(c.table) for c in copied)
    for c in copied:
        print(f"{c.table:<{width}}  {c.rows:>9} rows  sha256 {c.digest}  {'same' if c.same else 'DIFFERS'}")
    bad = [c.table for c in copied if not c.same]
    if bad:
        print(f"perfsettle: the copy differs from {describe(args.source)} in {', '.join(bad)}", file=sys.stderr)
        return EXIT_INTERNAL
    print(f"copied {describe(args.source)} to {describe(args.target)}: {len(copied)} tables, "
          f"{sum(c.rows for c in copied)} rows, every table checked")
    return EXIT_OK


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
