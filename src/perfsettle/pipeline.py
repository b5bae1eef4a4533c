"""One monthly close, top to bottom: intake → validate → store → close → render → deliver.

``run`` names the steps; each is a function below, in that order. The order makes a run safe
to kill at any instant (SPEC §6):
1. outputs are rendered into ``outbox/.staging/<run_id>/`` first;
2. one store transaction records the accepted data, the ledger lines, the run and its plan
   (where the outputs and each input go); it is opened while the outputs are rendered (this
   process writes the data into it while the workers start rendering) and committed only
   once they are all staged, so nobody sees any of it before;
3. the staged outputs are published into ``outbox/<period>/`` (earlier ones moved to
   ``superseded/<run_id>/``) and the inputs moved, each step a rename;
4. the run is marked done.
A run killed before (2) left nothing but a staging folder, removed by the next run; a run
killed after (2) is completed by the next run from its plan (``recover``).

A rerun of a closed period that changes no amount and no status (``delivery.reruns``) stages
only its run.log and manifest, published into ``outbox/<period>/runs/<run_id>/``; the rest of
the outbox stays as it was and nothing is sent.
"""
from __future__ import annotations

import ctypes
import datetime as dt
import gc
import hashlib
import logging
import multiprocessing
import os
import resource
import shutil
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from perfsettle import __version__
from perfsettle.outputs import exports
from perfsettle.delivery import smtp
from perfsettle.delivery.publish import clean_stale_staging, complete, plan_moves, recover
from perfsettle.delivery.reruns import EarlierClose, changed_contracts, earlier_close, keep_statements

from perfsettle.core import months

from perfsettle.inputs import preflight, validation
from perfsettle.config import ConfigError, Settings
from perfsettle.infra.faults import checkpoint
from perfsettle.infra.files import write_atomic
from perfsettle.inputs.reading import RawWorkbook, fingerprint, looks_incomplete, scan
from perfsettle.core.close import Known, close, ledger_lines
from perfsettle.core.diagnostics import make
from perfsettle.core.model import CloseReport, Diagnostic, FileOutcome, Intake, Source
from perfsettle.infra.procs import die_with_parent, usable_cores
from perfsettle.core.money import format_money
from perfsettle.store import Store
from perfsettle.inputs.amendments import invoiced_months
from perfsettle.inputs.validation import ParsedWorkbook, check_run, file_error, parse_workbook

log = logging.getLogger("perfsettle")

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERNAL = 0, 1, 2, 3, 4


@dataclass
class RunResult:
    exit_code: int
    report: CloseReport | None = None
    outdir: Path | None = None
    message: str = ""
    timings: dict = field(default_factory=dict)
    totals: dict = field(default_factory=dict)   # currency -> formatted sums (exports.totals)
    memory: dict = field(default_factory=dict)   # phase -> peak resident MiB of this process at its end
    unchanged: bool = False                      # a rerun that changed nothing: ``message`` says so
    sent: list = field(default_factory=list)     # with --send: one line per message sent or skipped


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_workbook(path: Path, settings: Settings, last: bool = True) -> tuple[RawWorkbook | None, list[Diagnostic]]:
    """Read one workbook safely: preflight checks, then a parser in a child process with limits;
    while the ``last`` workbook of the intake is read, the validation's libraries are loaded
    (not before: each reader process forked after them would cost more to start)."""
    return preflight.safe_read(path, preflight.Limits.from_mapping(settings.limits),
                               meanwhile=validation.prepare if last else None)


def _say(language: str):
    """``say(english, french)``: the text in the user's language."""
    return lambda en, fr: fr if language == "fr" else en


# --------------------------------------------------------------------------- the run

def run(settings: Settings, period: str | None, *, dry_run: bool = False, today: dt.date | None = None,
        send: bool = False) -> RunResult:
    """The whole close. Exceptions other than ConfigError are bugs (exit 4, logged)."""
    mail = sending(settings) if send else None      # a configuration error, before anything is stored
    ctx = _Run(settings, period or months.previous(today or dt.date.today()), dry_run)
    with _Incidents() as incidents, Store(settings.store) as store:
        if finished := recover(store):
            return completed_interrupted(finished)
        start(ctx, store)
        taken = intake(ctx, store)
        earlier = earlier_close(settings.outbox / ctx.period, ctx.period)   # the close published before, if any
        if standing := close_that_stands(ctx, store, taken, earlier):   # nothing new since it: no need to settle again
            checked, staged = record_standing(ctx, store, standing, taken, incidents)
        else:
            checked = validate(ctx, store, taken)
            report = close_period(ctx, store, checked, taken)
            staged = render_outputs(ctx, store, report, checked, incidents, earlier)
            if dry_run:
                return publish_dry_run(ctx, staged)
        plan = store_run(ctx, store, checked, staged)
        deliver(ctx, store, staged, plan)
    return outcome(ctx, staged, mail)


