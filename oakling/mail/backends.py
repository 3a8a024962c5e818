"""Mail messages and the backends that deliver them (console, SMTP, memory)."""

from __future__ import annotations

import dataclasses
import email.message
import email.utils
import importlib
import mimetypes
import os
import smtplib
import ssl
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from oakling.concurrency import run_in_threadpool
from oakling.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from oakling.config import Settings

__all__ = [
    "Attachment",
    "ConsoleBackend",
    "EmailBackend",
    "EmailMessage",
    "EmailMultiAlternatives",
    "MemoryBackend",
    "SMTPBackend",
    "get_backend",
    "outbox",
    "send_mail",
    "send_mail_sync",
    "send_messages",
    "send_messages_sync",
]

#: Messages the ``"memory"`` backend "sent", oldest first (Django's ``mail.outbox``).
#: Tests clear it themselves (``outbox.clear()``).
outbox: list[EmailMessage] = []
_outbox_lock = threading.Lock()

_DEFAULT_FROM = "webmaster@localhost"


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message (Django's ``(filename, content, mimetype)``).

    Attributes:
        filename: The name the recipient sees; a line break is refused.
        content: The bytes, or text (sent as UTF-8) for ``text/*`` types.
        mimetype: ``maintype/subtype``; guessed from ``filename`` when None
            (``application/octet-stream`` when it cannot be guessed).
    """

    filename: str
    content: bytes | str
    mimetype: str

    def add_to(self, message: email.message.EmailMessage) -> None:
        """Add this file to ``message`` as an attachment part."""
        maintype, _, subtype = self.mimetype.partition("/")
        if isinstance(self.content, str):
            if maintype == "text":
                message.add_attachment(self.content, subtype=subtype, filename=self.filename)
                return
            content = self.content.encode("utf-8")
        else:
            content = self.content
        message.add_attachment(content, maintype, subtype, filename=self.filename)


@dataclass(frozen=True)
class EmailMessage:
    """An e-mail: a text body, and optionally alternatives and attachments.

    Django's ``EmailMessage``: ``attach(filename, content, mimetype)`` and
    ``attach_file(path)`` add files; :class:`EmailMultiAlternatives` adds
    ``attach_alternative(html, "text/html")``. Send it with
    :func:`send_messages` (or ``send_messages_sync``).

    Attributes:
        subject: One line; a line break in it is refused (header injection).
        body: The text body (``text/plain``: what clients without HTML show).
        from_email: The sender address; None means ``DEFAULT_FROM_EMAIL``
            when sent.
        to: The recipient addresses (a list is accepted).
        alternatives: ``(content, mimetype)`` versions of the body, such as
            ``(html, "text/html")``; clients show the last they support.
        attachments: Files, in order.
    """

    subject: str
    body: str
    from_email: str | None = None
    to: tuple[str, ...] = ()
    alternatives: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.to, str):
            object.__setattr__(self, "to", (self.to,))
        elif not isinstance(self.to, tuple):
            object.__setattr__(self, "to", tuple(self.to))

    def attach(self, filename: str, content: bytes | str, mimetype: str | None = None) -> None:
        """Attach a file made in memory (Django's ``EmailMessage.attach``).

        Raises:
            ValueError: If ``filename`` holds a line break (header injection).
        """
        if "\r" in filename or "\n" in filename:
            raise ValueError(f"line break in an attachment's filename: {filename!r}")
        if mimetype is None:
            mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self.attachments.append(Attachment(filename, content, mimetype))

    def attach_file(self, path: str | os.PathLike[str], mimetype: str | None = None) -> None:
        """Attach the file at ``path``, read now, under its own name (Django's).

        Raises:
            OSError: If the file cannot be read.
        """
        with open(path, "rb") as handle:
            self.attach(os.path.basename(os.fspath(path)), handle.read(), mimetype)

    def to_mime(self) -> email.message.EmailMessage:
        """Return the message as a standard-library MIME message.

        A body alone is ``text/plain``; with alternatives it is
        ``multipart/alternative``, and with attachments ``multipart/mixed``
        around that (what Django sends).

        Raises:
            ValueError: If a header (subject or an address) holds a line
                break (CR or LF): it could inject headers.
        """
        sender = self.from_email or _DEFAULT_FROM
        for value in (self.subject, sender, *self.to):
            # SECURITY: a CR or LF in a header value would start a new header
            # (Bcc: ...); the stdlib refuses it too, this says which value.
            if "\r" in value or "\n" in value:
                raise ValueError(f"line break in an e-mail header value: {value!r}")
        message = email.message.EmailMessage()
        message["Subject"] = self.subject
        message["From"] = sender
        message["To"] = ", ".join(self.to)
        message["Date"] = email.utils.formatdate(localtime=True)
        message["Message-ID"] = email.utils.make_msgid()
        message.set_content(self.body)
        for content, mimetype in self.alternatives:
            maintype, _, subtype = mimetype.partition("/")
            if maintype != "text":
                raise ValueError(f"alternative {mimetype!r} is not a text/* type")
            message.add_alternative(content, subtype=subtype)
        for attachment in self.attachments:
            attachment.add_to(message)
        return message


@dataclass(frozen=True)
class EmailMultiAlternatives(EmailMessage):
    """An e-mail with alternative bodies, usually HTML (Django's class of this name).

    ::

        message = EmailMultiAlternatives("Welcome", text, to=["ann@example.com"])
        message.attach_alternative(html, "text/html")
        message.attach("report.csv", csv_text, "text/csv")
        await send_messages(app, [message])
    """

    def attach_alternative(self, content: str, mimetype: str) -> None:
        """Add ``content`` as another version of the body (``"text/html"``).

        Raises:
            ValueError: If ``mimetype`` is not a ``text/*`` type.
        """
        if not mimetype.startswith("text/"):
            raise ValueError(f"alternative {mimetype!r} is not a text/* type")
        self.alternatives.append((content, mimetype))


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
    # NOTE: the other parts are named, not dumped: the text body stays readable.
    for content, mimetype in message.alternatives:
        body += f"[alternative {mimetype}, {len(content)} characters]\n"
    for attachment in message.attachments:
        unit = "characters" if isinstance(attachment.content, str) else "bytes"
        body += (
            f"[attachment {attachment.filename!r}, {attachment.mimetype}, "
            f"{len(attachment.content)} {unit}]\n"
        )
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
    target: Any,
    subject: str,
    body: str,
    to: str | Sequence[str],
    from_email: str | None,
    html_message: str | None = None,
) -> EmailMessage:
    recipients = (to,) if isinstance(to, str) else tuple(to)
    message: EmailMessage
    if html_message is None:
        message = EmailMessage(subject, body, from_email, recipients)
    else:
        message = EmailMultiAlternatives(subject, body, from_email, recipients)
        message.attach_alternative(html_message, "text/html")
    return _ready(target, message)


def _ready(target: Any, message: EmailMessage) -> EmailMessage:
    """Return ``message`` with its sender filled in, checked for header injection."""
    if not message.to:
        raise ValueError("an e-mail needs at least one recipient")
    if message.from_email is None:
        sender = _settings_of(target).get("DEFAULT_FROM_EMAIL") or _DEFAULT_FROM
        message = dataclasses.replace(message, from_email=str(sender))
    message.to_mime()  # SECURITY: refuse header injection before any backend runs
    return message


def send_messages_sync(target: Any, messages: Sequence[EmailMessage]) -> int:
    """Send ``messages`` now, blocking, over one connection (Django's ``send_messages``).

    Each message may carry alternatives and attachments
    (:class:`EmailMultiAlternatives`, ``attach``); one without
    ``from_email`` is sent from ``DEFAULT_FROM_EMAIL``. Every message is
    checked before any is sent.

    Returns:
        The number of messages sent.

    Raises:
        ValueError: A message without recipients, or a line break in a
            header value or a filename.
        ImproperlyConfigured: An unknown ``EMAIL_BACKEND``.
        smtplib.SMTPException, OSError: When the SMTP server fails.
    """
    ready = [_ready(target, message) for message in messages]
    return get_backend(target).send(ready) if ready else 0


async def send_messages(target: Any, messages: Sequence[EmailMessage]) -> int:
    """Send ``messages`` from async code; see :func:`send_messages_sync`.

    The SMTP backend runs in the thread pool; console and memory inline.
    """
    ready = [_ready(target, message) for message in messages]
    if not ready:
        return 0
    backend = get_backend(target)
    if isinstance(backend, (ConsoleBackend, MemoryBackend)):
        return backend.send(ready)
    return await run_in_threadpool(backend.send, ready)


def send_mail_sync(
    target: Any,
    subject: str,
    body: str,
    to: str | Sequence[str],
    from_email: str | None = None,
    *,
    html_message: str | None = None,
) -> int:
    """Send one e-mail now, blocking (for scripts and CLI commands).

    Args:
        target: The App (or its Settings) whose ``EMAIL_*`` settings apply.
        subject: One line.
        body: The text.
        to: One address or several.
        from_email: The sender; default ``DEFAULT_FROM_EMAIL``
            (``webmaster@localhost``, Django's default).
        html_message: An HTML version of the body, sent as a
            ``text/html`` alternative (Django's ``send_mail`` argument).

    Returns:
        The number of messages sent (1).

    Raises:
        ValueError: No recipient, or a line break in a header value.
        ImproperlyConfigured: An unknown ``EMAIL_BACKEND``.
        smtplib.SMTPException, OSError: When the SMTP server fails.
    """
    message = _message(target, subject, body, to, from_email, html_message)
    return get_backend(target).send([message])


async def send_mail(
    target: Any,
    subject: str,
    body: str,
    to: str | Sequence[str],
    from_email: str | None = None,
    *,
    html_message: str | None = None,
) -> int:
    """Send one e-mail (Django's ``send_mail``), from async code.

    The SMTP backend runs in the thread pool, so the event loop never waits
    on the network; the console and memory backends run inline. Arguments,
    return value and errors are those of :func:`send_mail_sync`.
    """
    message = _message(target, subject, body, to, from_email, html_message)
    backend = get_backend(target)
    if isinstance(backend, (ConsoleBackend, MemoryBackend)):
        return backend.send([message])
    return await run_in_threadpool(backend.send, [message])
