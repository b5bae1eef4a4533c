"""Settings: perfsettle.toml in the working folder (or --config), overridden by CLI flags.

Unknown keys and bad values are errors at start, with the key named (exit code 2).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from perfsettle.core.invoicing import Seller   # [seller]: the issuer of the invoices (SPEC §8)
from perfsettle.store.urls import has_password, is_url, redacted


class ConfigError(ValueError):
    """A usage or configuration error (exit code 2)."""


@dataclass(frozen=True)
class Smtp:
    host: str = ""
    port: int = 587
    security: str = "starttls"       # starttls | ssl | none
    user: str = ""
    password_env: str = "PERFSETTLE_SMTP_PASSWORD"
    timeout: int = 30


@dataclass(frozen=True)
class DocumentSettings:
    invoice_prefix: str = "F"
    credit_prefix: str = "AV"
    attach_documents: bool = False
    render_workers: int = 0          # processes rendering the PDFs; 0: one per core
    eur_rates: dict = field(default_factory=dict)   # currency -> euros for 1 unit (the VAT in euros)


@dataclass(frozen=True)
class AccountSettings:
    receivable: str = "411"
    revenue: str = "706"
    vat: str = "44571"


@dataclass(frozen=True)
class Settings:
    inbox: Path = Path("inbox")
    outbox: Path = Path("outbox")
    store: Path | str = Path("perfsettle.sqlite")   # a SQLite file, or a postgresql:// URL
    min_age: float = 10.0
    incomplete_grace: float = 900.0   # seconds an incomplete-looking workbook is waited for
    language: str = "fr"
    timezone: str = "Europe/Paris"    # IANA zone in which people read times (statements, summary, history)
    sender: str = ""                  # From and Reply-To of every message; required to send
    finance_recipients: tuple[str, ...] = ()
    smtp: Smtp = field(default_factory=Smtp)
    limits: dict = field(default_factory=dict)   # read by preflight.Limits.from_mapping
    finalize: str = "manual"                     # manual | auto (SPEC §8)
    seller: Seller = field(default_factory=Seller)
    documents: DocumentSettings = field(default_factory=DocumentSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)

    @property
    def lock_path(self) -> Path | None:
        """The SQLite store's lock file (a PostgreSQL store locks in the database)."""
        if is_url(self.store):
            return None
        return self.store.with_name(self.store.name + ".lock")


_TOP = {"inbox": Path, "outbox": Path, "store": "store", "min_age": float, "incomplete_grace": float, "language": str, "timezone": str,
        "sender": str,
        "finance_recipients": tuple, "finalize": str}
_SMTP = {"host": str, "port": int, "security": str, "user": str, "password_env": str, "timeout": int}
_SELLER = {k: str for k in Seller.__dataclass_fields__}
_DOCUMENTS = {"invoice_prefix": str, "credit_prefix": str, "attach_documents": bool, "render_workers": int,
              "eur_rates": "rates"}
_ACCOUNTS = {k: str for k in AccountSettings.__dataclass_fields__}
_SECTIONS = {"seller": (_SELLER, Seller), "documents": (_DOCUMENTS, DocumentSettings),
             "accounts": (_ACCOUNTS, AccountSettings)}


def load(path: Path | None, base: Path | None = None) -> Settings:
    """Read a configuration file; with no path, ./perfsettle.toml when it exists."""
    base = base or Path.cwd()
    if path is None:
        default = base / "perfsettle.toml"
        if not default.exists():
            return Settings(inbox=base / "inbox", outbox=base / "outbox", store=base / "perfsettle.sqlite")
        path = default
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    root = Path(path).resolve().parent
    values: dict = {}
    for key, value in data.items():
        if key == "smtp":
            values["smtp"] = _section(value, _SMTP, Smtp, "smtp")
        elif key == "limits":
            if not isinstance(value, dict):
                raise ConfigError("limits must be a table ([limits])")
            from perfsettle.inputs.preflight import Limits
            try:
                Limits.from_mapping(value)
            except ValueError as exc:
                raise ConfigError(f"[limits] in {path}: {exc}") from None
            values["limits"] = dict(value)
        elif key in _SECTIONS:
            values[key] = _section(value, *_SECTIONS[key], key)
        elif key in _TOP:
            values[key] = _coerce(key, value, _TOP[key])
        else:
            raise ConfigError(f"unknown key '{key}' in {path} (known: {', '.join(sorted([*_TOP, 'smtp', 'limits', *_SECTIONS]))})")
    for key in ("inbox", "outbox", "store"):
        p = values.get(key, Settings.__dataclass_fields__[key].default)
        values[key] = p if is_url(p) or p.is_absolute() else root / p
    settings = Settings(**values)
    check(settings)
    return settings