@dataclass
class _Run:
    """One run's identity and clock, shared by its steps."""
    settings: Settings
    period: str
    dry_run: bool
    run_id: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                        + "-" + uuid.uuid4().hex[:8])
    started: str = field(default_factory=utcnow)
    timings: dict = field(default_factory=dict)   # phase -> seconds
    memory: dict = field(default_factory=dict)    # phase -> the process's peak resident MiB at its end
    clock: float = field(default_factory=time.perf_counter)

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.clock
        self.memory[phase] = _peak_mib()
        self.clock = now

    @property
    def say(self):
        return _say(self.settings.language)


@dataclass
class _Taken:
    """The inbox as this run takes it."""
    parsed: list = field(default_factory=list)       # ParsedWorkbook of each new file
    where: dict = field(default_factory=dict)        # unique name -> (path, sha256)
    skipped: list = field(default_factory=list)      # Diagnostic of each file left for a later run


@dataclass
class _Checked:
    intake: Intake
    files: list                    # FileOutcome of every file taken
    contracts: dict                # stored before this run
    kpis: dict
    exit_code: int


@dataclass
class _Staged:
    folder: Path
    report: CloseReport
    totals: dict
    exit_code: int
    earlier: EarlierClose | None   # a rerun that changed nothing: the close it leaves as it was

    @property
    def record_only(self) -> bool:
        """Nothing changed: only run.log and manifest are staged."""
        return self.earlier is not None


def completed_interrupted(finished: list[tuple[str, int]]) -> RunResult:
    # The interrupted run is now complete, exactly as if it had not been interrupted;
    # files dropped since then wait for the next run.
    run_id, code = finished[-1]
    return RunResult(code, None, None, f"completed the interrupted run {run_id}")


def start(ctx: _Run, store: Store) -> None:
    latest = store.latest_closed_period()
    if latest and ctx.period < latest:
        raise ConfigError(ctx.say(
            f"period {ctx.period} is before the latest closed period {latest}: "
            f"a closed month cannot be reopened; close {latest} or later",
            f"la période {ctx.period} précède la dernière période clôturée {latest} : "
            f"un mois clôturé ne se rouvre pas ; clôturez {latest} ou après"))
    checkpoint("start")
    if os.environ.get("PERFSETTLE_HOLD_LOCK_SECONDS"):   # test hook: keep the lock a while
        time.sleep(float(os.environ["PERFSETTLE_HOLD_LOCK_SECONDS"]))


# --------------------------------------------------------------------------- intake

def intake(ctx: _Run, store: Store) -> _Taken:
    """Each stable new workbook of the inbox, parsed; every file left for later named with why."""
    paths, recent = scan(ctx.settings.inbox, ctx.settings.min_age)
    taken = _Taken()
    for path, age in recent:
        _skip(ctx, taken, make("file-too-recent", Source(file=path.name), age=age, min_age=ctx.settings.min_age))
    progress = _Progress(len(paths))
    for n, path in enumerate(paths, 1):
        progress.step(path.name)
        _take(ctx, taken, path, last=n == len(paths))
    progress.done()
    ctx.lap("read")
    return taken


def _take(ctx: _Run, taken: _Taken, path: Path, last: bool) -> None:
    """Read one workbook. A content taken before is taken again: its rows replace what later
    drops changed since (SPEC §2: the later row wins), and when nothing changed the close says so."""
    checkpoint(f"intake {path.name}")
    before = fingerprint(path)
    if looks_incomplete(path) and time.time() - path.stat().st_mtime < ctx.settings.incomplete_grace:
        return _skip(ctx, taken, make("file-incomplete", Source(file=path.name)))
    name = _unique_name(path.name, taken.where)
    digest = sha256_of(path)
    checkpoint(f"sha256 {path.name}")
    raw, problems = read_workbook(path, ctx.settings, last)
    if fingerprint(path) != before:
        return _skip(ctx, taken, make("file-changed", Source(file=path.name)))
    checkpoint(f"raw {path.name}")
    wb = parse(name, raw)
    del raw   # the cell grid is not needed once parsed
    wb.diagnostics[:0] = [replace(d, source=replace(d.source, file=name)) for d in problems]
    taken.parsed.append(wb)
    taken.where[name] = (path, digest)
    checkpoint(f"read {name}")


