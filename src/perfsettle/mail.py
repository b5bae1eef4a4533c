"""E-mail: building the statement messages and delivering them over SMTP exactly once.

Messages are multipart/alternative (plain text + HTML) with a Message-ID derived from a seed
(run id and contract), so a message written to the outbox and sent later is recognised by the
sent log: ``send_messages`` skips every Message-ID already recorded, reports failures instead
of raising, and can simply be run again to retry what failed.
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import email.policy
import email.utils
import hashlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Iterable, Protocol, Sequence

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})+"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_DOMAIN}")
_NAMED = re.compile(r"([^<>\"\r\n,;@]*)<([^<>\s]+)>")
_DOMAIN_RE = re.compile(_DOMAIN)
_SPLIT = re.compile(r"[,;]")


def _clean_address(text: str) -> str:
    """One recipient as written by a user ('a@b.example' or 'Name <a@b.example>'), normalised.

    Raises ValueError for anything that is not a plain ASCII address: control characters
    (a header injection attempt), missing domain, quotes, several addresses in one.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"address contains a control character: {text!r}")
    text = text.strip()
    if _ADDR_SPEC.fullmatch(text) and len(text) <= 254:
        return text
    m = _NAMED.fullmatch(text)
    if m and _ADDR_SPEC.fullmatch(m.group(2)) and len(m.group(2)) <= 254:
        name = " ".join(m.group(1).split())
        return email.utils.formataddr((name, m.group(2))) if name else m.group(2)
    raise ValueError(f"not a valid e-mail address: {text!r}")


def parse_recipients(text: str) -> tuple[list[str], list[str]]:
    """Split a comma- or semicolon-separated list into (valid addresses, invalid items)."""
    valid: list[str] = []
    invalid: list[str] = []
    for item in _SPLIT.split(text or ""):
        if not item.strip():
            continue
        try:
            address = _clean_address(item)
        except ValueError:
            invalid.append(item.strip())
            continue
        if address not in valid:
            valid.append(address)
    return valid, invalid


def bare_address(address: str) -> str:
    """The addr-spec of 'Name <a@b>' (what SMTP's MAIL FROM / RCPT TO take)."""
    return email.utils.parseaddr(address)[1]


def message_id(seed: str, domain: str = "perfsettle.local") -> str:
    """Deterministic Message-ID: the same seed always gives the same id."""
    if not _DOMAIN_RE.fullmatch(domain):
        raise ValueError(f"not a valid Message-ID domain: {domain!r}")
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def build_message(*, sender: str, to: Sequence[str], subject: str, text: str, html: str,
                  message_id_domain: str = "perfsettle.local", msgid_seed: str,
                  date: _dt.datetime | None = None) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) ready to write or send.

    Every address is validated first (ValueError names the culprit); the subject is folded
    onto one line. ``date`` defaults to now; pass the close's time for reproducible files.
    """
    return BytesParser(policy=email.policy.default).parsebytes(compose_message(
        sender=sender, to=to, subject=subject, text=text, html=html,
        message_id_domain=message_id_domain, msgid_seed=msgid_seed, date=date))


def compose_message(*, sender: str, to: Sequence[str], subject: str, text: str, html: str,
                    message_id_domain: str = "perfsettle.local", msgid_seed: str,
                    date: _dt.datetime | None = None) -> bytes:
    """The bytes of the message ``build_message`` describes (CRLF line ends), as written to an
    .eml file. Composed directly: thousands of statements cost milliseconds, not seconds.

    Addresses are validated and RFC 2047-encoded by ``_clean_address``; the subject is
    encoded as RFC 2047 words; both bodies are UTF-8 (text quoted-printable, HTML base64).
    """
    from_addr = _clean_address(sender)
    if isinstance(to, str):
        raise TypeError("to must be a sequence of addresses, not a string")
    recipients = [_clean_address(a) for a in to]
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    when = date or _dt.datetime.now(_dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    ident = message_id(msgid_seed, message_id_domain)
    boundary = "==perfsettle-" + hashlib.sha256(ident.encode()).hexdigest()[:24]   # never in a QP or base64 body
    head = [f"From: {from_addr}", "To: " + _fold(recipients), "Subject: " + _subject(_one_line(subject)),
            f"Date: {email.utils.format_datetime(when)}", f"Message-ID: {ident}", "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"']
    parts = []
    # The text part stays readable as quoted-printable; the (inlined, long) HTML part is base64,
    # several times cheaper to encode for thousands of statements.
    for subtype, cte, body in (("plain", "quoted-printable", _qp(text)), ("html", "base64", _b64(html))):
        parts.append(f"--{boundary}\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\n"
                     f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode("ascii") + body)
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + b"\r\n".join(parts) + \
        f"\r\n--{boundary}--\r\n".encode("ascii")


def _subject(text: str) -> str:
    """A subject header value: ASCII as is (folded at spaces), anything else as RFC 2047
    encoded words of at most 39 UTF-8 bytes (lines under 78 characters), never splitting a character."""
    if text.isascii() and len(text) <= 900:
        return text
    words, chunk = [], b""
    for ch in text:
        b = ch.encode("utf-8")
        if len(chunk) + len(b) > 39:
            words.append(chunk)
            chunk = b""
        chunk += b
    words.append(chunk)
    return "\r\n ".join("=?utf-8?b?" + base64.b64encode(w).decode("ascii") + "?=" for w in words)


def _qp(text: str) -> bytes:
    """UTF-8 text as quoted-printable lines ending in CRLF (soft breaks at 76 characters)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    encoded = encoded.replace(b"\n", b"\r\n")
    return encoded if encoded.endswith(b"\r\n") else encoded + b"=\r\n"


def _b64(text: str) -> bytes:
    """UTF-8 text as base64 lines of 76 characters ending in CRLF."""
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def _fold(addresses: list[str]) -> str:
    """Addresses joined by commas, folded onto continuation lines before 78 characters."""
    lines, line = [], ""
    for a in addresses:
        piece = a if not line else ", " + a
        if line and len(line) + len(piece) > 72:
            lines.append(line + ",")
            line = " " + a
        else:
            line += piece
    return "\r\n".join(lines + [line])


def write_message(msg: EmailMessage | bytes, path: Path) -> Path:
    """Write a message (or its composed bytes) as an .eml file, atomically: a temporary file,
    then a rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def read_message(path: Path) -> EmailMessage:
    with open(path, "rb") as f:
        return BytesParser(policy=email.policy.default).parse(f)


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
    status: str                 # sent | already_sent | failed
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def skipped(self) -> bool:
        return self.status == "already_sent"


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
            try:
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


def _header_addresses(msg: EmailMessage) -> list[str]:
    values = [str(v) for name in ("To", "Cc") for v in (msg.get_all(name) or [])]
    if any("\r" in v or "\n" in v for v in values):
        raise ValueError("a recipient header contains a line break")
    return [email.utils.formataddr(pair) for pair in email.utils.getaddresses(values) if pair[1]]
