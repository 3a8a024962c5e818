"""oakling.mail: console, memory and SMTP backends (SMTP against a real local server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from oakling import App
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured
from oakling.mail import (
    ConsoleBackend,
    MemoryBackend,
    SMTPBackend,
    get_backend,
    outbox,
    send_mail,
    send_mail_sync,
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