def _skip(ctx: _Run, taken: _Taken, d: Diagnostic) -> None:
    """A file left in the inbox for a later run: said on stderr, in run.log, manifest and summary."""
    taken.skipped.append(d)
    log.warning("%s: %s", d.source.file, ctx.say(d.message, d.message_fr), extra={"skipped": True})


def parse(name: str, raw: RawWorkbook | None) -> ParsedWorkbook:
    """Sheets -> rows and findings; a bug met on one file costs that file only."""
    if raw is None:
        return ParsedWorkbook(name)
    try:
        return parse_workbook(name, raw)
    except Exception:
        log.exception("%s: internal error while reading its sheets (details in run.log)", name)
        wb = ParsedWorkbook(name)
        wb.diagnostics.append(file_error(name, "file-internal-error"))
        return wb


# --------------------------------------------------------------------------- validate, close

def validate(ctx: _Run, store: Store, taken: _Taken) -> _Checked:
    """The run's workbooks checked together against the store: what may be stored, and why not."""
    contracts, kpis = store.contracts(), store.kpis()
    checked = check_run(taken.parsed, contracts, kpis, ctx.period, stored_amendments=store.amendments(),
                        stored_events=store.events(), invoiced=invoiced_months(store.closed()))
    files = [FileOutcome(wb.name, taken.where[wb.name][1], checked.outcomes[wb.name],
                         sum(d.is_error for d in wb.diagnostics), sum(not d.is_error for d in wb.diagnostics),
                         tuple(wb.diagnostics), tuple(checked.file_contracts.get(wb.name, ())),
                         str(taken.where[wb.name][0]))
             for wb in taken.parsed]
    for wb in taken.parsed:
        wb.sheets.clear()   # the rows are now in ``checked`` and the findings in ``files``
    taken.parsed.clear()
    findings = any(f.outcome in ("rejected", "partially_accepted") for f in files) or checked.excluded
    checkpoint("validated")
    ctx.lap("validate")
    return _Checked(checked, files, contracts, kpis, EXIT_FINDINGS if findings else EXIT_OK)


def close_period(ctx: _Run, store: Store, checked: _Checked, taken: _Taken) -> CloseReport:
    """The close (pure), with what earlier closes of the period invoiced and the files left for later."""
    readings = {(r.contract_id, r.kpi_id, r.month): r for r in store.readings()}
    known = Known(checked.contracts, checked.kpis, readings, store.opening(), store.closed(),
                  store.amendments(), store.events())
    report = close(known, checked.intake, ctx.period, run_id=ctx.run_id, started=ctx.started,
                   files=checked.files, dry_run=ctx.dry_run)
    earlier: dict[str, dict[str, object]] = {}
    for (cid, month), amount in store.closed(since=ctx.period).items():   # the period is the latest
        earlier.setdefault(cid, {})[month] = amount
    checkpoint("settled")
    ctx.lap("settle")
    numbers = {key: number for key, (_, number, _) in store.opening_invoices().items() if number}
    numbers.update({key: number for key, (number, _) in checked.intake.invoice_refs.items() if number})
    return replace(report, skipped=tuple(taken.skipped), earlier=earlier, documents=issued_documents(store),
                   opening_invoices=numbers)


# --------------------------------------------------------------------------- render

CSVS = (("settlement.csv", exports.settlement_csv), ("kpi_results.csv", exports.kpi_results_csv),
        ("contracts.csv", exports.contracts_csv))


def close_that_stands(ctx: _Run, store: Store, taken: _Taken, earlier: EarlierClose | None) -> EarlierClose | None:
    """The close of the period published in the outbox, when settling again could only give its
    results: this run took no file, that close is the latest the store recorded for the period
    (so the store holds exactly what it settled, and what it invoiced), it had no finding (no
    contract excluded for this run's sake) and this perfsettle made it. None otherwise."""
    if ctx.dry_run or taken.parsed:
        return None
    if earlier is None or earlier.version != __version__ or earlier.exit_code != EXIT_OK:
        return None
    return earlier if store.latest_close(ctx.period) == earlier.run_id else None


