"""Shared helpers: run the CLI in-process on a temporary inbox/outbox/store."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from perfsettle.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"                      # the worked closes, copied into the repository
SHARED_EXAMPLES = REPO.parent / "shared" / "examples"   # their source, when the folder is beside the clone


class Workspace:
    """An inbox, an outbox and a store in a temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.inbox = root / "inbox"
        self.outbox = root / "outbox"
        self.store = root / "store.sqlite"
        self.inbox.mkdir(parents=True, exist_ok=True)

    def drop(self, *paths: Path) -> None:
        for p in paths:
            shutil.copy2(p, self.inbox / Path(p).name)

    def run(self, period: str, *extra: str) -> int:
        return main(["run", "--period", period, "--min-age", "0", "--inbox", str(self.inbox), "--outbox",
                     str(self.outbox), "--store", str(self.store), *extra])

    def csv(self, period: str, name: str) -> list[dict]:
        text = (self.outbox / period / name).read_text(encoding="utf-8")
        return list(csv.DictReader(io.StringIO(text)))

    def text(self, period: str, name: str) -> str:
        return (self.outbox / period / name).read_text(encoding="utf-8")


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    monkeypatch.chdir(tmp_path)
    return Workspace(tmp_path)
