"""oakling's own catalogues: complete for de, fr, es; compiled .mo matches the .po."""

from __future__ import annotations

import http
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import oakling
from oakling.i18n._core_messages import CORE_MESSAGES
from oakling.i18n.cli import BATTERIES

PACKAGE = Path(oakling.__file__).parent
LANGUAGES = ("de", "fr", "es")
SHIPPED = [name for name in BATTERIES if (PACKAGE / name / "locale" / "oakling.pot").is_file()]


def _coverage(battery: str, language: str) -> tuple[int, int, list[str]]:
    with (PACKAGE / battery / "locale" / "oakling.pot").open("rb") as handle:
        template = read_po(handle)
    po_path = PACKAGE / battery / "locale" / language / "LC_MESSAGES" / "oakling.po"
    if not po_path.is_file():
        return 0, len([m for m in template if m.id]), ["(no catalogue)"]
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    missing = []
    total = 0
    for message in template:
        if not message.id:
            continue
        total += 1
        found = catalog.get(message.id, message.context)
        strings = found.string if found is not None else ""
        values = strings if isinstance(strings, tuple) else (strings,)
        if found is None or "fuzzy" in found.flags or not all(values):
            missing.append(str(message.id))
    return total - len(missing), total, missing


def test_report_catalogue_coverage(capsys):
    lines = []
    for battery in SHIPPED:
        for language in LANGUAGES:
            done, total, _ = _coverage(battery, language)
            lines.append(
                f"{battery:10} {language}: {done}/{total} ({100 * done // max(total, 1)}%)"
            )
    with capsys.disabled():
        print("\ncatalogue coverage:\n  " + "\n  ".join(lines))
    assert {"i18n", "auth", "csrf", "security"} <= set(SHIPPED)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("battery", SHIPPED)
def test_every_shipped_message_is_translated(battery, language):
    done, total, missing = _coverage(battery, language)
    assert not missing, f"{battery}/{language}: {done}/{total}, missing {missing[:5]}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("battery", SHIPPED)
def test_compiled_catalogue_matches_its_po(battery, language):
    folder = PACKAGE / battery / "locale" / language / "LC_MESSAGES"
    with (folder / "oakling.po").open("rb") as handle:
        source = read_po(handle, locale=language)
    with (folder / "oakling.mo").open("rb") as handle:
        compiled = read_mo(handle)

    def key(message):
        ident = tuple(message.id) if isinstance(message.id, list | tuple) else message.id
        return ident, message.context

    def text(message):
        return tuple(message.string) if isinstance(message.string, list | tuple) else message.string

    expected = {key(m): text(m) for m in source if m.id and m.string}
    actual = {key(m): text(m) for m in compiled if m.id}
    assert actual == expected, "run `oakling i18n compile --all-batteries`"


def test_core_messages_list_every_error_phrase():
    phrases = {status.phrase for status in http.HTTPStatus if 400 <= status.value <= 511}
    assert phrases <= set(CORE_MESSAGES)


def test_template_is_up_to_date_with_the_marked_strings(tmp_path, monkeypatch):
    """Re-extracting finds no string missing from the shipped templates."""
    import shutil

    from click.testing import CliRunner

    from oakling.i18n import cli

    monkeypatch.setattr(cli, "_PACKAGE", tmp_path)
    # NOTE: extraction writes next to the sources; copy them to a scratch folder.
    for battery in SHIPPED:
        shutil.copytree(
            PACKAGE / battery, tmp_path / battery, ignore=shutil.ignore_patterns("locale")
        )
    result = CliRunner().invoke(cli.i18n, ["extract", "--all-batteries"])
    assert result.exit_code == 0, result.output
    for battery in SHIPPED:
        with (tmp_path / battery / "locale" / "oakling.pot").open("rb") as handle:
            fresh = {(m.id, m.context) for m in read_po(handle) if m.id}
        with (PACKAGE / battery / "locale" / "oakling.pot").open("rb") as handle:
            shipped = {(m.id, m.context) for m in read_po(handle) if m.id}
        assert fresh <= shipped, f"{battery}: run `oakling i18n extract --all-batteries`"


def test_the_demo_is_fully_translated_into_german():
    folder = PACKAGE.parent / "examples" / "tasks" / "translations"
    with (folder / "messages.pot").open("rb") as handle:
        wanted = {(m.id, m.context) for m in read_po(handle) if m.id}
    with (folder / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        german = read_po(handle, locale="de")
    done = {(m.id, m.context) for m in german if m.id and m.string and "fuzzy" not in m.flags}
    assert wanted <= done, sorted(str(key[0]) for key in wanted - done)
    with (folder / "de" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == {m.id: m.string for m in german if m.id and m.string}