def record_standing(ctx: _Run, store: Store, standing: EarlierClose, taken: _Taken,
                    incidents) -> tuple[_Checked, _Staged]:
    """A rerun with nothing new: its record only (run.log, manifest), nothing settled again."""
    checkpoint("nothing new")
    ctx.lap("validate")
    report = CloseReport(ctx.period, ctx.run_id, ctx.started, (), skipped=tuple(taken.skipped))
    checked = _Checked(Intake(), [], {}, {}, EXIT_OK)
    staging = _staging(ctx, store)
    return checked, _stage_record(ctx, staging, report, checked.exit_code, incidents, [], standing,
                                  note=f"nothing new since the close {standing.run_id}: its results stand")


def _staging(ctx: _Run, store: Store) -> Path:
    clean_stale_staging(ctx.settings.outbox, store)
    staging = ctx.settings.outbox / ".staging" / ctx.run_id
    staging.mkdir(parents=True)
    return staging


def render_outputs(ctx: _Run, store: Store, report: CloseReport, checked: _Checked, incidents,
                   earlier: EarlierClose | None) -> _Staged:
    """Every output into the staging folder, or, for a rerun that changes nothing, its record only;
    ``earlier``: the close of the period published before this run."""
    staging = _staging(ctx, store)
    changed = None if earlier is None else changed_contracts(earlier, exports.tables(report), report)
    record_only = changed == set() and not ctx.dry_run
    drafts = () if record_only else draft_documents(store, ctx.settings, report)
    # While the workers render, this process writes the accepted data and the ledger lines into
    # the run's transaction, which store_run commits with the run's record once all is staged.
    meanwhile = None if ctx.dry_run else partial(begin_run, ctx, store, checked, report)
    outputs = [] if record_only else render(report, staging, ctx.settings, ctx, earlier, changed, drafts, meanwhile)
    return _stage_record(ctx, staging, report, checked.exit_code, incidents, outputs, earlier if record_only else None)


def begin_run(ctx: _Run, store: Store, checked: _Checked, report: CloseReport) -> None:
    """Open the run's store transaction with its accepted data and ledger lines (store_run ends it)."""
    started = time.perf_counter()
    store.begin_run(run_id=ctx.run_id, period=ctx.period, now=utcnow(), intake=checked.intake,
                    ledger_lines=ledger_lines(report))
    ctx.timings["store"] = ctx.timings.get("store", 0.0) + time.perf_counter() - started


def _stage_record(ctx: _Run, staging: Path, report: CloseReport, exit_code: int, incidents, outputs: list,
                  earlier: EarlierClose | None, note: str = "") -> _Staged:
    """run.log and manifest.json beside the ``outputs`` staged, all synced; ``earlier``: the close
    a record-only run leaves as it was."""
    totals = exports.totals(report)   # once: the log, the manifest, the store and the CLI show them
    _write(staging / "run.log", run_log(report, exit_code, ctx.timings, incidents.lines, totals, note))
    outputs.append({"name": "run.log", "sha256": sha256_of(staging / "run.log")})
    checkpoint("run.log")
    _write(staging / "manifest.json", exports.manifest_json(
        report, finished_at=utcnow(), outputs=outputs, exit_code=exit_code, timings=ctx.timings,
        memory=ctx.memory, sums=totals))
    _sync_tree(staging)
    checkpoint("staged")
    return _Staged(staging, report, totals, exit_code, earlier)


def issued_documents(store) -> dict:
    """(contract, month) -> the numbers of the documents issued for it, for the statements."""
    out: dict = {}
    for cid, month, number, _kind, _date in store.document_months():
        out.setdefault((cid, month), []).append(number)
    return {k: tuple(v) for k, v in out.items()}


def draft_documents(store, settings: Settings, report: CloseReport, today: dt.date | None = None) -> tuple:
    """The documents finalising would issue once this close is committed (SPEC §8 drafts)."""
    from perfsettle.invoices import draft_plan
    contracts = store.contracts()
    contracts.update({r.contract_id: r.terms.contract for r in report.results if r.terms is not None})
    results = {(m.contract_id, m.month): m for r in report.results for m in r.months}
    plan = draft_plan(store, settings, contracts, ledger_lines(report), report.period, today or dt.date.today(),
                      results)
    return plan.documents


