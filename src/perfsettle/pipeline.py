"""One monthly close, top to bottom: intake → validate → store → close → render → deliver.

The order makes a run safe to kill at any instant (SPEC §6):
1. outputs are rendered into ``outbox/.staging/<run_id>/`` first;
2. one store transaction records the accepted data, the ledger lines, the run and its plan
   (where the outputs and each input go);
3. the staged outputs are published into ``outbox/<period>/`` (earlier ones moved to
   ``superseded/<run_id>/``) and the inputs moved, each step a rename;
4. the run is marked done.
A run killed before (2) left nothing but a staging folder, removed by the next run; a run
killed after (2) is completed by the next run from its plan (``recover``).
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
from pathlib import Path

from perfsettle.outputs import annotate, exports
from perfsettle.delivery import smtp
from perfsettle.delivery.publish import clean_stale_staging, complete, plan_moves, recover

from perfsettle.core import months

from perfsettle.inputs import preflight
from perfsettle.config import ConfigError, Settings
from perfsettle.infra.faults import checkpoint
from perfsettle.infra.files import write_atomic
from perfsettle.inputs.reading import RawWorkbook, candidates, fingerprint, looks_incomplete
from perfsettle.core.close import Known, close, ledger_lines
from perfsettle.core.model import CloseReport, Diagnostic, FileOutcome
from perfsettle.infra.procs import die_with_parent
from perfsettle.core.money import format_money
from perfsettle.store import Store
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


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- reading

def read_workbook(path: Path, settings: Settings) -> tuple[RawWorkbook | None, list[Diagnostic]]:
    """Read one workbook safely: preflight checks, then a parser in a child process with limits."""
    return preflight.safe_read(path, preflight.Limits.from_mapping(settings.limits))


# --------------------------------------------------------------------------- the run

def run(settings: Settings, period: str | None, *, dry_run: bool = False, today: dt.date | None = None,
        send: bool = False) -> RunResult:
    """The whole close. Exceptions other than ConfigError are bugs (exit 4, logged)."""
    started = utcnow()
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    timings: dict[str, float] = {}
    memory: dict[str, int] = {}   # phase -> the process's peak resident MiB at its end
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[phase] = timings.get(phase, 0.0) + now - clock
        memory[phase] = _peak_mib()
        clock = now

    period = period or months.previous(today or dt.date.today())
    with _Incidents() as incidents, Store(settings.store) as store:
        finished = recover(store)
        if finished:
            # The interrupted run is now complete, exactly as if it had not been interrupted;
            # files dropped since then wait for the next run.
            run_id, code = finished[-1]
            return RunResult(code, None, None, f"completed the interrupted run {run_id}")
        latest = store.latest_closed_period()
        if latest and period < latest:
            raise ConfigError(f"period {period} is before the latest closed period {latest}: "
                              f"a closed month cannot be reopened; close {latest} or later")
        checkpoint("start")
        if os.environ.get("PERFSETTLE_HOLD_LOCK_SECONDS"):   # test hook: keep the lock a while
            time.sleep(float(os.environ["PERFSETTLE_HOLD_LOCK_SECONDS"]))

        # intake
        inputs = candidates(settings.inbox, settings.min_age)
        known = store.known_sha256()
        parsed: list[ParsedWorkbook] = []
        meta: dict[str, tuple[Path, str]] = {}
        duplicates: list[FileOutcome] = []
        progress = _Progress(len(inputs))
        for path in inputs:
            progress.step(path.name)
            checkpoint(f"intake {path.name}")
            before = fingerprint(path)
            if looks_incomplete(path) and time.time() - path.stat().st_mtime < settings.incomplete_grace:
                log.warning("%s: left for a later run (the file looks incomplete: still being copied?)", path.name)
                continue
            name = _unique_name(path.name, meta)
            digest = sha256_of(path)
            checkpoint(f"sha256 {path.name}")
            if digest in known:
                duplicates.append(FileOutcome(name, digest, "duplicate", 0, 0, (), (), str(path)))
                meta[name] = (path, digest)
                continue
            known.add(digest)
            raw, problems = read_workbook(path, settings)
            if fingerprint(path) != before:
                known.discard(digest)
                log.warning("%s: left for a later run (it changed while it was being read)", path.name)
                continue
            checkpoint(f"raw {path.name}")
            wb = parse(name, raw)
            del raw   # the cell grid is not needed once parsed
            wb.diagnostics[:0] = [replace(d, source=replace(d.source, file=name)) for d in problems]
            parsed.append(wb)
            meta[name] = (path, digest)
            checkpoint(f"read {name}")
        progress.done()
        lap("read")

        # validate
        stored_contracts, stored_kpis = store.contracts(), store.kpis()
        intake = check_run(parsed, stored_contracts, stored_kpis, period)
        files = [FileOutcome(wb.name, meta[wb.name][1], intake.outcomes[wb.name],
                             sum(d.is_error for d in wb.diagnostics), sum(not d.is_error for d in wb.diagnostics),
                             tuple(wb.diagnostics), tuple(intake.file_contracts.get(wb.name, ())), str(meta[wb.name][0]))
                 for wb in parsed] + duplicates
        for wb in parsed:
            wb.sheets.clear()   # the rows are now in ``intake`` and the findings in ``files``
        del parsed
        stored_readings = {(r.contract_id, r.kpi_id, r.month): r for r in store.readings()}
        checkpoint("validated")
        lap("validate")

        # close (pure)
        known = Known(stored_contracts, stored_kpis, stored_readings, store.opening(), store.closed())
        report = close(known, intake, period, run_id=run_id, started=started, files=files, dry_run=dry_run)
        checkpoint("settled")
        lap("settle")

        exit_code = EXIT_OK
        if any(f.outcome in ("rejected", "partially_accepted") for f in files) or intake.excluded:
            exit_code = EXIT_FINDINGS

        # render into staging
        staging = settings.outbox / ".staging" / run_id
        clean_stale_staging(settings.outbox, store)
        staging.mkdir(parents=True)
        outputs = render(report, staging, settings, timings, lap)
        totals = exports.totals(report)   # once: the log, the manifest, the store and the CLI show them
        _write(staging / "run.log", run_log(report, exit_code, timings, incidents.lines, totals))
        outputs.append({"name": "run.log", "sha256": sha256_of(staging / "run.log")})
        checkpoint("run.log")
        manifest = exports.manifest_json(report, finished_at=utcnow(), outputs=outputs, exit_code=exit_code,
                                         timings=timings, memory=memory, sums=totals)
        _write(staging / "manifest.json", manifest)
        _sync_tree(staging)
        checkpoint("staged")

        if dry_run:
            outdir = settings.outbox / "dry-run" / period
            if outdir.exists():
                shutil.rmtree(outdir)
            outdir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, outdir)
            return RunResult(exit_code, report, outdir, timings=timings, totals=totals, memory=memory)

        # store: one transaction
        plan = {"outdir": str(settings.outbox / period), "moves": plan_moves(files, settings.inbox, period)}
        store.commit_run(run_id=run_id, period=period, started_at=started, now=utcnow(), intake=intake,
                         ledger_lines=ledger_lines(report), files=files, staging=str(staging), plan=plan,
                         totals=totals, exit_code=exit_code)
        checkpoint("committed")
        lap("store")

        # deliver: publish outputs, move inputs, mark done
        complete(store, run_id, period, str(staging), plan)
        lap("publish")
    outdir = settings.outbox / period
    result = RunResult(exit_code, report, outdir, timings=timings, totals=totals, memory=memory)
    if send:
        failures = send_outputs(settings, period)
        if failures:
            result.message = f"{failures} message(s) could not be sent; they will be retried by the next send"
    return result


def send_outputs(settings: Settings, period: str) -> int:
    """E-mail the .eml files of ``outbox/<period>/`` not sent yet; returns the number of failures."""
    paths = smtp.outbox_messages(settings.outbox / period)
    if not paths:
        return 0
    if not settings.smtp.host:
        raise ConfigError("sending needs an SMTP host: set [smtp] host in perfsettle.toml")
    config = smtp.SmtpConfig(host=settings.smtp.host, port=settings.smtp.port, security=settings.smtp.security,
                             user=settings.smtp.user, password_env=settings.smtp.password_env,
                             sender=settings.sender, timeout=settings.smtp.timeout)
    with Store(settings.store) as store:
        outcomes = smtp.send_messages(paths, config, store)
    failed = [o for o in outcomes if not getattr(o, "ok", False) and not getattr(o, "skipped", False)]
    for o in failed:
        log.warning("not sent: %s", o)
    return len(failed)


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


def render(report: CloseReport, outdir: Path, settings: Settings, timings: dict, lap) -> list[dict]:
    """Every output file of a close, written into ``outdir``; returns the manifest's list.

    The CSVs, the workbooks and the HTML/e-mail files are independent jobs, shared between
    this process and forked workers (see ``_run_jobs``); each job also hashes what it wrote.
    ``timings`` gets, per kind, the seconds its jobs took (they overlap), and ``render`` the
    wall time of them all.
    """
    written: list[tuple[Path, str]] = []
    for job, outcome in _run_jobs(_render_jobs(report, outdir, settings)):
        if isinstance(outcome, BaseException):
            if job.kind != "annotated":
                raise outcome
            # An annotated copy is a courtesy to the sender: never lose the close for it.
            log.error("%s: the annotated copy could not be written (details in run.log)", job.label,
                      exc_info=outcome)
        else:
            hashed, seconds = outcome
            written += hashed
            timings[job.timing] = timings.get(job.timing, 0.0) + seconds
        checkpoint(f"{job.kind} {job.label}")
    lap("render")
    return [{"name": str(p.relative_to(outdir)), "sha256": digest} for p, digest in written]


def _write_csv(path: Path, make, report: CloseReport) -> Path:
    return _write(path, make(report))


@dataclass(frozen=True)
class _Job:
    kind: str          # csv | annotated | close workbook | summary | statements
    label: str
    timing: str        # csv | workbooks | html
    fn: object
    args: tuple
    kwargs: dict = field(default_factory=dict)


def _render_jobs(report: CloseReport, outdir: Path, settings: Settings) -> list[_Job]:
    from perfsettle.outputs import statements   # Jinja2, Babel and css-inline load only when HTML is written
    (outdir / "annotated").mkdir(exist_ok=True)
    jobs = [_Job("csv", name, "csv", _write_csv, (outdir / name, make, report))
            for name, make in (("settlement.csv", exports.settlement_csv),
                               ("kpi_results.csv", exports.kpi_results_csv),
                               ("contracts.csv", exports.contracts_csv))]
    for f in report.files:
        if f.outcome == "duplicate" or not f.path or _unreadable(f):
            continue
        results = [r for r in map(report.result, f.contracts) if r is not None]
        dest = outdir / "annotated" / (Path(f.name).stem + ".annotated.xlsx")
        jobs.append(_Job("annotated", f.name, "workbooks", annotate.write_annotated,
                         (Path(f.path), dest, f.diagnostics, results, _file_language(results, settings.language))))
    jobs.append(_Job("close workbook", report.period, "workbooks", annotate.write_close_workbook,
                     (report, outdir / f"settlement-{report.period}.xlsx", settings.language)))
    jobs.append(_Job("summary", report.period, "html", statements.write_summary, (report, outdir),
                     dict(sender=settings.sender, finance_recipients=list(settings.finance_recipients),
                          lang=settings.language)))
    settled = [r.contract_id for r in report.results if r.status == "settled"]
    chunk = max(50, -(-len(settled) // 32))   # small enough for the processes to finish together
    for i in range(0, len(settled), chunk):
        ids = settled[i:i + chunk]
        jobs.append(_Job("statements", f"{ids[0]}..{ids[-1]}", "html", statements.write_statements,
                         (report, outdir, ids), dict(sender=settings.sender)))
    return jobs


_JOBS: list[_Job] = []   # the jobs of the render under way, inherited by forked workers


def _do_job(index: int) -> tuple[list[tuple[Path, str]], float]:
    """Run one job: ([(path written, its sha256)], seconds)."""
    job = _JOBS[index]
    started = time.perf_counter()
    out = job.fn(*job.args, **job.kwargs)
    hashed = [(p, sha256_of(p)) for p in (out if isinstance(out, list) else [out])]
    return hashed, time.perf_counter() - started


def _run_jobs(jobs: list[_Job]):
    """Yield (job, ([(path, sha256)], seconds) or exception) for each job, in order.

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
        workers = min(len(jobs) - 1, (os.cpu_count() or 1) - 1, 3)
        if _resident_bytes() > PARALLEL_MEMORY_LIMIT:
            workers = min(workers, 1)
        if workers < 1:
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
        self.lines.append(self.format(record))

    def __enter__(self):
        logging.getLogger("perfsettle").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("perfsettle").removeHandler(self)


def run_log(report: CloseReport, exit_code: int, timings: dict, incidents: list[str] = (),
            totals: dict | None = None) -> str:
    """The run's log, kept with its outputs: every input, every finding, the totals."""
    lines = [f"perfsettle close {report.period}  run {report.run_id}  started {report.started_at}"
             + ("  (dry run)" if report.dry_run else "")]
    for f in report.files:
        lines.append(f"input {f.name}  sha256 {f.sha256}  {f.outcome}  {f.errors} errors, {f.warnings} warnings")
        lines += ["  " + d.line() for d in f.diagnostics]
    for r in report.results:
        lines.append(f"contract {r.contract_id}  {r.status}  exit {r.exit.status or '-'}  "
                     f"invoice now {format_money(r.invoice_now, r.currency)} {r.currency}")
    for ccy, t in (totals if totals is not None else exports.totals(report)).items():
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
