"""oakling.mail: console, memory and SMTP backends (SMTP against a real local server)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oakling import App
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured
from oakling.mail import (
    ConsoleBackend,
    EmailMessage,
    EmailMultiAlternatives,
    MemoryBackend,
    SMTPBackend,
    get_backend,
    outbox,
    send_mail,
    send_mail_sync,
    send_messages,
    send_messages_sync,
)

KEY = "m" * 40


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    outbox.clear()
    yield
    outbox.clear()


def _settings(**extra: Any) -> Settings:
    return Settings(SECRET_KEY=KEY, extra=extra)


def test_default_backend_depends_on_debug() -> None:
    assert isinstance(get_backend(Settings(DEBUG=True)), ConsoleBackend)
    assert isinstance(get_backend(_settings()), SMTPBackend)
    assert isinstance(get_backend(App(settings=_settings(EMAIL_BACKEND="memory"))), MemoryBackend)
    with pytest.raises(ImproperlyConfigured, match="EMAIL_BACKEND"):
        get_backend(_settings(EMAIL_BACKEND="carrier.pigeon:Bird"))
    with pytest.raises(ImproperlyConfigured, match="exclusive"):
        get_backend(_settings(EMAIL_USE_TLS="1", EMAIL_USE_SSL="1"))


def test_console_backend_prints(capsys: pytest.CaptureFixture[str]) -> None:
    sent = send_mail_sync(
        _settings(EMAIL_BACKEND="console"), "Hello", "The body", "ann@example.com"
    )
    assert sent == 1
    printed = capsys.readouterr().out
    assert "Subject: Hello" in printed
    assert "To: ann@example.com" in printed
    assert "From: webmaster@localhost" in printed
    assert "The body" in printed


@pytest.mark.anyio
async def test_memory_backend_and_defaults() -> None:
    settings = _settings(EMAIL_BACKEND="memory", DEFAULT_FROM_EMAIL="tasks@example.com")
    await send_mail(settings, "Hi", "Body", ["a@example.com", "b@example.com"])
    assert len(outbox) == 1
    message = outbox[0]
    assert (message.subject, message.from_email, message.to) == (
        "Hi",
        "tasks@example.com",
        ("a@example.com", "b@example.com"),
    )


@pytest.mark.parametrize(
    ("subject", "to"),
    [
        ("Hi\nBcc: victim@example.com", "a@example.com"),
        ("Hi", "a@example.com\r\nBcc: victim@example.com"),
    ],
)
def test_header_injection_is_refused(subject: str, to: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        send_mail_sync(_settings(EMAIL_BACKEND="memory"), subject, "Body", [to])
    assert outbox == []


def test_no_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="recipient"):
        send_mail_sync(_settings(EMAIL_BACKEND="memory"), "Hi", "Body", [])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Recorder:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Recorder, list[tuple[str, str]]]]:
    # NOTE: aiosmtpd is a dev dependency: a real SMTP server, not a mock.
    import aiosmtpd.controller as controller_module
    import aiosmtpd.smtp as smtp_module

    recorder = _Recorder()
    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login = (data.login.decode(), data.password.decode())
        logins.append(login)
        return smtp_module.AuthResult(success=login == ("mailer", "s3cret"))

    port = _free_port()
    controller = controller_module.Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, recorder, logins
    finally:
        controller.stop()


@pytest.mark.anyio
async def test_smtp_backend_delivers_to_a_real_server(smtp_server: Any) -> None:
    port, recorder, logins = smtp_server
    settings = _settings(
        EMAIL_BACKEND="smtp",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        EMAIL_HOST_USER="mailer",
        EMAIL_HOST_PASSWORD="s3cret",
        DEFAULT_FROM_EMAIL="tasks@example.com",
    )
    assert await send_mail(settings, "Reset", "Your link: https://x/y", ["ann@example.com"]) == 1
    assert logins == [("mailer", "s3cret")]
    (envelope,) = recorder.envelopes
    assert envelope.mail_from == "tasks@example.com"
    assert envelope.rcpt_tos == ["ann@example.com"]
    content = envelope.content.decode()
    assert "Subject: Reset" in content
    assert "Your link: https://x/y" in content


def test_smtp_backend_reports_an_unreachable_server() -> None:
    settings = _settings(
        EMAIL_BACKEND="smtp",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(_free_port()),
        EMAIL_TIMEOUT="2",
    )
    with pytest.raises(OSError):
        send_mail_sync(settings, "Hi", "Body", ["ann@example.com"])


def test_console_prints_a_long_link_whole_and_decoded(capsys: pytest.CaptureFixture[str]) -> None:
    link = "http://localhost:8000/auth/password/reset/" + "Ab3-_" * 40  # 200+ characters
    body = f"Hello Zoë,\n\nOpen this link to choose a new password:\n\n{link}\n"
    send_mail_sync(_settings(EMAIL_BACKEND="console"), "Reset", body, "zoe@example.com")
    printed = capsys.readouterr().out
    assert link in printed.splitlines()  # whole, on a line of its own: no "=" soft breaks
    assert "Zoë" in printed  # utf-8 text, not "Zo=C3=AB"
    assert "quoted-printable" not in printed
    assert "Content-Transfer-Encoding: 8bit" in printed
    headers, _, rest = printed.partition("\n\n")
    assert "Subject: Reset" in headers.splitlines()
    assert rest.startswith("Hello Zoë,")


# -- HTML alternatives and attachments (Django's EmailMultiAlternatives) --------

HTML = "<p>Hello <b>Ann</b></p>"


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def report_message(tmp_path: Path) -> EmailMultiAlternatives:
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    message = EmailMultiAlternatives("Report", "Hello Ann", to=["ann@example.com"])
    message.attach_alternative(HTML, "text/html")
    message.attach("report.csv", "id,title\n1,milk\n", "text/csv")
    message.attach("data.bin", b"\x00\x01\x02")
    message.attach_file(tmp_path / "logo.png")
    return message


@pytest.mark.anyio
async def test_html_and_attachments_arrive_over_smtp(smtp_server: Any, tmp_path: Path) -> None:
    port, recorder, _ = smtp_server
    settings = _settings(
        EMAIL_BACKEND="smtp",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        EMAIL_HOST_USER="mailer",
        EMAIL_HOST_PASSWORD="s3cret",
        DEFAULT_FROM_EMAIL="reports@example.com",
    )
    assert await send_messages(settings, [report_message(tmp_path)]) == 1
    (envelope,) = recorder.envelopes
    assert envelope.mail_from == "reports@example.com"
    received = parse(envelope.original_content)
    assert received.get_content_type() == "multipart/mixed"
    assert received.get_body(("plain",)).get_content().strip() == "Hello Ann"
    assert received.get_body(("html",)).get_content().strip() == HTML
    files = {part.get_filename(): part for part in received.iter_attachments()}
    assert set(files) == {"report.csv", "data.bin", "logo.png"}
    assert files["report.csv"].get_content_type() == "text/csv"
    # NOTE: text parts travel with CRLF line ends (RFC 5322); clients show them as lines.
    assert files["report.csv"].get_content().replace("\r\n", "\n") == "id,title\n1,milk\n"
    assert files["data.bin"].get_content_type() == "application/octet-stream"
    assert files["data.bin"].get_content() == b"\x00\x01\x02"
    assert files["logo.png"].get_content_type() == "image/png"
    assert files["logo.png"].get_content() == b"\x89PNG\r\n\x1a\nfake"


@pytest.mark.anyio
async def test_send_mail_html_message_is_an_alternative() -> None:
    settings = _settings(EMAIL_BACKEND="memory")
    await send_mail(settings, "Hi", "Plain", ["a@example.com"], html_message=HTML)
    (message,) = outbox
    mime = message.to_mime()
    assert mime.get_content_type() == "multipart/alternative"
    assert mime.get_body(("html",)).get_content().strip() == HTML
    assert mime.get_body(("plain",)).get_content().strip() == "Plain"


def test_plain_messages_stay_plain_text() -> None:
    send_mail_sync(_settings(EMAIL_BACKEND="memory"), "Hi", "Plain", "a@example.com")
    assert outbox[0].to_mime().get_content_type() == "text/plain"


def test_console_names_the_other_parts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    send_messages_sync(_settings(EMAIL_BACKEND="console"), [report_message(tmp_path)])
    printed = capsys.readouterr().out
    assert "Hello Ann" in printed
    assert "[alternative text/html, 23 characters]" in printed
    assert "[attachment 'data.bin', application/octet-stream, 3 bytes]" in printed


def test_an_attachment_name_cannot_inject_headers() -> None:
    message = EmailMessage("Hi", "Body", to=["a@example.com"])
    with pytest.raises(ValueError, match="line break"):
        message.attach("x.txt\r\nBcc: victim@example.com", "text")
    assert message.attachments == []


def test_alternatives_must_be_text() -> None:
    message = EmailMultiAlternatives("Hi", "Body", to=["a@example.com"])
    with pytest.raises(ValueError, match="text/"):
        message.attach_alternative("{}", "application/json")


def test_every_message_is_checked_before_any_is_sent() -> None:
    good = EmailMessage("Hi", "Body", to=["a@example.com"])
    bad = EmailMessage("Hi\nBcc: victim@example.com", "Body", to=["b@example.com"])
    with pytest.raises(ValueError, match="line break"):
        send_messages_sync(_settings(EMAIL_BACKEND="memory"), [good, bad])
    assert outbox == []
    with pytest.raises(ValueError, match="recipient"):
        send_messages_sync(_settings(EMAIL_BACKEND="memory"), [EmailMessage("Hi", "Body")])
