"""Store locations: a path (SQLite) or a ``postgresql://`` URL, and how a URL is shown."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


def is_url(location) -> bool:
    """A PostgreSQL location: ``postgresql://…`` (or ``postgres://…``)."""
    return isinstance(location, str) and "://" in location \
        and location.split("://", 1)[0].lower() in ("postgresql", "postgres")


def has_password(url: str) -> bool:
    parts = urlsplit(url)
    return parts.password is not None or re.search(r"(^|&)password=", parts.query or "") is not None


def redacted(url: str) -> str:
    """The URL without any password, to name the store in a message."""
    parts = urlsplit(url)
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query or "")
    if parts.password is None:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
