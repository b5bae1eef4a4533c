"""E-mail: addresses, message building, and delivery to a real SMTP server on 127.0.0.1.

The servers are aiosmtpd controllers started by the tests; nothing but 127.0.0.1 is contacted.
"""
from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import socket
from dataclasses import FrozenInstanceError

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from perfsettle.core import addresses
from perfsettle.delivery import smtp
from perfsettle.outputs import messages

LOCAL = "127.0.0.1"


# --------------------------------------------------------------------------- addresses

def test_recipients_are_split_and_checked():
    valid, invalid = addresses.parse_recipients(
        "daf@valmont.example, achats@valmont.example; ; Jeanne Roux <jr@valmont.example>,"
        " pas-une-adresse, daf@valmont.example")
    assert valid == ["daf@valmont.example", "achats@valmont.example", "Jeanne Roux <jr@valmont.example>"]
    assert invalid == ["pas-une-adresse"]


@pytest.mark.parametrize("bad", [
    "x@y.example\r\nBcc: spy@evil.example", "x@y.example\nBcc: spy@evil.example",
    "no-at-sign.example", "x@localhost", "a b@y.example", '"quoted"@y.example', "x@-y.example",
    "é@y.example", "Name <x@y.example> <z@y.example>",
])
def test_invalid_or_injected_addresses_are_refused(bad):
    valid, invalid = addresses.parse_recipients(bad)
    assert not any("spy@evil.example" in v for v in valid)
    assert invalid
    with pytest.raises(ValueError):
        message(to=[bad])


# --------------------------------------------------------------------------- building

def message(**kw) -> email.message.EmailMessage:
    args = dict(sender="Finance <finance@agence.example>", to=["daf@client.example"],
                subject="Relevé de performance octobre 2026 — Client (C-1)",
                text="Total à facturer : 12 345,67 €\n", html="<p>Total à facturer : 12 345,67 €</p>",
                msgid_seed="run-1/C-1", date=dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.timezone.utc))
    args.update(kw)
    return messages.build_message(**args)


def test_message_is_multipart_alternative_with_text_then_html():
    msg = message()
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content() == "Total à facturer : 12 345,67 €\n"
    assert "12 345,67 €" in parsed.get_body(("html",)).get_content()
    assert parsed["Subject"] == "Relevé de performance octobre 2026 — Client (C-1)"
    assert parsed["From"].addresses[0].display_name == "Finance"
    assert parsed["Date"].datetime == dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.timezone.utc)
    assert all(ord(c) < 128 for c in msg.as_string())          # headers and bodies encoded


def test_message_id_is_deterministic_per_seed():
    assert message()["Message-ID"] == message()["Message-ID"]
    assert message()["Message-ID"] != message(msgid_seed="run-2/C-1")["Message-ID"]
    assert message(message_id_domain="finance.example")["Message-ID"].endswith("@finance.example>")
    with pytest.raises(ValueError):
        message(message_id_domain="bad domain>\r\nX: y")


def test_subject_with_line_breaks_is_folded_onto_one_line():
    msg = message(subject="Relevé\r\nBcc: spy@evil.example")
    assert msg["Subject"] == "Relevé Bcc: spy@evil.example"
    assert "Bcc" not in msg.keys()


def test_message_needs_a_recipient_and_a_valid_sender():
    with pytest.raises(ValueError):
        message(to=[])
    with pytest.raises(ValueError):
        message(sender="finance@agence.example\r\nBcc: spy@evil.example")
    with pytest.raises(TypeError):
        message(to="daf@client.example")


def test_written_message_reads_back_identically(tmp_path):
    path = messages.write_message(message(), tmp_path / "C-1.eml")
    back = messages.read_message(path)
    assert back["Message-ID"] == message()["Message-ID"]
    assert back.get_body(("plain",)).get_content() == "Total à facturer : 12 345,67 €\n"
    assert not (tmp_path / "C-1.eml.tmp").exists()


