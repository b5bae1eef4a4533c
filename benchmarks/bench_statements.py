"""Milliseconds per statement: what the close's html jobs spend on each contract.

    python benchmarks/bench_statements.py M [--seed N] [--statements N] [--reference]

Generates the portfolio (benchmarks/generate.py), settles it as ``perfsettle run --dry-run``
would (read, validate, settle: not timed), then times, in this process, writing every settled
contract's statement (the view, its chart, the HTML, the text, the .eml, the two files) with
``statements.write_statements``, the function the html jobs call. Printed: the time to compile
the statement template (``statements.prepare``), and the wall and CPU milliseconds per
statement. ``--reference`` also times the ordinary way (the template rendered, then css_inline
on each statement) and checks that both write the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as gen  # noqa: E402

from perfsettle import pipeline  # noqa: E402
from perfsettle.config import Settings  # noqa: E402
from perfsettle.outputs import statements  # noqa: E402
from perfsettle.store import Store  # noqa: E402


def settled_report(inputs: Path, work: Path):
    """The close report of the inputs, as a dry run makes it (nothing stored)."""
    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    for f in inputs.glob("*.xlsx"):
        shutil.copy2(f, inbox / f.name)
    settings = Settings(inbox=inbox, outbox=work / "outbox", store=work / "store.sqlite", min_age=0)
    ctx = pipeline._Run(settings, gen.PERIOD, True)
    with Store(settings.store) as store:
        pipeline.start(ctx, store)
        taken = pipeline.intake(ctx, store)
        checked = pipeline.validate(ctx, store, taken)
        return pipeline.close_period(ctx, store, checked, taken)


def timed(report, ids, outdir: Path) -> tuple[float, float, str]:
    """(wall ms, CPU ms) per statement, and a digest of the files written."""
    wall, cpu = time.perf_counter(), time.process_time()
    paths = statements.write_statements(report, outdir, ids, sender="finance@perfsettle.example")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    digest = hashlib.sha256()
    for p in sorted(paths):
        digest.update(p.name.encode() + p.read_bytes())
    return wall * 1000 / len(ids), cpu * 1000 / len(ids), digest.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("size", choices=gen.SIZES)
    ap.add_argument("--seed", type=int, default=gen.DEFAULT_SEED)
    ap.add_argument("--statements", type=int, default=0, help="only the first N settled contracts")
    ap.add_argument("--reference", action="store_true", help="also time css_inline on each statement")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="perfsettle-statements-") as tmp:
        work = Path(tmp)
        gen.generate(args.size, work / "inputs", seed=args.seed)
        report = settled_report(work / "inputs", work / "close")
        ids = [r.contract_id for r in report.results if r.status == "settled"]
        ids = ids[:args.statements] if args.statements else ids
        started = time.perf_counter()
        statements.prepare()
        print(f"statement template compiled in {(time.perf_counter() - started) * 1000:.0f} ms")
        statements.write_statements(report, work / "warm", ids[:5], sender="finance@perfsettle.example")
        wall, cpu, digest = timed(report, ids, work / "out")
        print(f"{len(ids)} statements: {wall:.2f} ms each (CPU {cpu:.2f} ms)")
        if args.reference:
            compiled = statements._render_html
            statements._render_html = statements._render_html_then_inline
            try:
                wall_r, cpu_r, digest_r = timed(report, ids, work / "out-reference")
            finally:
                statements._render_html = compiled
            print(f"css_inline on each statement: {wall_r:.2f} ms each (CPU {cpu_r:.2f} ms); "
                  f"same bytes: {digest == digest_r}")
            if digest != digest_r:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
