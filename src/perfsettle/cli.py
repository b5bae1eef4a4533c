"""Command line (SPEC §7): run, check, template, explain, history, send, finalize, documents, store copy.

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
from perfsettle.outputs import terminal
from perfsettle.store import Locked, StoreError, StoreLost, describe, exists, run_lock
from perfsettle.pipeline import (EXIT_FINDINGS, EXIT_INTERNAL, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, read_workbook, run,
                       send_outputs, utcnow)

log = logging.getLogger("perfsettle")


class _OneLine(logging.Formatter):
    """stderr gets one line per event, in the user's language; tracebacks go to the run log only.

    A record may carry its French with ``extra={"fr": "<template>"}`` (same arguments);
    otherwise ``terminal.translate`` knows it, or it is printed as it is."""

    def __init__(self, fmt: str, lang: str = "fr"):
        super().__init__(fmt)
        self.lang = lang

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if self.lang == "fr" and getattr(record, "fr", None):
            text = record.fr % record.args if record.args else record.fr
        elif text:
            text = terminal.translate(text.splitlines()[0], self.lang)
        return text.splitlines()[0] if text else ""


class Usage(Exception):
    """A usage error, with its English and French text."""

    def __init__(self, key: str, **kw):
        self.key, self.kw = key, kw
        super().__init__(terminal.say(key, "en", **kw))

    def text(self, lang: str) -> str:
        return terminal.say(self.key, lang, **self.kw)


def _early_language(argv: list[str] | None) -> str:
    """The terminal's language before the configuration is loaded: ``--lang``, else the
    ``language`` of the configuration file (read leniently), else French."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(argv):
        if a == "--lang" and i + 1 < len(argv):
            return terminal.language(argv[i + 1])
        if a.startswith("--lang="):
            return terminal.language(a.split("=", 1)[1])
    path = Path("perfsettle.toml")
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            path = Path(argv[i + 1])
        elif a.startswith("--config="):
            path = Path(a.split("=", 1)[1])
    try:
        import tomllib
        return terminal.language(tomllib.loads(path.read_text(encoding="utf-8")).get("language"))
    except (OSError, ValueError, AttributeError):
        return "fr"


