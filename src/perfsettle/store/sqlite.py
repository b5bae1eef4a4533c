"""The SQLite store: a file in the working folder, nothing to install (the default).

The reads, writes and migrations are those of ``sql.py``; here: the connection (WAL, full
sync), the schema version in ``PRAGMA user_version``, and the run lock, a POSIX lock on
``<store>.lock``. Decimals are stored as text, exactly.
"""
from __future__ import annotations

import errno
import fcntl
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from perfsettle.store import sql
from perfsettle.store.sql import Locked, SqlStore, StoreError, statements


class Store(SqlStore):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.location = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.DatabaseError) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    # ----------------------------------------------------------------- schema
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > sql.SCHEMA_VERSION:
            self.db.close()
            raise StoreError(f"the store {self.path} has schema version {version}, newer than this perfsettle's "
                             f"({sql.SCHEMA_VERSION}): use a newer perfsettle")
        for v in range(version + 1, sql.SCHEMA_VERSION + 1):
            with self.write():
                for statement in statements(sql.MIGRATIONS[v]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {v}")

    def table_names(self) -> list[str]:
        return [name for (name,) in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.db.execute(f"PRAGMA table_info({table})")]

    def _rowid_alias(self, table: str) -> str | None:
        """The INTEGER PRIMARY KEY column that is the table's rowid, if any."""
        info = self.db.execute(f"PRAGMA table_info({table})").fetchall()
        keys = [row for row in info if row[5]]
        if len(keys) == 1 and keys[0][2].upper() == "INTEGER":
            return keys[0][1]
        return None

    # ----------------------------------------------------------------- transactions
    def _begin_write(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def _begin_read(self) -> None:
        self.db.execute("BEGIN")   # in WAL mode, the first read fixes the snapshot

    # ----------------------------------------------------------------- store copy
    def load_rows(self, table: str, columns: list[str], rows) -> None:
        alias = self._rowid_alias(table)
        if alias:   # the rowid is that column: its own value keeps the order
            cols = columns
            rows = (row[1:] for row in rows)
        else:
            cols = ["rowid", *columns]
        marks = ", ".join("?" * len(cols))
        self.db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)


def exists(path: Path | str) -> bool:
    return Path(path).exists()


@contextmanager
def run_lock(path: Path | str):
    """Hold the run lock of the store at ``path`` for the ``with`` block; ``Locked`` if taken.

    A POSIX record lock on ``<store>.lock``: released when this process dies, and never
    inherited by the worker processes it forks (so a killed run never leaves the lock held)."""
    lock_path = Path(path).with_name(Path(path).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lock:
        try:
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise Locked(f"another run holds the lock {lock_path}") from None
        yield
