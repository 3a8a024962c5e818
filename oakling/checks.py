"""System checks: what a deployment still lacks (Django's ``check --deploy``).

A check is a plain function ``check(app) -> Iterable[CheckMessage]`` added
with :meth:`App.add_check <oakling.applications.App.add_check>`; batteries
add theirs from ``Plugin.install``. ``oakling check`` runs the plain checks,
``oakling check --deploy`` the deployment ones too, and exits with status 1
when any message is reported, so a release pipeline can refuse to ship.

The core's own deployment checks look at its settings and at which
batteries are installed (by their ``app.extensions`` key only: the core
never imports a battery)::

    oakling.W001  DEBUG is on
    oakling.W002  SECRET_KEY missing, short, repetitive or the development key
    oakling.W003  ALLOWED_HOSTS is empty
    oakling.W004  the security battery is not installed
    oakling.W005  the CSRF battery is not installed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["Check", "CheckMessage", "core_deploy_checks", "run_checks"]

# NOTE: Django's security.W009 asks for 50 characters and 5 distinct ones;
# the startup check already refuses fewer than 32 outside debug.
_STRONG_KEY_LENGTH = 50
_STRONG_KEY_UNIQUE = 5


@dataclass(frozen=True)
class CheckMessage:
    """One finding of a check.

    Attributes:
        id: A stable identifier, ``"<battery>.<W|E><nnn>"`` (``"oakling.W001"``),
            so a finding can be looked up in the docs.
        message: What is wrong, in one sentence.
        hint: How to fix it (the setting to change, the battery to install).
        level: ``"error"`` for what makes the app unsafe to serve at all,
            ``"warning"`` for what a production deployment should change.
    """

    id: str
    message: str
    hint: str = ""
    level: Literal["error", "warning"] = "warning"

    def __str__(self) -> str:
        text = f"{self.id} ({self.level}): {self.message}"
        return f"{text}\n    HINT: {self.hint}" if self.hint else text


Check = Callable[["App"], Iterable[CheckMessage]]


def run_checks(app: App, *, deploy: bool = False) -> list[CheckMessage]:
    """Run the app's checks; with ``deploy`` also the deployment ones.

    Returns:
        Every message reported, in registration order (the core's first).
    """
    found: list[CheckMessage] = []
    for check, for_deploy in app.checks:
        if for_deploy and not deploy:
            continue
        found.extend(check(app))
    return found


def core_deploy_checks(app: App) -> Iterator[CheckMessage]:
    """Report what the core's settings leave open in production."""
    settings = app.settings
    if app.debug or settings.DEBUG:
        yield CheckMessage(
            "oakling.W001",
            "DEBUG is on: error pages show tracebacks, local variables and settings.",
            "Set OAKLING_DEBUG=0 (or leave it unset) in production.",
        )
    yield from _secret_key_messages(settings.SECRET_KEY)
    if not settings.ALLOWED_HOSTS:
        yield CheckMessage(
            "oakling.W003",
            "ALLOWED_HOSTS is empty: the Host header is not checked against your domains.",
            'Set OAKLING_ALLOWED_HOSTS to your host names, e.g. "example.com,.example.com".',
        )
    if "security" not in app.extensions:
        yield CheckMessage(
            "oakling.W004",
            "The security battery is not installed: no X-Frame-Options, nosniff, "
            "Referrer-Policy, HSTS or allowed-hosts check.",
            "Add oakling.security.Security() to App(plugins=[...]).",
        )
    if "csrf" not in app.extensions:
        yield CheckMessage(
            "oakling.W005",
            "The CSRF battery is not installed: cookie-authenticated forms can be "
            "posted from other sites.",
            "Add oakling.csrf.CSRF() to App(plugins=[...]) after Sessions().",
        )


def _secret_key_messages(key: str | None) -> Iterator[CheckMessage]:
    from oakling.config import is_development_key

    hint = (
        "Set OAKLING_SECRET_KEY to a long random value: "
        'python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )
    if not key:
        yield CheckMessage("oakling.W002", "SECRET_KEY is not set.", hint, "error")
    elif is_development_key(key):
        yield CheckMessage(
            "oakling.W002",
            "SECRET_KEY is the random development key generated because DEBUG is on.",
            hint,
            "error",
        )
    elif len(key) < _STRONG_KEY_LENGTH or len(set(key)) < _STRONG_KEY_UNIQUE:
        yield CheckMessage(
            "oakling.W002",
            f"SECRET_KEY is weak: {len(key)} characters, {len(set(key))} distinct "
            f"(at least {_STRONG_KEY_LENGTH} and {_STRONG_KEY_UNIQUE} are advised).",
            hint,
        )