def test_smtp_config_defaults_and_checks():
    config = smtp.SmtpConfig(host="smtp.example")
    assert (config.port, config.security, config.password_env, config.timeout) == (
        587, "starttls", "PERFSETTLE_SMTP_PASSWORD", 30)
    with pytest.raises(FrozenInstanceError):
        config.port = 25
    with pytest.raises(ValueError):
        smtp.SmtpConfig(host="smtp.example", security="tls")
    with pytest.raises(ValueError):
        smtp.SmtpConfig(host="smtp.example\r\n")


# --------------------------------------------------------------------------- sending

class SentLog:
    """In-memory stand-in for the store's record of sent Message-IDs."""

    def __init__(self):
        self.sent: dict[str, tuple[str, str]] = {}

    def was_sent(self, message_id: str) -> bool:
        return message_id in self.sent

    def record_sent(self, message_id: str, recipients: str, subject: str) -> None:
        assert message_id not in self.sent, "recorded twice"
        self.sent[message_id] = (recipients, subject)


class Mailbox:
    """aiosmtpd handler keeping what it accepted; can refuse the first N DATA commands."""

    def __init__(self, refuse_first: int = 0):
        self.refuse_first = refuse_first
        self.attempts = 0
        self.received: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.attempts <= self.refuse_first:
            return "451 4.3.0 Try again later"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.received.append(email.message_from_bytes(envelope.original_content,
                                                      policy=email.policy.default))
        return "250 2.0.0 OK"

    def ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.received]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    controllers = []

    def start(handler, **kw):
        controller = Controller(handler, hostname=LOCAL, port=free_port(), **kw)
        controller.start()
        controllers.append(controller)
        return controller
    yield start
    for c in controllers:
        c.stop()


def local_config(controller, **kw) -> smtp.SmtpConfig:
    return smtp.SmtpConfig(host=LOCAL, port=controller.port, security="none", timeout=10, **kw)


def statements_on_disk(tmp_path, n=2):
    paths = []
    for i in range(1, n + 1):
        msg = message(to=[f"client{i}@client.example", "copy@client.example"],
                      subject=f"Relevé C-{i}", msgid_seed=f"run-1/C-{i}")
        paths.append(messages.write_message(msg, tmp_path / f"C-{i}.eml"))
    return paths


def test_messages_are_delivered_once_and_recorded(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    log = SentLog()
    paths = statements_on_disk(tmp_path)
    outcomes = smtp.send_messages(paths, local_config(server), log)
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert [o.source for o in outcomes] == [str(p) for p in paths]
    assert box.envelopes == [("finance@agence.example", ["client1@client.example", "copy@client.example"]),
                             ("finance@agence.example", ["client2@client.example", "copy@client.example"])]
    assert box.received[0]["Subject"] == "Relevé C-1"
    body = box.received[0].get_body(("plain",)).get_content()
    assert body.replace("\r\n", "\n") == "Total à facturer : 12 345,67 €\n"
    assert log.sent[outcomes[0].message_id] == ("client1@client.example, copy@client.example", "Relevé C-1")

    again = smtp.send_messages(paths, local_config(server), log)
    assert [o.status for o in again] == ["already_sent", "already_sent"]
    assert all(o.ok and o.skipped for o in again)
    assert len(box.received) == 2


def test_a_refused_message_is_retried_by_the_next_send_without_duplicates(tmp_path, smtp_server):
    box = Mailbox(refuse_first=1)
    server = smtp_server(box)
    log = SentLog()
    paths = statements_on_disk(tmp_path)

    first = smtp.send_messages(paths, local_config(server), log)
    assert [o.status for o in first] == ["failed", "sent"]
    assert "451" in first[0].error and "Try again later" in first[0].error
    assert not first[0].ok and not log.was_sent(first[0].message_id)

    second = smtp.send_messages(paths, local_config(server), log)
    assert [o.status for o in second] == ["sent", "already_sent"]
    assert sorted(box.ids()) == sorted({o.message_id for o in first})   # each exactly once
    assert len(box.received) == 2 and box.attempts == 3


def test_an_unreachable_server_fails_every_message_without_raising(tmp_path):
    log = SentLog()
    config = smtp.SmtpConfig(host=LOCAL, port=free_port(), security="none", timeout=5)
    outcomes = smtp.send_messages(statements_on_disk(tmp_path, 3), config, log)
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert all("SMTP session with 127.0.0.1" in o.error and "refused" in o.error.lower()
               for o in outcomes)
    assert log.sent == {}


def test_starttls_is_required_unless_configured_otherwise(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)                    # this server offers no STARTTLS
    config = smtp.SmtpConfig(host=LOCAL, port=server.port, security="starttls", timeout=10)
    outcomes = smtp.send_messages(statements_on_disk(tmp_path, 1), config, SentLog())
    assert outcomes[0].status == "failed" and "STARTTLS" in outcomes[0].error.upper()
    assert box.received == []                    # never falls back to clear text


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"closer" \
        and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)     # let the server answer 535 on failure