def _section(value, spec, cls, name):
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a table ([{name}])")
    out = {}
    for key, v in value.items():
        if key not in spec:
            raise ConfigError(f"unknown key '{name}.{key}' (known: {', '.join(sorted(spec))})")
        out[key] = _coerce(f"{name}.{key}", v, spec[key])
    return cls(**out)


def store_location(text: str) -> Path | str:
    """A store setting: a ``postgresql://`` URL (kept as text) or the path of a SQLite file."""
    text = text.strip()
    if not text:
        raise ConfigError("store must be a path or a postgresql:// URL")
    return text if is_url(text) else Path(text)


def _coerce(key, value, kind):
    if kind == "rates":
        return _rates(key, value)
    if kind == "store":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key} must be a path or a postgresql:// URL (text)")
        if is_url(value) and has_password(value):
            raise ConfigError(f"{key} = {redacted(value)!r}: a password does not belong in perfsettle.toml; "
                              "give it in PGPASSWORD or ~/.pgpass")
        return store_location(value)
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} must be a path (text)")
        return Path(value)
    if kind is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of e-mail addresses")
        return tuple(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be a whole number")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text")
    return value


def _rates(key, value) -> dict:
    """``{ USD = "0.9213", GBP = 1.1650 }``: euros for one unit of each currency, > 0."""
    if not isinstance(value, dict):
        raise ConfigError(f'{key} must be a table of currencies and rates, such as {{ USD = "0.9213" }}')
    out = {}
    for code, rate in value.items():
        if not re.fullmatch(r"[A-Z]{3}", code) or code == "EUR":
            raise ConfigError(f"{key}: {code!r} is not the ISO 4217 code of a currency other than EUR (USD, GBP…)")
        try:
            number = Decimal(str(rate).strip()) if isinstance(rate, (str, int, float)) and not isinstance(rate, bool) \
                else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or number <= 0:
            raise ConfigError(f"{key}.{code} must be a number of euros for 1 {code}, above 0 (found {rate!r})")
        out[code] = number
    return out


def check(s: Settings) -> None:
    if s.min_age < 0:
        raise ConfigError("min_age must be 0 or more seconds")
    if s.language not in ("fr", "en"):
        raise ConfigError(f"language must be fr or en (found {s.language!r})")
    try:
        import zoneinfo
        zoneinfo.ZoneInfo(s.timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ConfigError(f"timezone must be an IANA time zone such as Europe/Paris (found {s.timezone!r})") from None
    if s.smtp.security not in ("starttls", "ssl", "none"):
        raise ConfigError(f"smtp.security must be starttls, ssl or none (found {s.smtp.security!r})")
    if not 0 < s.smtp.port < 65536:
        raise ConfigError(f"smtp.port must be between 1 and 65535 (found {s.smtp.port})")
    if s.finalize not in ("manual", "auto"):
        raise ConfigError(f"finalize must be manual or auto (found {s.finalize!r})")
    import re
    for key in ("invoice_prefix", "credit_prefix"):
        prefix = getattr(s.documents, key)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,9}", prefix):
            raise ConfigError(f"documents.{key} must be 1–10 letters, digits, '_' or '-', starting with a letter "
                              f"(found {prefix!r})")
    if s.documents.invoice_prefix == s.documents.credit_prefix:
        raise ConfigError("documents.invoice_prefix and documents.credit_prefix must differ (two series)")
    if not 0 <= s.documents.render_workers <= 256:
        raise ConfigError(f"documents.render_workers must be 0 (one per core) to 256 (found {s.documents.render_workers})")
    if s.seller.country and not re.fullmatch(r"[A-Z]{2}", s.seller.country):
        raise ConfigError(f"seller.country must be an ISO 3166 alpha-2 code such as FR (found {s.seller.country!r})")
    from perfsettle.core.addresses import parse_recipients
    for addr in ((s.sender,) if s.sender else ()) + s.finance_recipients:
        good, bad = parse_recipients(addr)
        if bad or len(good) != 1 or "\n" in addr or "\r" in addr:
            raise ConfigError(f"not an e-mail address: {addr!r}")


def override(s: Settings, **flags) -> Settings:
    """CLI flags win over the file; None means 'not given'."""
    given = {k: v for k, v in flags.items() if v is not None and k in {f.name for f in fields(Settings)}}
    out = replace(s, **given)
    check(out)
    return out