def render(report: CloseReport, outdir: Path, settings: Settings, ctx: _Run,
           earlier: EarlierClose | None = None, changed: set[str] | None = None, drafts=(),
           meanwhile=None) -> list[dict]:
    """Every output file of a close, written into ``outdir``; returns the manifest's list.

    The CSVs, the workbooks and the HTML/e-mail files are independent jobs, shared between
    this process and forked workers (see ``_run_jobs``); each job also hashes what it wrote.
    Then the drafts (SPEC §8), rendered like a finalise's documents by one worker process per
    core (``invoices.render_documents``). ``ctx.timings`` gets, per kind, the seconds its jobs
    took (they overlap), ``documents`` the drafts' seconds, and ``render`` the wall time of all.
    ``meanwhile``: what this process does once the workers have their first jobs, before its own.
    """
    written: list[tuple[Path, str]] = []
    jobs = _render_jobs(report, outdir, settings, earlier, changed)
    if any(job.kind == "statements" for job in jobs):
        from perfsettle.outputs import statements
        statements.prepare()          # once, here, rather than in each forked worker
    for job, outcome in _run_jobs(jobs, meanwhile):
        if isinstance(outcome, BaseException):
            if job.kind != "annotated":
                raise outcome
            # An annotated copy is a courtesy to the sender: never lose the close for it.
            log.error("%s: the annotated copy could not be written (details in run.log)", job.label,
                      exc_info=outcome)
        else:
            hashed, seconds = outcome
            written += hashed
            ctx.timings[job.timing] = ctx.timings.get(job.timing, 0.0) + seconds
        checkpoint(f"{job.kind} {job.label}")
    if drafts:
        from perfsettle.invoices import write_drafts
        started = time.perf_counter()
        written += write_drafts(drafts, outdir / "documents" / "draft", settings,
                                settings.outbox / report.period / "documents" / "draft")
        ctx.timings["documents"] = time.perf_counter() - started
        checkpoint("drafts")
    ctx.lap("render")
    return [{"name": str(p.relative_to(outdir)), "sha256": digest} for p, digest in written]


@dataclass(frozen=True)
class _Job:
    kind: str          # csv | annotated | close workbook | summary | statements | kept statements
    label: str
    timing: str        # csv | workbooks | html
    fn: object
    args: tuple
    kwargs: dict = field(default_factory=dict)


