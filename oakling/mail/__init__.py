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
"""

from __future__ import annotations

from .backends import (
    ConsoleBackend,
    EmailBackend,
    EmailMessage,
    MemoryBackend,
    SMTPBackend,
    get_backend,
    outbox,
    send_mail,
    send_mail_sync,
)

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