_HELP = {  # what --help says, (French, English)
    "description": ("Clôture mensuelle des contrats de performance IA.",
                    "Monthly close for AI performance contracts."),
    "help": ("afficher cette aide et quitter", "show this help message and exit"),
    "version": ("afficher la version et quitter", "show the version and exit"),
    "usage": ("utilisation : ", "usage: "),
    "positionals": ("arguments", "positional arguments"),
    "optionals": ("options", "options"),
    "commands": ("commandes", "commands"),
    "config": ("fichier de configuration (par défaut : ./perfsettle.toml)",
               "configuration file (default: ./perfsettle.toml)"),
    "store": ("fichier SQLite ou URL postgresql:// (par défaut : ./perfsettle.sqlite)",
              "SQLite file or postgresql:// URL (default: ./perfsettle.sqlite)"),
    "verbose": ("plus de détails (-vv : tout)", "more detail (-vv: everything)"),
    "lang": ("langue du terminal (par défaut : language de perfsettle.toml, sinon fr)",
             "language of what the terminal says (default: language of perfsettle.toml, else fr)"),
    "run": ("clôturer une période : lire l'inbox, calculer, écrire l'outbox",
            "close a period: read the inbox, settle, write the outbox"),
    "period": ("période AAAA-MM (par défaut : le mois précédent)", "YYYY-MM (default: the month before today)"),
    "inbox": ("dossier des classeurs à prendre (par défaut : ./inbox)", "folder of the workbooks to take (default: ./inbox)"),
    "outbox": ("dossier des sorties (par défaut : ./outbox)", "folder of the outputs (default: ./outbox)"),
    "min_age": ("secondes depuis la dernière modification d'un fichier pour qu'il soit pris (par défaut 10)",
                "seconds a file must be unchanged to be taken (default 10)"),
    "dry_run": ("calculer et écrire les sorties dans outbox/dry-run/, sans rien enregistrer ni déplacer",
                "compute and write outputs under outbox/dry-run/, store nothing, move nothing"),
    "send": ("envoyer les relevés par e-mail via le serveur SMTP configuré",
             "e-mail the statements over the configured SMTP server"),
    "timings": ("afficher en JSON sur stderr les secondes et la mémoire de chaque phase",
                "print each phase's seconds and peak memory (store and publish included) as JSON on stderr"),
    "run_finalize": ("après la clôture, émettre les factures et avoirs numérotés (SPEC §8)",
                     "after the close, issue the numbered invoices and credit notes (SPEC §8)"),
    "finalize": ("émettre les factures et avoirs numérotés des clôtures",
                 "issue the numbered invoices and credit notes of the closes"),
    "finalize_period": ("période AAAA-MM (par défaut : la dernière clôturée)",
                        "YYYY-MM (default: the latest closed period)"),
    "date": ("date d'émission AAAA-MM-JJ (par défaut : aujourd'hui)", "issue date YYYY-MM-DD (default: today)"),
    "documents": ("lister le registre des factures et avoirs émis", "list the register of issued invoices and credit notes"),
    "documents_period": ("seulement les documents de cette période AAAA-MM", "only the documents of this period YYYY-MM"),
    "check": ("vérifier des classeurs sans rien enregistrer", "validate workbooks without storing anything"),
    "files": ("classeurs à vérifier (.xlsx, .xlsm, .xls, .ods)", "workbooks to check (.xlsx, .xlsm, .xls, .ods)"),
    "check_period": ("période AAAA-MM des règles qui en dépendent", "YYYY-MM for the rules that depend on the period"),
    "annotate": ("écrire les copies annotées dans DOSSIER", "write annotated copies into DIR"),
    "template": ("écrire un classeur de saisie vierge", "write a blank input workbook"),
    "template_file": ("le classeur à écrire (.xlsx)", "the workbook to write (.xlsx)"),
    "template_lang": ("langue des feuilles, des colonnes et des consignes (par défaut : fr)",
                      "language of the sheets, columns and guidance (default: fr)"),
    "explain": ("expliquer le calcul d'un contrat, en mots et en chiffres",
                "explain one contract's settlement, in words and numbers"),
    "explain_lang": ("langue de l'explication et du terminal (par défaut : celle du contrat)",
                     "language of the explanation and of the terminal (default: the contract's)"),
    "contract": ("identifiant du contrat (contract_id)", "the contract's contract_id"),
    "explain_period": ("la clôture à lire AAAA-MM (par défaut : la dernière)", "the close to read YYYY-MM (default: the latest)"),
    "month": ("le mois du contrat à expliquer (par défaut : la période)", "the contract month to explain (default: the period)"),
    "history": ("lister les clôtures et exécutions enregistrées", "list the closes and runs recorded in the store"),
    "send_cmd": ("envoyer par e-mail les relevés d'une période clôturée (réessaie ce qui a échoué, jamais deux fois)",
                 "e-mail the statements of a closed period (retries what failed, never twice)"),
    "send_period": ("la période clôturée AAAA-MM", "the closed period YYYY-MM"),
    "store_cmd": ("gérer les bases", "manage stores"),
    "store_commands": ("opérations", "operations"),
    "copy": ("copier une base entière dans une base vide (SQLite <-> PostgreSQL), puis la vérifier",
             "copy a whole store into an empty one (SQLite <-> PostgreSQL), then check it"),
    "source": ("fichier SQLite ou URL postgresql://", "SQLite file or postgresql:// URL"),
    "target": ("fichier SQLite ou URL postgresql:// (vide)", "SQLite file or postgresql:// URL (empty)"),
}


def _say(key: str, lang: str) -> str:
    fr, en = _HELP[key]
    return fr if lang == "fr" else en


