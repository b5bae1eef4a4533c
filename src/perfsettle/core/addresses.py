"""E-mail addresses as users write them: one parser for validation, configuration and sending."""
from __future__ import annotations

import email.utils
import re

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})+"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_DOMAIN}")
_NAMED = re.compile(r"([^<>\"\r\n,;@]*)<([^<>\s]+)>")
DOMAIN_RE = re.compile(_DOMAIN)
_SPLIT = re.compile(r"[,;]")


def clean_address(text: str) -> str:
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
            address = clean_address(item)
        except ValueError:
            invalid.append(item.strip())
            continue
        if address not in valid:
            valid.append(address)
    return valid, invalid


def bare_address(address: str) -> str:
    """The addr-spec of 'Name <a@b>' (what SMTP's MAIL FROM / RCPT TO take)."""
    return email.utils.parseaddr(address)[1]
