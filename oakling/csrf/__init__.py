"""oakling.csrf: cross-site request forgery protection, as Django's.

Install after the sessions battery::

    from oakling import App
    from oakling.csrf import CSRF
    from oakling.sessions import Sessions

    app = App(plugins=[Sessions(), CSRF()])

Every POST, PUT, PATCH and DELETE is then checked (Sec-Fetch-Site, Origin,
Referer over HTTPS, and a BREACH-masked token tied to the session) unless
its handler is :func:`csrf_exempt` or a bearer token authenticated it.
Templates get ``csrf_input()`` (the hidden field) and ``csrf_token()``;
JavaScript sends the token in the ``X-CSRFToken`` header. WTForms forms
get the token from :mod:`oakling.csrf.forms` (``pip install 'oakling[forms]'``).
See docs/csrf.md.
"""

from __future__ import annotations

from .errors import CSRFError, csrf_failure
from .plugin import (
    CSRF,
    DEFAULT_FIELD_NAME,
    DEFAULT_HEADER_NAME,
    SAFE_METHODS,
    SESSION_KEY,
    csrf_exempt,
    get_token,
    rotate_token,
    verify_token,
)

__all__ = [
    "CSRF",
    "DEFAULT_FIELD_NAME",
    "DEFAULT_HEADER_NAME",
    "SAFE_METHODS",
    "SESSION_KEY",
    "CSRFError",
    "csrf_exempt",
    "csrf_failure",
    "get_token",
    "rotate_token",
    "verify_token",
]
