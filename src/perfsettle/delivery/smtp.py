"""Delivering messages over SMTP exactly once: ``send_messages`` skips every Message-ID already
recorded in the sent log, reports failures instead of raising, and can simply be run again to
retry what failed.
"""
from __future__ import annotations

import email.policy
import email.utils
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Iterable, Protocol

from perfsettle.core.addresses import bare_address, clean_address as _clean_address
from perfsettle.outputs.messages import is_draft, read_message


def outbox_messages(period_dir: Path) -> list[Path]:
    """The .eml files of one close folder, statements first, in name order."""
    period_dir = Path(period_dir)
    found = sorted((period_dir / "statements").glob("*.eml"))
    summary = period_dir / "summary.eml"
    return found + ([summary] if summary.is_file() else [])


# --------------------------------------------------------------------------- sending

@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: str = "starttls"          # starttls | ssl | none
    user: str = ""
    password_env: str = "PERFSETTLE_SMTP_PASSWORD"
    sender: str = ""                    # envelope sender; default: the message's From
    timeout: float = 30
    from_header: str = ""               # From and Reply-To set on every message when sent

    def __post_init__(self) -> None:
        if self.security not in ("starttls", "ssl", "none"):
            raise ValueError(f"smtp security must be starttls, ssl or none, not {self.security!r}")
        if not self.host or any(c in self.host for c in " \r\n/"):
            raise ValueError(f"not a valid SMTP host: {self.host!r}")


class SentLog(Protocol):
    def was_sent(self, message_id: str) -> bool: ...
    def record_sent(self, message_id: str, recipients: str, subject: str) -> None: ...


@dataclass(frozen=True)
class SendOutcome:
    source: str                 # the .eml path, or the Message-ID for an in-memory message
    message_id: str
    recipients: tuple[str, ...]
    subject: str
    status: str                 # sent | already_sent | draft | failed
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def skipped(self) -> bool:
        return self.status in ("already_sent", "draft")


_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config.security == "ssl":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                              context=context)
    else:
        conn = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        conn.ehlo()
        if config.security == "starttls":
            conn.starttls(context=context)      # no fallback to clear text
            conn.ehlo()
        if config.user:
            if config.security == "none" and config.host not in _LOOPBACK:
                raise smtplib.SMTPException("refusing to send a password without TLS")
            password = os.environ.get(config.password_env)
            if password is None:
                raise smtplib.SMTPException(
                    f"the SMTP password environment variable {config.password_env} is not set")
            conn.login(config.user, password)
    except BaseException:
        _close(conn)
        raise
    return conn


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + "; ".join(
            f"{a} {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
            for a, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        err = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"{exc.smtp_code} {err}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def _load(item: Path | str | EmailMessage) -> tuple[str, EmailMessage]:
    if isinstance(item, EmailMessage):
        return str(item.get("Message-ID", "")), item
    return str(item), read_message(Path(item))


def send_messages(paths_or_messages: Iterable[Path | str | EmailMessage], config: SmtpConfig,
                  sent_log: SentLog) -> list[SendOutcome]:
    """Deliver messages not yet in the sent log, over one SMTP connection; never raises for
    an SMTP or network failure (the outcome says what failed and why)."""
    outcomes: list[SendOutcome] = []
    conn: smtplib.SMTP | None = None
    connect_error = ""
    try:
        for item in paths_or_messages:
            try:
                source, msg = _load(item)
            except OSError as exc:
                outcomes.append(SendOutcome(str(item), "", (), "", "failed", _describe(exc)))
                continue
            mid = str(msg.get("Message-ID", "")).strip()
            subject = str(msg.get("Subject", ""))
            if is_draft(msg):
                outcomes.append(SendOutcome(source, mid, (), subject, "draft"))
                continue
            try:
                if config.from_header:
                    _set_sender(msg, config.from_header)
                to = tuple(_clean_address(a) for a in _header_addresses(msg))
                if not to:
                    raise ValueError("no recipient")
                from_addr = bare_address(config.sender or _clean_address(str(msg.get("From", ""))))
            except ValueError as exc:
                outcomes.append(SendOutcome(source, mid, (), subject, "failed", str(exc)))
                continue
            if not mid:
                outcomes.append(SendOutcome(source, mid, to, subject, "failed", "no Message-ID"))
                continue
            if sent_log.was_sent(mid):
                outcomes.append(SendOutcome(source, mid, to, subject, "already_sent"))
                continue
            if connect_error:
                outcomes.append(SendOutcome(source, mid, to, subject, "failed", connect_error))
                continue
            try:
                if conn is None:
                    conn = _connect(config)
            except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                connect_error = f"SMTP session with {config.host}:{config.port} failed: {_describe(exc)}"
                outcomes.append(SendOutcome(source, mid, to, subject, "failed", connect_error))
                continue
            try:
                refused = conn.send_message(msg, from_addr=from_addr,
                                            to_addrs=[bare_address(a) for a in to])
            except smtplib.SMTPServerDisconnected as exc:
                conn = None
                outcomes.append(SendOutcome(source, mid, to, subject, "failed", _describe(exc)))
                continue
            except (smtplib.SMTPException, OSError) as exc:
                if isinstance(exc, OSError):
                    _close(conn)
                    conn = None
                outcomes.append(SendOutcome(source, mid, to, subject, "failed", _describe(exc)))
                continue
            sent_log.record_sent(mid, ", ".join(to), subject)
            error = ""
            if refused:
                error = "some recipients refused: " + ", ".join(sorted(refused))
            outcomes.append(SendOutcome(source, mid, to, subject, "sent", error))
    finally:
        _close(conn)
    return outcomes


def _set_sender(msg: EmailMessage, sender: str) -> None:
    """The sender configured now, not the one of the close: From and Reply-To."""
    address = _clean_address(sender)
    for name in ("From", "Reply-To"):
        del msg[name]
        msg[name] = address


def _header_addresses(msg: EmailMessage) -> list[str]:
    values = [str(v) for name in ("To", "Cc") for v in (msg.get_all(name) or [])]
    if any("\r" in v or "\n" in v for v in values):
        raise ValueError("a recipient header contains a line break")
    return [email.utils.formataddr(pair) for pair in email.utils.getaddresses(values) if pair[1]]