def _render_jobs(report: CloseReport, outdir: Path, settings: Settings,
                 earlier: EarlierClose | None, changed: set[str] | None) -> list[_Job]:
    # openpyxl, Jinja2, Babel and css-inline load only when a close writes its outputs (not for finalize)
    from perfsettle.outputs import annotate, statements
    (outdir / "annotated").mkdir(exist_ok=True)
    jobs = [_Job("csv", name, "csv", _write_csv, (outdir / name, make, report)) for name, make in CSVS]
    for f in report.files:
        if not f.path or _unreadable(f):
            continue
        results = [r for r in map(report.result, f.contracts) if r is not None]
        dest = outdir / "annotated" / (Path(f.name).stem + ".annotated.xlsx")
        jobs.append(_Job("annotated", f.name, "workbooks", annotate.write_annotated,
                         (Path(f.path), dest, f.diagnostics, results, _file_language(results, settings.language))))
    jobs.append(_Job("close workbook", report.period, "workbooks", annotate.write_close_workbook,
                     (report, outdir / f"settlement-{report.period}.xlsx", settings.language)))
    jobs.append(_Job("summary", report.period, "html", statements.write_summary, (report, outdir),
                     dict(sender=settings.sender, finance_recipients=list(settings.finance_recipients),
                          lang=settings.language, timezone=settings.timezone)))
    settled = [r.contract_id for r in report.results if r.status == "settled"]
    # A contract this rerun did not change keeps its earlier statement: same file, same Message-ID.
    kept = [cid for cid in settled if earlier and cid not in changed and earlier.statement_files(cid)]
    if kept:
        jobs.append(_Job("kept statements", f"{len(kept)}", "html", keep_statements, (earlier, kept, outdir)))
    settled = [cid for cid in settled if cid not in set(kept)]
    chunk = max(50, -(-len(settled) // 32))   # small enough for the processes to finish together
    for i in range(0, len(settled), chunk):
        ids = settled[i:i + chunk]
        jobs.append(_Job("statements", f"{ids[0]}..{ids[-1]}", "html", statements.write_statements,
                         (report, outdir, ids), dict(sender=settings.sender, timezone=settings.timezone)))
    return jobs


# --------------------------------------------------------------------------- store, deliver

def publish_dry_run(ctx: _Run, staged: _Staged) -> RunResult:
    outdir = ctx.settings.outbox / "dry-run" / ctx.period
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged.folder, outdir)
    return RunResult(staged.exit_code, staged.report, outdir, timings=ctx.timings, totals=staged.totals,
                     memory=ctx.memory)


def _outdir(ctx: _Run, staged: _Staged) -> Path:
    period_dir = ctx.settings.outbox / ctx.period
    return period_dir / "runs" / ctx.run_id if staged.record_only else period_dir


def store_run(ctx: _Run, store: Store, checked: _Checked, staged: _Staged) -> dict:
    """One transaction: the accepted data, the ledger lines, the run and its plan (returned)."""
    plan = {"outdir": str(_outdir(ctx, staged)), "record_only": staged.record_only,
            "moves": plan_moves(checked.files, ctx.settings.inbox, ctx.period)}
    store.commit_run(run_id=ctx.run_id, period=ctx.period, started_at=ctx.started, now=utcnow(),
                     intake=checked.intake, ledger_lines=ledger_lines(staged.report), files=checked.files,
                     staging=str(staged.folder), plan=plan, totals=staged.totals, exit_code=staged.exit_code)
    checkpoint("committed")
    ctx.lap("store")
    return plan


def deliver(ctx: _Run, store: Store, staged: _Staged, plan: dict) -> None:
    """Publish the outputs, move the inputs, mark the run done."""
    complete(store, ctx.run_id, ctx.period, str(staged.folder), plan)
    ctx.lap("publish")


def outcome(ctx: _Run, staged: _Staged, mail: smtp.SmtpConfig | None) -> RunResult:
    result = RunResult(staged.exit_code, staged.report, _outdir(ctx, staged), timings=ctx.timings,
                       totals=staged.totals, memory=ctx.memory, unchanged=staged.record_only)
    if staged.record_only:
        result.message = ctx.say(
            f"close {ctx.period}: nothing changed since the close {staged.earlier.run_id}; outbox/{ctx.period} "
            f"left as it was, nothing sent (this run's log: {result.outdir})",
            f"clôture {ctx.period} : rien n'a changé depuis la clôture {staged.earlier.run_id} ; "
            f"outbox/{ctx.period} laissé tel quel, rien envoyé (journal de ce run : {result.outdir})")
    elif mail is not None:
        sent = send_outputs(ctx.settings, ctx.period, mail)
        result.sent = sent.lines(ctx.settings.language)
        if sent.failures:
            result.message = ctx.say(f"{sent.failures} message(s) could not be sent; they will be retried by "
                                     "the next send", f"{sent.failures} message(s) non envoyé(s) ; le prochain "
                                     "send les réessaiera")
    return result


# --------------------------------------------------------------------------- sending

def sending(settings: Settings) -> smtp.SmtpConfig:
    """How to send, from the configuration as it is now; a ConfigError (exit 2) when it cannot."""
    say = _say(settings.language)
    if not settings.smtp.host:
        raise ConfigError(say("sending needs an SMTP server: set host under [smtp] in perfsettle.toml",
                              "l'envoi demande un serveur SMTP : indiquez host sous [smtp] dans perfsettle.toml"))
    if not settings.sender:
        raise ConfigError(say('sending needs a sender address: set sender = "close@your-company.example" '
                              'in perfsettle.toml',
                              "l'envoi demande une adresse d'expéditeur : indiquez "
                              'sender = "cloture@votre-societe.example" dans perfsettle.toml'))
    try:
        return smtp.SmtpConfig(host=settings.smtp.host, port=settings.smtp.port, security=settings.smtp.security,
                               user=settings.smtp.user, password_env=settings.smtp.password_env,
                               sender=settings.sender, from_header=settings.sender,
                               timeout=settings.smtp.timeout)
    except ValueError as exc:
        raise ConfigError(say(f"[smtp] in perfsettle.toml: {exc}", f"[smtp] dans perfsettle.toml : {exc}")) from None


@dataclass(frozen=True)
class Sent:
    """What ``send`` did with each message of a close folder."""
    outcomes: tuple

    @property
    def failures(self) -> int:
        return sum(not o.ok for o in self.outcomes)

    def lines(self, language: str) -> list[str]:
        say = _say(language)
        out = []
        for o in self.outcomes:
            to = ", ".join(o.recipients)
            if o.status == "sent":
                out.append(say(f"sent to {to}: {o.subject}", f"envoyé à {to} : {o.subject}"))
            elif o.status == "already_sent":
                out.append(say(f"not sent again (already sent to {to}): {o.subject}",
                               f"non renvoyé (déjà envoyé à {to}) : {o.subject}"))
            elif o.status == "draft":
                out.append(say(f"not sent (a draft with no recipient: no valid contact_email): {Path(o.source).name}",
                               f"non envoyé (brouillon sans destinataire : pas de contact_email valide) : "
                               f"{Path(o.source).name}"))
            else:
                out.append(say(f"NOT SENT to {to or '-'}: {o.subject or Path(o.source).name}: {o.error}",
                               f"NON ENVOYÉ à {to or '-'} : {o.subject or Path(o.source).name} : {o.error}"))
        return out


def send_outputs(settings: Settings, period: str, config: smtp.SmtpConfig | None = None) -> Sent:
    """E-mail the .eml files of ``outbox/<period>/`` not sent yet, drafts excepted."""
    config = config or sending(settings)
    paths = smtp.outbox_messages(settings.outbox / period)
    if not paths:
        return Sent(())
    from perfsettle.invoices import with_documents
    paths = with_documents(paths, settings, period)   # the invoices' PDFs, when attach_documents = true
    with Store(settings.store) as store:
        outcomes = smtp.send_messages(paths, config, store)
    for o in outcomes:
        if not o.ok:
            log.warning("not sent: %s: %s", o.source, o.error)
    return Sent(tuple(outcomes))


_JOBS: list[_Job] = []   # the jobs of the render under way, inherited by forked workers


def _do_job(index: int) -> tuple[list[tuple[Path, str]], float]:
    """Run one job: ([(path written, its sha256)], seconds)."""
    job = _JOBS[index]
    started = time.perf_counter()
    out = job.fn(*job.args, **job.kwargs)
    hashed = [(p, sha256_of(p)) for p in (out if isinstance(out, list) else [out])]
    return hashed, time.perf_counter() - started


def _run_jobs(jobs: list[_Job], meanwhile=None):
    """Yield (job, ([(path, sha256)], seconds) or exception) for each job, in order; call
    ``meanwhile()`` (if given) in this process while the workers start on theirs.

    With several cores, the jobs are shared between this process and forked workers (one
    per other core), which see the jobs without copying them. The HTML/e-mail jobs are queued
    for the workers and this process takes the others (CSVs, workbooks); whichever side runs
    out first takes work from the other: this process hands its next job to an idle worker,
    and once its own are done, runs the workers' jobs that have not started. A worker still
    copies each page of the heap it touches, so above ``PARALLEL_MEMORY_LIMIT`` resident a
    single worker helps this process.
    """
    global _JOBS
    _JOBS = jobs
    try:
        workers = min(len(jobs) - 1, usable_cores() - 1, 3)   # the cores this run may use (taskset, a container)
        if _resident_bytes() > PARALLEL_MEMORY_LIMIT:
            workers = min(workers, 1)
        if workers < 1:
            if meanwhile:
                meanwhile()
            for i, job in enumerate(jobs):
                yield job, _attempt(i)
            return
        gc.freeze()   # objects made so far are never scanned by a collector: fewer copied pages
        own = [i for i, job in enumerate(jobs) if job.timing != "html"]
        queued = [i for i, job in enumerate(jobs) if job.timing == "html"]
        done: dict[int, object] = {}
        following = 0
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {i: pool.submit(_do_job, i) for i in queued}
            if meanwhile:
                try:
                    meanwhile()
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
            while following < len(jobs):
                busy = [f for f in futures.values() if not f.done()]
                if own:
                    i = own.pop(0)
                    if len(busy) < workers:
                        futures[i] = pool.submit(_do_job, i)     # a worker is idle: hand it this job
                    else:
                        done[i] = _attempt(i)
                else:
                    stolen = next((i for i in reversed(queued) if i in futures and futures[i].cancel()), None)
                    if stolen is not None:
                        del futures[stolen]
                        done[stolen] = _attempt(stolen)            # a queued job no worker has started
                    elif following not in done:
                        wait([f for f in futures.values() if not f.done()] or futures.values(),
                             return_when=FIRST_COMPLETED)
                for i in [i for i, f in futures.items() if f.done()]:
                    future = futures.pop(i)
                    done[i] = future.exception() or future.result()
                while following in done:
                    yield jobs[following], done.pop(following)
                    following += 1
    finally:
        gc.unfreeze()
        _JOBS = []


def _attempt(index: int):
    try:
        return _do_job(index)
    except Exception as exc:
        return exc


PARALLEL_MEMORY_LIMIT = 1 << 30   # above this resident size, a single worker helps this process


def _peak_mib() -> int:
    """The largest resident size of this process so far, in MiB (children not included).

    Linux's VmHWM, which starts afresh at exec; ru_maxrss would carry the peak of whatever
    process started this one. ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Incidents(logging.Handler):
    """Keeps the run's warnings and errors, tracebacks included, for its run.log."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "skipped", False):   # files left for later have their own lines
            self.lines.append(self.format(record))

    def __enter__(self):
        logging.getLogger("perfsettle").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("perfsettle").removeHandler(self)


def run_log(report: CloseReport, exit_code: int, timings: dict, incidents: list[str], totals: dict,
            note: str = "") -> str:
    """The run's log, kept with its outputs: every input, every finding, the totals."""
    lines = [f"perfsettle close {report.period}  run {report.run_id}  started {report.started_at}"
             + ("  (dry run)" if report.dry_run else "")] + ([note] if note else [])
    for f in report.files:
        lines.append(f"input {f.name}  sha256 {f.sha256}  {f.outcome}  {f.errors} errors, {f.warnings} warnings")
        lines += ["  " + d.line() for d in f.diagnostics]
    lines += [f"skipped {d.source.file}  [{d.code}] {d.message}" for d in report.skipped]
    for r in report.results:
        lines.append(f"contract {r.contract_id}  {r.status}  exit {r.exit.status or '-'}  "
                     f"invoice now {format_money(r.invoice_now, r.currency)} {r.currency}")
    for ccy, t in totals.items():
        lines.append(f"total {ccy}: " + ", ".join(f"{k} {v}" for k, v in t.items()))
    lines.append("timings: " + ", ".join(f"{k} {v:.3f}s" for k, v in timings.items()))
    lines += ["incident: " + line for line in incidents]
    lines.append(f"exit code {exit_code}")
    return "\n".join(lines) + "\n"


class _Progress:
    """A one-line progress display on stderr, only when stderr is a terminal."""

    def __init__(self, total: int):
        import sys
        self.stream = sys.stderr
        self.on = total > 1 and self.stream.isatty()
        self.total, self.i = total, 0

    def step(self, name: str) -> None:
        self.i += 1
        if self.on:
            self.stream.write(f"\r\x1b[Kreading {self.i}/{self.total}: {name[:60]}")
            self.stream.flush()

    def done(self) -> None:
        if self.on:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _unreadable(f: FileOutcome) -> bool:
    """A workbook rejected before any of its sheets could be read has nothing to annotate."""
    return any(d.is_error and d.contract_id is None and not d.source.sheet for d in f.diagnostics)


def _file_language(results, default: str) -> str:
    langs = {r.terms.contract.language for r in results if r.terms is not None}
    return langs.pop() if len(langs) == 1 else default


def _write_csv(path: Path, make, report: CloseReport) -> Path:
    """A CSV made and written by its render job (so the jobs make them side by side)."""
    return _write(path, make(report))


def _write(path: Path, text: str) -> Path:
    return write_atomic(path, text)


def _sync_tree(root: Path) -> None:
    """Make every staged output durable before the commit that refers to them: one flush of
    the filesystem that holds them (thousands of statements would cost one fsync each)."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            checkpoint(f"staged {path.relative_to(root)}")
    fd = os.open(root, os.O_RDONLY)
    try:
        _syncfs(fd)
    finally:
        os.close(fd)


def _syncfs(fd: int) -> None:
    """syncfs(2) on Linux: write back everything of the filesystem holding ``fd``; elsewhere
    (or if it fails), sync(2) for every filesystem."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
    except (OSError, AttributeError):
        pass
    os.sync()


def _unique_name(name: str, taken) -> str:
    if name not in taken:
        return name
    stem, suffix = os.path.splitext(name)
    i = 2
    while f"{stem} ({i}){suffix}" in taken:
        i += 1
    return f"{stem} ({i}){suffix}"
