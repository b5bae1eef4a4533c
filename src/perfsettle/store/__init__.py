"""The store: terms, readings with every version, opening balances, the ledger, runs and sent messages.

Two engines behind one interface (``sql.SqlStore``): SQLite, a file (the default), and
PostgreSQL, a database named by a ``postgresql://`` URL, for a team. ``Store(location)`` opens
the one its location names; ``run_lock(location)`` holds its run lock; ``exists(location)``
tells whether a store is there yet.
"""
from __future__ import annotations

from pathlib import Path

from perfsettle.store.sql import SCHEMA_VERSION, Locked, SqlStore, StoreError, StoreLost
from perfsettle.store.urls import has_password, is_url, redacted


def Store(location: Path | str) -> SqlStore:   # noqa: N802 (the class it used to be)
    """Open (creating or migrating it when needed) the store at ``location``."""
    if is_url(location):
        from perfsettle.store import postgres
        return postgres.Store(location)
    from perfsettle.store import sqlite
    return sqlite.Store(location)


def run_lock(location: Path | str):
    """A context manager holding the store's run lock (one run at a time); ``Locked`` if held."""
    if is_url(location):
        from perfsettle.store import postgres
        return postgres.run_lock(location)
    from perfsettle.store import sqlite
    return sqlite.run_lock(location)


def exists(location: Path | str) -> bool:
    if is_url(location):
        from perfsettle.store import postgres
        return postgres.exists(location)
    return Path(location).exists()


def describe(location: Path | str) -> str:
    """The location as shown to a person (never a password)."""
    return redacted(location) if is_url(location) else str(location)


__all__ = ["SCHEMA_VERSION", "Locked", "SqlStore", "Store", "StoreError", "StoreLost", "describe", "exists",
           "has_password", "is_url", "run_lock"]
