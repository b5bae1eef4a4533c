"""Publishing a committed close: staged outputs moved into ``outbox/<period>/`` (earlier ones to
``superseded/<run-id>/``), inputs moved out of the inbox, the run marked done. Every step is one
rename and is recognised when repeated after a crash (``recover``).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from perfsettle.core.model import FileOutcome
from perfsettle.infra.faults import checkpoint


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def plan_moves(files: list[FileOutcome], inbox: Path, period: str) -> list[list[str]]:
    moves, taken = [], set()
    for f in files:
        folder = "rejected" if f.outcome == "rejected" else "processed"
        dest_dir = inbox / folder / period
        src = Path(f.path)
        dest = dest_dir / src.name
        i = 2
        while dest.exists() or str(dest) in taken:
            dest = dest_dir / f"{src.stem} ({i}){src.suffix}"
            i += 1
        taken.add(str(dest))
        moves.append([str(src), str(dest)])
    return moves


def complete(store, run_id: str, period: str, staging: str, plan: dict) -> None:
    """Publish a committed run's outputs and move its inputs; safe to repeat after a crash.

    A run that changed nothing (``plan["record_only"]``) publishes only its run.log and manifest,
    into ``outdir`` = ``outbox/<P>/runs/<run-id>/``, and leaves the rest of the outbox alone."""
    if plan.get("record_only"):
        publish_record(Path(staging), Path(plan["outdir"]))
    else:
        publish(Path(staging), Path(plan["outdir"]), run_id)
    for src, dest in plan["moves"]:
        s, d = Path(src), Path(dest)
        if s.exists() and not d.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            os.replace(s, d)
            checkpoint(f"moved {s.name}")
    store.finish_run(run_id, utcnow())


def _manifest_run(outdir: Path) -> str | None:
    try:
        return json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError):
        return None


def publish_record(staging: Path, target: Path) -> None:
    """The record of a run that changed nothing: one rename, recognised when repeated."""
    if staging.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
        checkpoint("published the run's record")


def publish(staging: Path, outdir: Path, run_id: str) -> None:
    """Move staged outputs into ``outdir``; the outputs they replace go to superseded/<their run>/.

    Each step is one rename, and every step is recognised when repeated after a crash.
    """
    parent = outdir.parent
    current = _manifest_run(outdir) if outdir.exists() else None
    if outdir.exists() and current != run_id:
        old = parent / f".old-{outdir.name}-{current or 'unknown'}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(outdir, old)
        checkpoint("set aside earlier outputs")
    if staging.exists() and not outdir.exists():
        os.replace(staging, outdir)
        checkpoint("published")
    for old in sorted(parent.glob(f".old-{outdir.name}-*")):
        old_run = old.name[len(f".old-{outdir.name}-"):]
        superseded = outdir / "superseded"
        superseded.mkdir(exist_ok=True)
        for kept in ("superseded", "runs"):   # earlier supersessions and records stay at the top
            nested = old / kept
            if nested.exists():
                (outdir / kept).mkdir(exist_ok=True)
                for child in nested.iterdir():
                    if not (outdir / kept / child.name).exists():
                        os.replace(child, outdir / kept / child.name)
                nested.rmdir()
        _keep_issued_documents(old, outdir)
        target = superseded / old_run
        if target.exists():
            shutil.rmtree(target)
        os.replace(old, target)
        checkpoint("superseded")


def _keep_issued_documents(old: Path, outdir: Path) -> None:
    """Issued invoices and credit notes (``documents/``, SPEC §8) stay in ``outbox/<P>/documents/``
    when a rerun of the close supersedes the other outputs; only the drafts are superseded."""
    issued = old / "documents"
    if not issued.is_dir():
        return
    for child in sorted(issued.iterdir()):
        if child.name == "draft":
            continue
        dest = outdir / "documents" / child.name
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(child, dest)
            checkpoint("kept issued documents")


def recover(store) -> list[tuple[str, int]]:
    """Complete the runs a crash interrupted after their commit: [(run_id, exit_code)]."""
    done = []
    for run_id, period, staging, plan, exit_code in store.pending_runs():
        complete(store, run_id, period, staging, json.loads(plan))
        done.append((run_id, exit_code))
    return done


def clean_stale_staging(outbox: Path, store) -> None:
    """Staging folders of runs that never committed are leftovers of a crash: remove them."""
    root = outbox / ".staging"
    if not root.exists():
        return
    pending = {Path(p[2]).name for p in store.pending_runs()}
    for child in root.iterdir():
        if child.name not in pending:
            shutil.rmtree(child, ignore_errors=True)