class _Parser(argparse.ArgumentParser):
    """argparse in the user's language: usage, section titles, -h and every help line."""

    def __init__(self, *args, lang: str = "fr", **kw):
        self.lang = lang
        kw.setdefault("formatter_class", _formatter(lang))
        super().__init__(*args, add_help=False, **kw)
        self._positionals.title = self.say("positionals")
        self._optionals.title = self.say("optionals")
        self.add_argument("-h", "--help", action="help", help=self.say("help"))

    def say(self, key: str) -> str:
        return _say(key, self.lang)

    def error(self, message):  # exit 2 with a one-line message, never a traceback
        self.print_usage(sys.stderr)
        print(f"perfsettle: {terminal.translate(message, self.lang)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _formatter(lang: str):
    class Formatter(argparse.HelpFormatter):
        def add_usage(self, usage, actions, groups, prefix=None):
            return super().add_usage(usage, actions, groups, _say("usage", lang) if prefix is None else prefix)
    return Formatter


def _period(text: str) -> str:
    m = months.parse(text)
    if m is None or not text.strip()[:4].isdigit():
        raise argparse.ArgumentTypeError(f"not a period YYYY-MM: {text!r}")
    return m


def _date(text: str):
    import datetime as dt
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def parser(lang: str = "fr") -> argparse.ArgumentParser:
    """The command line, its help in ``lang``."""
    p = _Parser(prog="perfsettle", description=_say("description", lang), lang=lang)
    h = p.say

    def m(fr: str, en: str) -> str:  # a metavar
        return fr if lang == "fr" else en

    period, folder = m("AAAA-MM", "YYYY-MM"), m("DOSSIER", "DIR")
    p.add_argument("--version", action="version", version=f"perfsettle {__version__}", help=h("version"))
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, title=h("commands"),
                           metavar="{run,check,template,explain,history,send,finalize,documents,store}")

    def command(name: str, key: str, parent=sub) -> _Parser:
        return parent.add_parser(name, help=h(key), description=h(key), lang=lang)

    def common(sp):
        sp.add_argument("--config", type=Path, metavar=m("FICHIER", "FILE"), help=h("config"))
        sp.add_argument("--store", type=store_location, metavar=m("CHEMIN|URL", "PATH|URL"), help=h("store"))
        sp.add_argument("-v", "--verbose", action="count", default=0, help=h("verbose"))
        if not any(a.dest == "lang" for a in sp._actions):
            sp.add_argument("--lang", choices=terminal.LANGS, help=h("lang"))

    r = command("run", "run")
    common(r)
    r.add_argument("--period", type=_period, metavar=period, help=h("period"))
    r.add_argument("--inbox", type=Path, metavar=folder, help=h("inbox"))
    r.add_argument("--outbox", type=Path, metavar=folder, help=h("outbox"))
    r.add_argument("--min-age", type=float, metavar=m("SECONDES", "SECONDS"), help=h("min_age"))
    r.add_argument("--dry-run", action="store_true", help=h("dry_run"))
    r.add_argument("--send", action="store_true", help=h("send"))
    r.add_argument("--timings", action="store_true", help=h("timings"))
    r.add_argument("--finalize", action="store_true", help=h("run_finalize"))

    fz = command("finalize", "finalize")
    common(fz)
    fz.add_argument("period", nargs="?", type=_period, metavar=period, help=h("finalize_period"))
    fz.add_argument("--date", type=_date, metavar=m("AAAA-MM-JJ", "YYYY-MM-DD"), help=h("date"))
    fz.add_argument("--outbox", type=Path, metavar=folder, help=h("outbox"))

    dc = command("documents", "documents")
    common(dc)
    dc.add_argument("--period", type=_period, metavar=period, help=h("documents_period"))
    dc.add_argument("--outbox", type=Path, metavar=folder, help=h("outbox"))

    c = command("check", "check")
    common(c)
    c.add_argument("files", nargs="+", type=Path, metavar=m("CLASSEUR", "WORKBOOK"), help=h("files"))
    c.add_argument("--period", type=_period, metavar=period, help=h("check_period"))
    c.add_argument("--annotate", type=Path, metavar=folder, help=h("annotate"))

    t = command("template", "template")
    t.add_argument("file", type=Path, metavar=m("CLASSEUR", "WORKBOOK"), help=h("template_file"))
    t.add_argument("--lang", choices=("fr", "en"), default="fr", help=h("template_lang"))

    e = command("explain", "explain")
    e.add_argument("--lang", choices=("fr", "en"), help=h("explain_lang"))
    common(e)
    e.add_argument("contract", metavar=m("CONTRAT", "CONTRACT"), help=h("contract"))
    e.add_argument("--period", type=_period, metavar=period, help=h("explain_period"))
    e.add_argument("--month", type=_period, metavar=period, help=h("month"))

    common(command("history", "history"))

    s = command("send", "send_cmd")
    common(s)
    s.add_argument("period", type=_period, metavar=period, help=h("send_period"))
    s.add_argument("--outbox", type=Path, metavar=folder, help=h("outbox"))

    st = command("store", "store_cmd")
    st_sub = st.add_subparsers(dest="store_command", required=True, parser_class=_Parser, title=h("store_commands"))
    cp = command("copy", "copy", st_sub)
    cp.add_argument("source", type=store_location, metavar=m("DE", "FROM"), help=h("source"))
    cp.add_argument("target", type=store_location, metavar=m("VERS", "TO"), help=h("target"))
    return p