def test_login_uses_the_password_from_the_environment(tmp_path, smtp_server, monkeypatch):
    box = Mailbox()
    server = smtp_server(box, authenticator=authenticator, auth_require_tls=False,
                         auth_exclude_mechanism=["LOGIN"])
    config = local_config(server, user="closer", password_env="TEST_SMTP_PASSWORD")
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    paths = statements_on_disk(tmp_path, 1)

    missing = smtp.send_messages(paths, config, SentLog())
    assert missing[0].status == "failed" and "TEST_SMTP_PASSWORD" in missing[0].error

    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    wrong = smtp.send_messages(paths, config, SentLog())
    assert wrong[0].status == "failed" and "535" in wrong[0].error

    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    assert [o.status for o in smtp.send_messages(paths, config, SentLog())] == ["sent"]
    assert len(box.received) == 1


def test_in_memory_messages_and_envelope_sender(smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    log = SentLog()
    outcomes = smtp.send_messages([message()], local_config(server, sender="bounces@agence.example"), log)
    assert outcomes[0].status == "sent" and outcomes[0].source == message()["Message-ID"]
    assert box.envelopes == [("bounces@agence.example", ["daf@client.example"])]


def test_unreadable_or_incomplete_files_are_reported(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    no_id = message()
    del no_id["Message-ID"]
    paths = [tmp_path / "missing.eml", messages.write_message(no_id, tmp_path / "no-id.eml")]
    outcomes = smtp.send_messages(paths, local_config(server), SentLog())
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "No such file" in outcomes[0].error and outcomes[1].error == "no Message-ID"
    assert box.received == []


def test_long_accented_subject_is_encoded_in_short_lines_and_reads_back(tmp_path):
    subject = "Relevé de performance — octobre 2026 — Société Générale d'Études Numériques (C-ÉTI-0001) " * 3
    data = messages.compose_message(sender="Finance <finance@agence.example>", to=["daf@client.example"],
                                subject=subject, text="é\n", html="<p>é</p>", msgid_seed="s")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head
    back = messages.read_message(messages.write_message(data, tmp_path / "m.eml"))
    assert back["Subject"] == " ".join(subject.split())
    assert messages.compose_message(sender="a@b.example", to=["c@d.example"], subject="Plain subject",
                                text="x", html="x", msgid_seed="s").count(b"Subject: Plain subject\r\n") == 1


@pytest.mark.parametrize("length", [0, 1, 56, 57, 58, 113, 114, 115, 171, 4_000, 54_321])
def test_html_part_is_base64_in_lines_of_76_ending_in_crlf(length):
    html = ("<p>Relevé €</p>\n" * (length // 16 + 1))[:length]
    data = messages.compose_message(sender="a@b.example", to=["c@d.example"], subject="s", text="x",
                                    html=html, msgid_seed="s")
    body = data.split(b"Content-Transfer-Encoding: base64\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
    if not html:
        assert body == b""
        return
    assert body == base64.encodebytes(html.encode("utf-8")).replace(b"\n", b"\r\n")
    assert all(len(line) == 76 for line in body.split(b"\r\n")[:-2])
    back = email.message_from_bytes(data, policy=email.policy.default)
    assert back.get_body(("html",)).get_content() == html
