"""``oakling i18n extract | init LOCALE | update | compile``: Babel's pybabel, set up.

Published in the ``oakling.commands`` entry-point group. For the app (the
default) the sources are the current folder and the catalogues live in
``translations/`` with the domain ``messages`` (Flask-Babel's layout)::

    oakling i18n extract          # translations/messages.pot from *.py and templates
    oakling i18n init de          # translations/de/LC_MESSAGES/messages.po
    oakling i18n update           # merge a new .pot into every .po
    oakling i18n compile          # .po -> .mo, what the app loads

``--battery csrf`` (or ``--all-batteries``, with a progress bar) does the
same for oakling's own catalogues in ``oakling/<battery>/locale`` (domain
``oakling``), which is how the shipped German, French and Spanish are kept.
Each step runs ``babel.messages.frontend``'s command of the same name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

__all__ = ["BATTERIES", "i18n"]

_PACKAGE = Path(__file__).resolve().parent.parent
#: oakling's batteries with catalogues (``i18n`` holds the core's error pages).
BATTERIES: tuple[str, ...] = ("i18n", "auth", "csrf", "security", "sessions", "messages", "admin")

# NOTE: the lazy variants beside pybabel's defaults (_, gettext, ngettext,
# pgettext, npgettext, N_ ...).
KEYWORDS: tuple[str, ...] = (
    "gettext_noop",
    "gettext_lazy",
    "_l",
    "ngettext_lazy:1,2",
    "pgettext_lazy:1c,2",
    "npgettext_lazy:1c,2,3",
)
_MAPPING = """\
[python: **.py]
[jinja2: **/templates/**.html]
[jinja2: **/templates/**.txt]
"""
_IGNORE_DIRS = ("venv", "node_modules", "build", "dist", "translations", "locale", "tests")


class _Target:
    def __init__(self, source: Path, directory: Path, domain: str) -> None:
        self.source = source
        self.directory = directory
        self.domain = domain

    @property
    def pot(self) -> Path:
        return self.directory / f"{self.domain}.pot"

    def locales(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.directory.iterdir()
            if (entry / "LC_MESSAGES" / f"{self.domain}.po").is_file()
        )


def _targets(
    battery: str | None, all_batteries: bool, source: str, directory: str
) -> list[_Target]:
    if all_batteries:
        names: Sequence[str] = BATTERIES
    elif battery:
        if battery not in BATTERIES:
            raise click.BadParameter(
                f"{battery!r} has no catalogues; choose one of {', '.join(BATTERIES)}",
                param_hint="--battery",
            )
        names = [battery]
    else:
        return [_Target(Path(source), Path(directory), "messages")]
    return [_Target(_PACKAGE / name, _PACKAGE / name / "locale", "oakling") for name in names]


def _body(pot: Path) -> str:
    """Return the template's text after its header entry."""
    text = pot.read_text("utf-8")
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


def _run(argv: list[str]) -> None:
    from babel.messages.frontend import CommandLineInterface

    code = CommandLineInterface().run(["pybabel", "-q", *argv])  # type: ignore[no-untyped-call]  # NOTE: Babel's frontend has no annotations.
    if code:
        raise click.ClickException(f"pybabel {argv[0]} failed (exit status {code})")


@contextmanager
def _mapping_file() -> Iterator[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as handle:
        handle.write(_MAPPING)
    try:
        yield handle.name
    finally:
        os.unlink(handle.name)


def _each(targets: list[_Target], label: str) -> Iterator[_Target]:
    if len(targets) == 1:
        yield targets[0]
        return
    with click.progressbar(
        targets, label=label, item_show_func=lambda t: t.source.name if t else None
    ) as bar:
        yield from bar


_target_options = [
    click.option("--battery", help=f"One of oakling's batteries: {', '.join(BATTERIES)}."),
    click.option("--all-batteries", is_flag=True, help="Every battery with catalogues."),
    click.option(
        "--source", default=".", show_default=True, help="The app's source folder to scan."
    ),
    click.option(
        "-d",
        "--directory",
        default="translations",
        show_default=True,
        help="The app's catalogue folder.",
    ),
]


def _with_targets(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_target_options):
        func = option(func)
    return func


@click.group()
def i18n() -> None:
    """Extract, create, update and compile message catalogues (pybabel)."""


@i18n.command()
@_with_targets
def extract(battery: str | None, all_batteries: bool, source: str, directory: str) -> None:
    """Collect marked strings of code and templates into the .pot template."""
    targets = _targets(battery, all_batteries, source, directory)
    with _mapping_file() as mapping:
        for target in _each(targets, "Extracting"):
            target.directory.mkdir(parents=True, exist_ok=True)
            argv = ["extract", "-F", mapping, "-o", str(target.pot), "--sort-output"]
            argv += ["--project", "oakling" if target.domain == "oakling" else "app"]
            argv += ["--no-wrap"]
            for keyword in KEYWORDS:
                argv += ["-k", keyword]
            for name in _IGNORE_DIRS:
                argv += ["--ignore-dirs", name]
            argv += ["--ignore-dirs", ".*", "--ignore-dirs", "_*"]
            if target.domain == "oakling":
                # NOTE: from the folder holding the package, so the references
                # read "oakling/auth/views.py:12", not this machine's path.
                with contextlib.chdir(_PACKAGE.parent):
                    _run([*argv, str(target.source.relative_to(_PACKAGE.parent))])
            else:
                _run([*argv, str(target.source)])
            if target.domain == "oakling" and "msgid " not in _body(target.pot):
                # NOTE: a battery with no user-facing strings ships no catalogue.
                target.pot.unlink()
                if not any(target.directory.iterdir()):
                    target.directory.rmdir()
    made = [str(target.pot) for target in targets if target.pot.is_file()]
    click.echo(f"extracted {len(made)} template(s): " + ", ".join(made))


@i18n.command()
@click.argument("locale")
@_with_targets
def init(
    locale: str, battery: str | None, all_batteries: bool, source: str, directory: str
) -> None:
    """Start the catalogue of LOCALE (``de``, ``pt_BR``) from the .pot template."""
    targets = _targets(battery, all_batteries, source, directory)
    for target in _each(targets, f"Creating {locale}"):
        if not target.pot.is_file():
            raise click.ClickException(f"{target.pot} is missing: run `oakling i18n extract` first")
        _run(
            ["init", "-i", str(target.pot), "-d", str(target.directory), "-D", target.domain]
            + ["-l", locale, "--no-wrap"]
        )
    click.echo(f"created {locale} in {len(targets)} folder(s)")


@i18n.command()
@_with_targets
def update(battery: str | None, all_batteries: bool, source: str, directory: str) -> None:
    """Merge the .pot template into every existing .po catalogue."""
    targets = _targets(battery, all_batteries, source, directory)
    for target in _each(targets, "Updating"):
        if not target.locales():
            continue
        _run(
            ["update", "-i", str(target.pot), "-d", str(target.directory), "-D", target.domain]
            + ["--no-wrap", "--ignore-obsolete"]
        )
    click.echo(f"updated {len(targets)} folder(s)")


@i18n.command()
@_with_targets
def compile(battery: str | None, all_batteries: bool, source: str, directory: str) -> None:
    """Compile every .po catalogue into the .mo file the app loads."""
    targets = _targets(battery, all_batteries, source, directory)
    count = 0
    for target in _each(targets, "Compiling"):
        if not target.locales():
            continue
        _run(["compile", "-d", str(target.directory), "-D", target.domain])
        count += len(target.locales())
    click.echo(f"compiled {count} catalogue(s)")
