"""oakling.mail: send e-mail through a backend chosen by settings (Django's mail).

Three backends, picked by the ``EMAIL_BACKEND`` setting:

- ``"console"`` (the default in debug): prints each message to stdout;
- ``"smtp"`` (the default otherwise): :mod:`smtplib` in the thread pool, set
  up by ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
  ``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS`` (STARTTLS), ``EMAIL_USE_SSL``
  and ``EMAIL_TIMEOUT`` (Django's names and defaults);
- ``"memory"``: appends to :data:`outbox`, for tests (Django's ``locmem``).

A dotted path (``"myproject.mail:SESBackend"``) names a class of your own with
``__init__(settings)`` and ``send(messages) -> int``::

    from oakling.mail import send_mail

    await send_mail(request.app, "Welcome", "Hello!", ["ann@example.com"])

HTML and attachments, as Django's ``EmailMultiAlternatives``::

    message = EmailMultiAlternatives("Report", text, to=["ann@example.com"])
    message.attach_alternative(html, "text/html")
    message.attach("report.csv", csv_text, "text/csv")
    await send_messages(request.app, [message])
"""

from __future__ import annotations

from .backends import (
    Attachment,
    ConsoleBackend,
    EmailBackend,
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