def settings_from(args) -> Settings:
    s = load(getattr(args, "config", None))
    s = override(s, store=getattr(args, "store", None), inbox=getattr(args, "inbox", None),
                 outbox=getattr(args, "outbox", None), min_age=getattr(args, "min_age", None))
    # the terminal speaks the configured language unless --lang says otherwise
    args.term = terminal.language(getattr(args, "lang", None) or s.language)
    for h in logging.getLogger("perfsettle").handlers:
        if isinstance(h.formatter, _OneLine):
            h.formatter.lang = args.term
    return s


def main(argv: list[str] | None = None) -> int:
    args = parser(_early_language(argv)).parse_args(argv)
    args.term = _early_language(argv) if args.command != "template" else terminal.language(args.lang)
    level = logging.DEBUG if getattr(args, "verbose", 0) > 1 else logging.INFO if getattr(args, "verbose", 0) else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    formatter = _OneLine("%(message)s", args.term)
    handler.setFormatter(formatter)
    root = logging.getLogger("perfsettle")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    lang = args.term
    try:
        return {"run": cmd_run, "check": cmd_check, "template": cmd_template, "explain": cmd_explain,
                "history": cmd_history, "send": cmd_send, "finalize": cmd_finalize,
                "documents": cmd_documents, "store": cmd_store}[args.command](args)
    except Usage as exc:
        print(f"perfsettle: {exc.text(args.term)}", file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, StoreError) as exc:
        print(f"perfsettle: {terminal.translate(str(exc), args.term)}", file=sys.stderr)
        return EXIT_USAGE
    except StoreLost as exc:
        print(f"perfsettle: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print(f"perfsettle: {terminal.say('interrupted', lang)}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:   # a bug: say so briefly, keep the traceback in a log file
        where = _crash_log(exc)
        print("perfsettle: " + terminal.say("internal", args.term, kind=type(exc).__name__, error=exc, where=where),
              file=sys.stderr)
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
    finalized = None
    try:
        with run_lock(s.store):   # one run at a time: a lock file (SQLite), an advisory lock (PostgreSQL)
            result = run(s, args.period, dry_run=args.dry_run, send=args.send)
            if (getattr(args, "finalize", False) or s.finalize == "auto") and not args.dry_run \
                    and result.report is not None and result.exit_code in (EXIT_OK, EXIT_FINDINGS):
                from perfsettle.invoices import finalize
                finalized = finalize(s, result.report.period)
    except Locked as exc:
        print("perfsettle: " + terminal.translate(f"{exc}; nothing done", args.term), file=sys.stderr)
        return EXIT_LOCKED
    lang = args.term
    if result.report is None:
        print(f"perfsettle: {terminal.translate(result.message, lang)}")
        return result.exit_code
    report = result.report
    if result.unchanged:   # a rerun that changed nothing: one line
        print(terminal.translate(result.message, lang))
        _print_timings(args, result)
        if finalized is not None:
            _print_finalized(finalized, lang)
            return max(result.exit_code, finalized.exit_code)
        return result.exit_code
    for f in report.files:
        print(terminal.say("file_line", lang, name=f.name, outcome=terminal.word(terminal.OUTCOMES, f.outcome, lang),
                           errors=terminal.count(f.errors, "error", lang),
                           warnings=terminal.count(f.warnings, "warning", lang)), file=sys.stderr)
        if args.verbose:
            for d in f.diagnostics:
                print("  " + terminal.finding_line(d, lang), file=sys.stderr)
    settled = sum(r.status == "settled" for r in report.results)
    excluded = sum(r.status == "excluded" for r in report.results)
    money = " ; ".join(terminal.amount(v["invoice_now"], ccy, lang)
                       for ccy, v in result.totals.items()) or terminal.say("nothing", lang)
    tag = terminal.say("dry_tag", lang) if report.dry_run else ""
    print(terminal.say("close_line", lang, period=report.period, tag=tag,
                       settled=terminal.count(settled, "settled", lang),
                       excluded=terminal.count(excluded, "excluded", lang), money=money))
    print(terminal.say("outputs", lang, path=result.outdir))
    for line in result.sent:
        print(line)
    if result.message:
        print(f"perfsettle: {terminal.translate(result.message, lang)}", file=sys.stderr)
    if finalized is not None:
        _print_finalized(finalized, lang)
        result.exit_code = max(result.exit_code, finalized.exit_code)
    _print_timings(args, result)
    return result.exit_code


def _print_timings(args, result) -> None:
    """``--timings``: the phases' wall seconds and peak memory, as one JSON line on stderr."""
    if args.timings:
        import json
        print("timings " + json.dumps({"seconds": {k: round(v, 3) for k, v in result.timings.items()},
                                       "peak_rss_mib": result.memory}), file=sys.stderr)


def _print_finalized(result, lang: str) -> None:
    """What a finalise issued (or refused), in the user's language."""
    for f in result.findings:
        print("perfsettle: " + (f.message_fr if lang == "fr" and f.message_fr else f.message), file=sys.stderr)
    invoices = [d.number for d in result.documents if d.kind == "invoice"]
    credits = [d.number for d in result.documents if d.kind == "credit_note"]
    head = ("finalisation" if lang == "fr" else "finalize") + f" {result.period}" + (" : " if lang == "fr" else ": ")
    from perfsettle.core.invoicing import refusals
    n_refused = len(refusals(result.findings))
    refused = (" ; " if lang == "fr" else "; ") + terminal.count(n_refused, "refused", lang) if n_refused else ""
    if not result.documents:
        print(head + ("rien à documenter" if lang == "fr" else "nothing to document") + refused)
        return

    def span(numbers):
        return "" if not numbers else f" ({numbers[0]}" + (f"..{numbers[-1]})" if len(numbers) > 1 else ")")
    issued = "émis" if lang == "fr" else "issued"
    print(head + terminal.count(len(invoices), "invoice", lang) + span(invoices) + ", "
          + terminal.count(len(credits), "credit_note", lang) + span(credits) + f" {issued}" + refused)
    print(("documents : " if lang == "fr" else "documents: ") + str(result.outdir))


def _locked(s: Settings, fn, lang: str):
    """Run fn() holding the run lock (the same as ``run``); None when another run holds it."""
    try:
        with run_lock(s.store):
            return fn()
    except Locked as exc:
        print("perfsettle: " + terminal.translate(f"{exc}; nothing done", lang), file=sys.stderr)
        return None


def cmd_finalize(args) -> int:
    from perfsettle.invoices import finalize
    s = settings_from(args)
    if not exists(s.store):
        raise Usage("explain_no_store", path=describe(s.store))
    result = _locked(s, lambda: finalize(s, args.period, args.date), args.term)
    if result is None:
        return EXIT_LOCKED
    _print_finalized(result, args.term)
    return result.exit_code


def cmd_documents(args) -> int:
    from perfsettle.invoices import register_lines
    from perfsettle.store import Store
    s = settings_from(args)
    if not exists(s.store):
        print("no store yet: no document issued")
        return EXIT_OK
    with Store(s.store) as store, store.snapshot():
        lines = register_lines(store, args.period)
    for line in lines:
        print(line)
    if not lines:
        print("no document issued" + (f" for {args.period}" if args.period else ""))
    return EXIT_OK


def cmd_check(args) -> int:
    from perfsettle.pipeline import parse
    from perfsettle.store import Store
    from perfsettle.inputs.validation import check_run
    s = settings_from(args)
    stored_contracts, stored_kpis, stored_amendments, stored_events = {}, {}, {}, {}
    if exists(s.store):
        with Store(s.store) as store, store.snapshot():
            stored_contracts, stored_kpis = store.contracts(), store.kpis()
            stored_amendments, stored_events = store.amendments(), store.events()
    parsed, paths = [], {}
    for n, path in enumerate(args.files, 1):
        if not path.is_file():
            raise Usage("no_file", path=path)
        raw, problems = read_workbook(path, s, last=n == len(args.files))
        wb = parse(path.name, raw)
        wb.diagnostics[:0] = problems
        parsed.append(wb)
        paths[path.name] = path
    intake = check_run(parsed, stored_contracts, stored_kpis, args.period, stored_amendments=stored_amendments,
                       stored_events=stored_events)
    errors = 0
    for wb in parsed:
        for d in wb.diagnostics:
            print(terminal.finding_line(d, args.term))
            errors += d.is_error
        if args.annotate:
            from perfsettle.outputs import annotate
            args.annotate.mkdir(parents=True, exist_ok=True)
            annotate.write_annotated(paths[wb.name], args.annotate / (Path(wb.name).stem + ".annotated.xlsx"),
                                     wb.diagnostics, [], s.language)
    n = len(intake.diagnostics)
    lang = args.term
    print(terminal.say("checked", lang, files=terminal.count(len(parsed), "file", lang),
                       errors=terminal.count(errors, "error", lang),
                       warnings=terminal.count(n - errors, "warning", lang)), file=sys.stderr)
    return EXIT_FINDINGS if errors else EXIT_OK


def cmd_template(args) -> int:
    from perfsettle.outputs.template import write_template
    path = write_template(args.file, args.lang)
    print(terminal.say("template_written", args.term, path=path))
    return EXIT_OK


def cmd_explain(args) -> int:
    from perfsettle.outputs.explain import explain
    from perfsettle.core.settle import settle
    from perfsettle.store import Store
    s = settings_from(args)
    if not exists(s.store):
        raise Usage("explain_no_store", path=describe(s.store))
    with Store(s.store) as store, store.snapshot():
        contracts, kpis = store.contracts(), store.kpis()
        if args.contract not in contracts:
            raise Usage("explain_no_contract", cid=args.contract)
        period = args.period or store.latest_closed_period()
        if period is None:
            raise Usage("explain_no_close")
        from perfsettle.core.model import Terms
        terms = Terms(contracts[args.contract], tuple(sorted(kpis.get(args.contract, {}).values(), key=lambda k: k.kpi_id)),
                      tuple(sorted((a for a in store.amendments().values() if a.contract_id == args.contract),
                                   key=lambda a: a.key)),
                      tuple(e for e in store.events().values() if e.contract_id == args.contract))
        ledger = store.closed()
        openings = {month: a for (cid, month), a in store.opening().items() if cid == args.contract}
        for k, a in store.opening().items():
            ledger[k] = ledger.get(k, 0) + a
        # What the ledger held before the close of this period: remove that close's own lines.
        for (cid, month), amount in store.closed(since=period).items():
            ledger[(cid, month)] -= amount
        readings = [r for r in store.readings() if r.contract_id == args.contract]
    result = settle([terms], readings, {k: v for k, v in ledger.items() if k[0] == args.contract}, period)[0]
    try:
        text = explain(result, args.month or period, args.lang or terms.contract.language, readings=readings,
                       openings=openings)
    except ValueError as exc:
        print(f"perfsettle: {terminal.translate(str(exc), args.term)}", file=sys.stderr)
        return EXIT_USAGE
    print(text)
    return EXIT_OK


def cmd_history(args) -> int:
    from perfsettle.store import Store
    s = settings_from(args)
    lang = args.term
    if not exists(s.store):
        print(terminal.say("no_store", lang))
        return EXIT_OK
    with Store(s.store) as store, store.snapshot():
        for r in store.runs():
            print(terminal.say("history_run", lang, period=r["period"], run_id=r["run_id"],
                               state=terminal.word(terminal.STATES, r["state"], lang), exit_code=r["exit_code"],
                               started=terminal.local_time(r["started_at"], s.timezone, lang),
                               finished=terminal.local_time(r["finished_at"], s.timezone, lang),
                               totals=_history_totals(r["totals"], lang)))
            for f in r["files"]:
                print(terminal.say("history_file", lang, outcome=terminal.word(terminal.OUTCOMES, f["outcome"], lang),
                                   name=f["name"], errors=terminal.count(f["errors"], "error", lang),
                                   warnings=terminal.count(f["warnings"], "warning", lang)))
    return EXIT_OK


def _history_totals(raw: str | None, lang: str) -> str:
    """A run's stored totals ({currency: {invoice_now: …}}) as amounts to invoice."""
    import json
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return raw or "-"
    if not isinstance(data, dict) or not data:
        return "-" if data == {} else str(raw)
    parts = []
    for ccy, t in sorted(data.items()):
        value = t.get("invoice_now") if isinstance(t, dict) else t
        parts.append(terminal.amount(str(value), ccy, lang))
    return " ; ".join(parts) if lang == "fr" else "; ".join(parts)


def cmd_send(args) -> int:
    s = settings_from(args)
    sent = send_outputs(s, args.period)
    for line in sent.lines(args.term):
        print(line)
    if sent.failures:
        print("perfsettle: " + terminal.say("send_failed", args.term,
                                            messages=terminal.count(sent.failures, "message", args.term)),
              file=sys.stderr)
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
