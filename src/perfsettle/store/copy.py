"""``store copy FROM TO``: a whole store into an empty one (SQLite ⇄ PostgreSQL), then checked.

Every table is copied row for row, in the order its rows were written (rowid), from one
consistent state of the source (a snapshot: a run committing meanwhile is copied entirely or
not at all), into the target in one transaction. The copy is then checked table by table: the
same row count and the same digest (sha256 of the rows as canonical text, in order), which
both engines compute alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from perfsettle.store import Store, StoreError, describe, exists


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    digest: str
    same: bool


def copy_store(source, target) -> list[TableCopy]:
    if describe(source) == describe(target):
        raise StoreError("store copy: the source and the target are the same store")
    if not exists(source):
        raise StoreError(f"store copy: no store at {describe(source)}")
    with Store(source) as src, Store(target) as dst:
        if src.schema_version() != dst.schema_version():
            raise StoreError(f"store copy: {describe(source)} has schema version {src.schema_version()}, "
                             f"{describe(target)} {dst.schema_version()}")
        tables = src.table_names()
        if tables != dst.table_names():
            raise StoreError(f"store copy: the tables differ: {describe(source)} has {', '.join(tables)}; "
                             f"{describe(target)} has {', '.join(dst.table_names())}")
        if not dst.is_empty():
            raise StoreError(f"store copy: the target {describe(target)} is not empty; nothing copied "
                             "(copy into a new database or a new file)")
        columns = {}
        for t in tables:
            columns[t] = src.columns(t)
            if sorted(columns[t]) != sorted(dst.columns(t)):
                raise StoreError(f"store copy: the columns of {t} differ between the two stores")
        with src.snapshot():
            with dst.write():
                for t in tables:
                    dst.load_rows(t, columns[t], src.table_rows(t, columns[t], with_rowid=True).fetchall())
            out = []
            for t in tables:
                n, digest = src.digest(t, columns[t])
                m, other = dst.digest(t, columns[t])
                out.append(TableCopy(t, n, digest, (n, digest) == (m, other)))
    return out
