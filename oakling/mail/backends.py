"""Mail messages and the backends that deliver them (console, SMTP, memory)."""

from __future__ import annotations

import email.message
import email.utils
import importlib
import smtplib
import ssl
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from oakling.concurrency import run_in_threadpool
from oakling.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from oakling.config import Settings

__all__ = [
    "ConsoleBackend",
    "EmailBackend",
    "EmailMessage",
    "MemoryBackend",
    "SMTPBackend",
    "get_backend",
    "outbox",
    "send_mail",
    "send_mail_sync",
]

#: Messages the ``"memory"`` backend "sent", oldest first (Django's ``mail.outbox``).
#: Tests clear it themselves (``outbox.clear()``).
outbox: list[EmailMessage] = []
_outbox_lock = threading.Lock()

_DEFAULT_FROM = "webmaster@localhost"


@dataclass(frozen=True)
class EmailMessage:
    """A plain-text e-mail.

    Attributes:
        subject: One line; a line break in it is refused (header injection).
        body: The text body.
        from_email: The sender address.
        to: The recipient addresses.
    """

    subject: str
    body: str
    from_email: str
    to: tuple[str, ...]

    def to_mime(self) -> email.message.EmailMessage:
        """Return the message as a standard-library MIME message.

        Raises:
            ValueError: If a header (subject or an address) holds a line
                break (CR or LF): it could inject headers.
        """
        for value in (self.subject, self.from_email, *self.to):
            # SECURITY: a CR or LF in a header value would start a new header
            # (Bcc: ...); the stdlib refuses it too, this says which value.
            if "\r" in value or "\n" in value:
                raise ValueError(f"line break in an e-mail header value: {value!r}")
        message = email.message.EmailMessage()
        message["Subject"] = self.subject
        message["From"] = self.from_email
        message["To"] = ", ".join(self.to)
        message["Date"] = email.utils.formatdate(localtime=True)
        message["Message-ID"] = email.utils.make_msgid()
        message.set_content(self.body)
        return message


class EmailBackend(Protocol):
    """What a mail backend implements: built from settings, sends messages."""

    def send(self, messages: Sequence[EmailMessage]) -> int:
        """Deliver ``messages``; return how many were sent."""


