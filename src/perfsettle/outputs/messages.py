"""E-mail messages: the statement messages composed as multipart/alternative (plain text + HTML),
with a Message-ID derived from a seed (run id and contract), so that a message written to the
outbox and sent later is recognised by the sent log.
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import email.policy
import email.utils
import hashlib
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Sequence

from perfsettle.infra.files import write_atomic
from perfsettle.core.addresses import DOMAIN_RE as _DOMAIN_RE, clean_address as _clean_address, parse_recipients

__all__ = ["build_message", "compose_message", "is_draft", "message_id", "parse_recipients", "read_message", "write_message"]


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
                  date: _dt.datetime | None = None, draft: bool = False) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) ready to write or send.

    Every address is validated first (ValueError names the culprit); the subject is folded
    onto one line. ``date`` defaults to now; pass the close's time for reproducible files.
    """
    return BytesParser(policy=email.policy.default).parsebytes(compose_message(
        sender=sender, to=to, subject=subject, text=text, html=html,
        message_id_domain=message_id_domain, msgid_seed=msgid_seed, date=date, draft=draft))


def compose_message(*, sender: str, to: Sequence[str], subject: str, text: str, html: str,
                    message_id_domain: str = "perfsettle.local", msgid_seed: str,
                    date: _dt.datetime | None = None, draft: bool = False) -> bytes:
    """The bytes of the message ``build_message`` describes (CRLF line ends), as written to an
    .eml file. Composed directly: thousands of statements cost milliseconds, not seconds.

    Addresses are validated and RFC 2047-encoded by ``_clean_address``; the subject is
    encoded as RFC 2047 words; both bodies are UTF-8 (text quoted-printable, HTML base64).
    ``sender`` becomes From and Reply-To; with no sender (none configured yet) the message has
    neither, and sending sets them (``smtp.SmtpConfig.from_header``). A ``draft`` has no
    recipient and the header ``X-Unsent: 1``: mail clients open it for editing, ``send`` skips it.
    """
    from_addr = _clean_address(sender) if sender else ""
    if isinstance(to, str):
        raise TypeError("to must be a sequence of addresses, not a string")
    recipients = [] if draft else [_clean_address(a) for a in to]
    if not recipients and not draft:
        raise ValueError("a message needs at least one recipient")
    when = date or _dt.datetime.now(_dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    ident = message_id(msgid_seed, message_id_domain)
    boundary = "==perfsettle-" + hashlib.sha256(ident.encode()).hexdigest()[:24]   # never in a QP or base64 body
    head = ([f"From: {from_addr}", f"Reply-To: {from_addr}"] if from_addr else []) \
        + (["To: " + _fold(recipients)] if recipients else ["X-Unsent: 1"]) \
        + ["Subject: " + _subject(_one_line(subject)),
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
    """UTF-8 text as base64 lines of 76 characters ending in CRLF (as ``base64.encodebytes``
    writes them, with CRLF): encoded at once, then the full lines laid out as the rows of a
    byte array with CR and LF as their last two columns (six times faster than cutting a
    statement's 1,000 lines one by one), and the last, shorter line added."""
    import numpy   # already loaded with pandas in a close

    encoded = binascii.b2a_base64(text.encode("utf-8"), newline=False)
    full = len(encoded) - len(encoded) % 76
    lines = numpy.empty((full // 76, 78), numpy.uint8)
    lines[:, :76] = numpy.frombuffer(encoded, numpy.uint8, full).reshape(-1, 76)
    lines[:, 76:] = (13, 10)
    rest = encoded[full:]
    return lines.tobytes() + (rest + b"\r\n" if rest else b"")


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
    data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    return write_atomic(Path(path), data)


def is_draft(msg: EmailMessage) -> bool:
    """A draft (``X-Unsent: 1``): a message with no recipient yet, never sent by perfsettle."""
    return str(msg.get("X-Unsent", "")).strip() == "1"


def read_message(path: Path) -> EmailMessage:
    with open(path, "rb") as f:
        return BytesParser(policy=email.policy.default).parse(f)
