"""Shared helpers: run the CLI in-process on a temporary inbox/outbox/store.

The store is SQLite, or, in the modules that set ``BOTH_STORES = True``, each test runs twice:
on SQLite and on a fresh database of the PostgreSQL server named by ``PERFSETTLE_TEST_PG``
(``make test`` starts one for the run: tests/with_postgres.py). Without that server the
PostgreSQL runs are skipped, except under ``CI=true``, where they fail.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from perfsettle.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"                      # the worked closes, copied into the repository
SHARED_EXAMPLES = REPO.parent / "shared" / "examples"   # their source, when the folder is beside the clone


PG_URL = os.environ.get("PERFSETTLE_TEST_PG", "")


def require_postgres() -> str:
    """The test server's URL; skips the test without one (fails under CI=true)."""
    if PG_URL:
        return PG_URL
    reason = "no PostgreSQL test server: PERFSETTLE_TEST_PG is not set (`make test` starts one)"
    if os.environ.get("PERFSETTLE_TEST_PG_ERROR"):
        reason += f"; it could not start: {os.environ['PERFSETTLE_TEST_PG_ERROR']}"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI requires the PostgreSQL store tests: {reason}")
    pytest.skip(reason)


class PgServer:
    """The test server: fresh databases, dropped after the test."""

    def __init__(self, url: str):
        self.url = url
        self.made: list[str] = []

    def admin(self):
        import psycopg
        return psycopg.connect(self.url, autocommit=True)

    def url_of(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    def new_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``'s): its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return self.url_of(name)

    def drop_all(self) -> None:
        with self.admin() as conn:
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()


@pytest.fixture
def pg():
    server = PgServer(require_postgres())
    yield server
    server.drop_all()


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def pytest_generate_tests(metafunc):
    if "store_kind" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        metafunc.parametrize("store_kind", ["sqlite", "postgresql"])


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


def query(store, sql: str, params=()) -> list[tuple]:
    """Rows of a query on a store of either engine (``?`` placeholders)."""
    from perfsettle.store import Store
    with Store(store) as s:
        return [tuple(r) for r in s.db.execute(sql, params).fetchall()]


class Workspace:
    """An inbox, an outbox and a store in a temporary folder (or a PostgreSQL database)."""

    def __init__(self, root: Path, store: Path | str | None = None):
        self.root = root
        self.inbox = root / "inbox"
        self.outbox = root / "outbox"
        self.store = store or root / "store.sqlite"
        self.kind = "sqlite" if isinstance(self.store, Path) else "postgresql"
        self.inbox.mkdir(parents=True, exist_ok=True)

    def query(self, sql: str, params=()) -> list[tuple]:
        return query(self.store, sql, params)

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
def ws(tmp_path, monkeypatch, store_kind, request) -> Workspace:
    monkeypatch.chdir(tmp_path)
    if store_kind == "postgresql":
        return Workspace(tmp_path, request.getfixturevalue("pg").new_database())
    return Workspace(tmp_path)