class ConsoleBackend:
    """Print each message to stdout (Django's console backend), for development.

    Each message is printed as its headers, a blank line and the body as
    written, decoded (``Content-Transfer-Encoding: 8bit``, UTF-8), then a line
    of dashes. The SMTP backend sends the body quoted-printable, whose ``=``
    soft line breaks cut long links; on the console a reset link must stay
    whole on one line so it can be copied. Django's console backend prints
    the decoded text the same way.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def send(self, messages: Sequence[EmailMessage]) -> int:
        """Write each message, headers and decoded body, to stdout; return the count.

        Raises:
            ValueError: If a header value holds a line break (see
                :meth:`EmailMessage.to_mime`).
        """
        for message in messages:
            sys.stdout.write(_console_text(message))
        sys.stdout.flush()
        return len(messages)


def _console_text(message: EmailMessage) -> str:
    mime = message.to_mime()  # NOTE: validates the headers, makes Date and Message-ID.
    lines = [
        f"{name}: {value}"
        for name, value in mime.items()
        if name.lower() not in ("content-transfer-encoding", "content-type")
    ]
    lines.append('Content-Type: text/plain; charset="utf-8"')
    lines.append("Content-Transfer-Encoding: 8bit")
    body = message.body if message.body.endswith("\n") else message.body + "\n"
    return "\n".join(lines) + "\n\n" + body + "-" * 79 + "\n"


class MemoryBackend:
    """Append messages to :data:`outbox` (Django's locmem backend), for tests."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def send(self, messages: Sequence[EmailMessage]) -> int:
        """Check each message builds, append it to ``outbox``; return the count."""
        for message in messages:
            message.to_mime()
        with _outbox_lock:
            outbox.extend(messages)
        return len(messages)


class SMTPBackend:
    """Send through an SMTP server with :mod:`smtplib` (Django's SMTP backend).

    Settings (Django's names): ``EMAIL_HOST`` (``localhost``), ``EMAIL_PORT``
    (25), ``EMAIL_HOST_USER`` and ``EMAIL_HOST_PASSWORD`` (log in when the
    user is set), ``EMAIL_USE_TLS`` (STARTTLS, RFC 3207), ``EMAIL_USE_SSL``
    (implicit TLS, usually port 465), ``EMAIL_TIMEOUT`` (seconds, 10).
    TLS certificates are verified against the system's CAs.

    Raises:
        ImproperlyConfigured: If both ``EMAIL_USE_TLS`` and ``EMAIL_USE_SSL`` are on.
    """

    def __init__(self, settings: Settings) -> None:
        self.host: str = settings.get("EMAIL_HOST", "localhost")
        self.port: int = settings.get("EMAIL_PORT", 25, cast=int)
        self.username: str = settings.get("EMAIL_HOST_USER", "")
        self.password: str = settings.get("EMAIL_HOST_PASSWORD", "")
        self.use_tls: bool = settings.get("EMAIL_USE_TLS", False, cast=bool)
        self.use_ssl: bool = settings.get("EMAIL_USE_SSL", False, cast=bool)
        self.timeout: float = settings.get("EMAIL_TIMEOUT", 10.0, cast=float)
        if self.use_tls and self.use_ssl:
            raise ImproperlyConfigured(
                "EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL (implicit TLS) are exclusive; "
                "set only one"
            )

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.use_tls:
            connection.starttls(context=ssl.create_default_context())
        return connection

    def send(self, messages: Sequence[EmailMessage]) -> int:
        """Send ``messages`` over one connection; return the count.

        Raises:
            smtplib.SMTPException: When the server refuses (authentication,
                recipients) or the connection fails (``OSError``).
        """
        if not messages:
            return 0
        mimes = [message.to_mime() for message in messages]
        with self._connect() as connection:
            if self.username:
                connection.login(self.username, self.password)
            for mime in mimes:
                connection.send_message(mime)
        return len(messages)


_BACKENDS: dict[str, type[Any]] = {
    "console": ConsoleBackend,
    "smtp": SMTPBackend,
    "memory": MemoryBackend,
}


def get_backend(target: Any) -> EmailBackend:
    """Return the backend the settings of ``target`` (an App or Settings) name.

    ``EMAIL_BACKEND`` is ``"console"``, ``"smtp"``, ``"memory"`` or a
    ``"module:Class"`` path; unset, it is ``"console"`` in debug and
    ``"smtp"`` otherwise.

    Raises:
        ImproperlyConfigured: For an unknown backend name or path.
    """
    settings = _settings_of(target)
    name = settings.get("EMAIL_BACKEND") or ("console" if settings.DEBUG else "smtp")
    cls = _BACKENDS.get(str(name).lower())
    if cls is None:
        module_name, _, attr = str(name).replace(":", ".").rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as ex:
            raise ImproperlyConfigured(
                f"EMAIL_BACKEND {name!r} is not 'console', 'smtp', 'memory' or an "
                f"importable 'module:Class' ({ex})"
            ) from None
    return cls(settings)  # type: ignore[no-any-return]


def _settings_of(target: Any) -> Settings:
    return getattr(target, "settings", target)  # type: ignore[no-any-return]


def _message(
    target: Any, subject: str, body: str, to: str | Sequence[str], from_email: str | None
) -> EmailMessage:
    recipients = (to,) if isinstance(to, str) else tuple(to)
    if not recipients:
        raise ValueError("send_mail needs at least one recipient")
    sender = from_email or _settings_of(target).get("DEFAULT_FROM_EMAIL") or _DEFAULT_FROM
    message = EmailMessage(subject=subject, body=body, from_email=str(sender), to=recipients)
    message.to_mime()  # SECURITY: refuse header injection before any backend runs
    return message


def send_mail_sync(
    target: Any,
    subject: str,
    body: str,
    to: str | Sequence[str],
    from_email: str | None = None,
) -> int:
    """Send one plain-text e-mail now, blocking (for scripts and CLI commands).

    Args:
        target: The App (or its Settings) whose ``EMAIL_*`` settings apply.
        subject: One line.
        body: The text.
        to: One address or several.
        from_email: The sender; default ``DEFAULT_FROM_EMAIL``
            (``webmaster@localhost``, Django's default).

    Returns:
        The number of messages sent (1).

    Raises:
        ValueError: No recipient, or a line break in a header value.
        ImproperlyConfigured: An unknown ``EMAIL_BACKEND``.
        smtplib.SMTPException, OSError: When the SMTP server fails.
    """
    message = _message(target, subject, body, to, from_email)
    return get_backend(target).send([message])


async def send_mail(
    target: Any,
    subject: str,
    body: str,
    to: str | Sequence[str],
    from_email: str | None = None,
) -> int:
    """Send one plain-text e-mail (Django's ``send_mail``), from async code.

    The SMTP backend runs in the thread pool, so the event loop never waits
    on the network; the console and memory backends run inline. Arguments,
    return value and errors are those of :func:`send_mail_sync`.
    """
    message = _message(target, subject, body, to, from_email)
    backend = get_backend(target)
    if isinstance(backend, (ConsoleBackend, MemoryBackend)):
        return backend.send([message])
    return await run_in_threadpool(backend.send, [message])
