"""``oakling check --deploy``: the security battery's findings, misconfigured vs hardened."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oakling import App
from oakling.checks import run_checks
from oakling.cli import main
from oakling.config import Settings
from oakling.security import CSP, Security, SecurityConfig
from oakling.security.checks import config_checks, security_deploy_checks

STRONG_KEY = "Zq3v_8pLr2Wm9xYt4BnKc7HdJe6FgAs1Qo5UiPzXwVyTbNmR0lMkEjCh"
HARDENED = {
    "hsts_seconds": 31536000,
    "hsts_include_subdomains": True,
    "hsts_preload": True,
    "ssl_redirect": True,
    "csp": {"default-src": [CSP.SELF], "script-src": [CSP.SELF, CSP.NONCE]},
}


def ids(messages: Any) -> list[str]:
    return [message.id for message in messages]


def security_app(**options: Any) -> App:
    settings = Settings(SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["site.example"])
    return App(settings=settings, plugins=[Security(**options)])


def test_defaults_report_hsts_ssl_redirect_and_csp() -> None:
    app = security_app()
    found = [
        message for message in run_checks(app, deploy=True) if message.id.startswith("security.")
    ]
    assert ids(found) == ["security.W004", "security.W008", "security.W030"]
    assert all(message.hint for message in found)
    assert run_checks(app, deploy=False) == []  # deploy checks only


def test_every_weakened_setting_is_reported() -> None:
    config = SecurityConfig(
        x_frame_options="SAMEORIGIN",
        content_type_nosniff=False,
        referrer_policy=None,
        hsts_seconds=60,
        csp_report_only={"default-src": [CSP.SELF]},
    )
    assert ids(config_checks(config)) == [
        "security.W005",
        "security.W021",
        "security.W006",
        "security.W008",
        "security.W019",
        "security.W022",
        "security.W031",
    ]
    assert "not sent" in next(
        message.message
        for message in config_checks(SecurityConfig(x_frame_options=None))
        if message.id == "security.W019"
    )


def test_hardened_configuration_reports_nothing() -> None:
    assert list(security_deploy_checks(security_app(**HARDENED))) == []
    settings = Settings(
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS=["site.example"],
        extra={
            "SECURE_HSTS_SECONDS": "31536000",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
            "SECURE_HSTS_PRELOAD": "true",
            "SECURE_SSL_REDIRECT": "on",
            "SECURE_CSP": "default-src 'self'",
        },
    )
    from_settings = App(settings=settings, plugins=[Security()])
    assert list(security_deploy_checks(from_settings)) == []


def test_checks_see_constructor_overrides_not_just_settings() -> None:
    settings = Settings(
        SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["site.example"], extra={"SECURE_SSL_REDIRECT": "1"}
    )
    app = App(settings=settings, plugins=[Security(ssl_redirect=False)])
    assert "security.W008" in ids(security_deploy_checks(app))


def test_without_the_battery_its_checks_say_nothing_but_the_core_does() -> None:
    app = App(settings=Settings(SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["site.example"]))
    assert list(security_deploy_checks(app)) == []
    assert "oakling.W004" in ids(run_checks(app, deploy=True))


# -- the CLI ------------------------------------------------------------------------

MISCONFIGURED = """
from oakling import App
from oakling.config import Settings
from oakling.security import Security

app = App(
    settings=Settings(DEBUG=True, SECRET_KEY="short-but-32-characters-long-key!!"),
    plugins=[Security(x_frame_options="SAMEORIGIN", content_type_nosniff=False)],
)
"""

HARDENED_APP = f"""
from oakling import App
from oakling.config import Settings
from oakling.security import CSP, Security


class _StandIn:
    # NOTE: the core's checks look at the extension keys only; the sessions
    # and CSRF batteries themselves are not under test here.
    def __init__(self, name):
        self.name = name

    def install(self, app):
        app.extensions[self.name] = self


app = App(
    settings=Settings(SECRET_KEY={STRONG_KEY!r}, ALLOWED_HOSTS=["site.example"]),
    plugins=[_StandIn("sessions"), _StandIn("csrf"), Security(**{HARDENED!r})],
)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "misconfigured_app.py").write_text(textwrap.dedent(MISCONFIGURED))
    (tmp_path / "hardened_app.py").write_text(textwrap.dedent(HARDENED_APP))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("misconfigured_app", "hardened_app"):
        sys.modules.pop(name, None)


def test_cli_check_deploy_fails_a_misconfigured_app(project: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--deploy", "misconfigured_app:app"])
    assert result.exit_code == 1, result.output
    for expected in (
        "oakling.W001",  # DEBUG
        "oakling.W003",  # ALLOWED_HOSTS
        "security.W004",
        "security.W006",
        "security.W008",
        "security.W019",
        "security.W030",
        "HINT: ",
    ):
        assert expected in result.output, expected
    assert "oakling.W004" not in result.output  # the battery is installed


def test_cli_check_deploy_passes_a_hardened_app(project: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--deploy", "hardened_app:app"])
    assert result.exit_code == 0, result.output
    assert "System check identified no issues." in result.output
    plain = CliRunner().invoke(main, ["check", "misconfigured_app:app"])
    assert plain.exit_code == 0, plain.output  # no deploy checks without --deploy
