"""Translation in code and templates, time zones, set_language and the CLI cycle."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner

from oakling import App, Request
from oakling.i18n import (
    I18n,
    activate_timezone,
    deactivate,
    deactivate_timezone,
    get_language,
    gettext,
    gettext_lazy,
    localtime,
    ngettext,
    now,
    override,
    pgettext,
)
from oakling.i18n.cli import i18n as i18n_command
from oakling.i18n.translation import reset_catalogues
from oakling.templating import render
from oakling.testing import TestClient

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def _clean_catalogues():
    reset_catalogues()
    yield
    reset_catalogues()
    deactivate()
    deactivate_timezone()


def test_without_an_active_language_strings_are_english():
    assert get_language() is None
    assert gettext("Not Found") == "Not Found"
    assert ngettext("%d task", "%d tasks", 1) == "%d task"
    assert ngettext("%d task", "%d tasks", 3) == "%d tasks"
    assert pgettext("month", "May") == "May"
    lazy = gettext_lazy("Not Found")
    assert str(lazy) == "Not Found" and lazy == "Not Found"
    assert "Found" in lazy and lazy + "!" == "Not Found!"


def test_lazy_strings_follow_the_active_language():
    label = gettext_lazy("Not Found")
    with override("de"):
        assert str(label) == "Nicht gefunden"
        assert f"{label}" == "Nicht gefunden"
        assert label.upper() == "NICHT GEFUNDEN"
    with override("fr"):
        assert str(label) == "Introuvable"
    assert str(label) == "Not Found"


def _cycle(tmp_path: Path, locale: str, source: str, template: str, translate) -> Path:
    """extract -> init -> translate -> compile through `oakling i18n`."""
    (tmp_path / "app.py").write_text(source)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text(template)
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for args in (["extract"], ["init", locale]):
            result = runner.invoke(i18n_command, args)
            assert result.exit_code == 0, result.output
        po_path = tmp_path / "translations" / locale / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        for message in catalog:
            if message.id:
                message.string = translate(message.id, catalog.num_plurals)
        with po_path.open("wb") as handle:
            write_po(handle, catalog)
        result = runner.invoke(i18n_command, ["compile"])
        assert result.exit_code == 0, result.output
        assert "compiled 1 catalogue" in result.output
    finally:
        os.chdir(old)
    return tmp_path


POLISH = {
    "Tasks": "Zadania",
    "Hello %(name)s": "Witaj %(name)s",
}
POLISH_PLURAL = ("%(num)d zadanie", "%(num)d zadania", "%(num)d zadań")


def _polish(msgid, num_plurals):
    if isinstance(msgid, tuple):
        assert num_plurals == 3  # Polish: one, few, many
        if "%(num)s" in msgid[0]:  # the template's {% trans %} placeholder
            return tuple(form.replace("%(num)d", "%(num)s") for form in POLISH_PLURAL)
        return POLISH_PLURAL
    if msgid == "Spring":
        return "Wiosna"
    return POLISH.get(msgid, "")


SOURCE = """
from oakling.i18n import gettext as _, ngettext, pgettext


def title():
    return _("Tasks")


def count(n):
    return ngettext("%(num)d task", "%(num)d tasks", n) % {"num": n}


def season():
    return pgettext("season", "Spring")
"""

TEMPLATE = """<h1>{{ _("Tasks") }}</h1>
<p>{% trans name=who %}Hello {{ name }}{% endtrans %}</p>
<p>{% trans num=n %}{{ num }} task{% pluralize %}{{ num }} tasks{% endtrans %}</p>
<p>{% trans "season" %}Spring{% endtrans %}</p>
"""


def test_extract_translate_compile_render_through_the_cli(tmp_path):
    folder = _cycle(tmp_path, "pl", SOURCE, TEMPLATE, _polish)
    app = App(
        secret_key=SECRET,
        template_folder=str(folder / "templates"),
        plugins=[
            I18n(
                languages=["en", "pl"],
                default="en",
                translations_dir=str(folder / "translations"),
            )
        ],
    )

    @app.get("/page")
    def page(request: Request, n: int = 1):
        return render(request, "page.html", who="<Ala>", n=n)

    namespace: dict[str, object] = {}
    exec(compile(SOURCE, "app.py", "exec"), namespace)
    with TestClient(app) as client:
        # Polish has three plural forms: 1 zadanie, 2-4 zadania, 5+ zadań.
        rendered = {
            n: client.get(f"/page?n={n}", headers={"accept-language": "pl"}).text
            for n in (1, 3, 5, 22, 25)
        }
        english = client.get("/page?n=5").text
    assert "<h1>Zadania</h1>" in rendered[1]
    assert "Witaj &lt;Ala&gt;" in rendered[1]  # variables stay escaped
    assert "1 zadanie" in rendered[1]
    assert "3 zadania" in rendered[3]
    assert "5 zadań" in rendered[5]
    assert "22 zadania" in rendered[22]
    assert "25 zadań" in rendered[25]
    assert "Wiosna" in rendered[1]  # {% trans "season" %}: pgettext
    assert "<h1>Tasks</h1>" in english and "5 tasks" in english and "Spring" in english
    with override("pl"):
        assert namespace["count"](2) == "2 zadania"  # type: ignore[operator]
        assert namespace["season"]() == "Wiosna"  # type: ignore[operator]


def _app(**options) -> App:
    app = App(
        secret_key=SECRET,
        plugins=[I18n(languages=["en", "de", "fr", "es"], default="en", **options)],
    )

    @app.get("/sync")
    def sync_handler() -> str:
        return gettext("Not Found")  # runs in the thread pool

    @app.get("/async")
    async def async_handler() -> str:
        await asyncio.sleep(0)
        return gettext("Not Found")

    @app.get("/when")
    def when() -> str:
        return localtime(dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)).isoformat()

    return app


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_sync_and_async_handlers_see_the_language(path):
    with TestClient(_app()) as client:
        assert client.get(path, headers={"accept-language": "es"}).text == "No encontrado"
        assert client.get(path, headers={"accept-language": "fr"}).text == "Introuvable"


def test_set_language_sets_the_cookie_that_wins_over_the_header():
    with TestClient(_app(), follow_redirects=False) as client:
        response = client.post("/i18n/setlang/", data={"language": "fr", "next": "/sync"})
        assert response.status_code == 302
        assert response.headers["location"] == "/sync"
        assert "oakling_language=fr" in response.headers["set-cookie"]
        assert client.get("/sync", headers={"accept-language": "de"}).text == "Introuvable"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example", "/\\evil"])
def test_set_language_refuses_open_redirects(next_url):
    with TestClient(_app(), follow_redirects=False) as client:
        response = client.post("/i18n/setlang/", data={"language": "de", "next": next_url})
        assert response.headers["location"] == "/"


def test_set_language_with_an_unknown_language_is_a_400():
    with TestClient(_app(), follow_redirects=False) as client:
        response = client.post("/i18n/setlang/", data={"language": "xx"})
        assert response.status_code == 400
        assert response.json()["languages"] == ["en", "de", "fr", "es"]


def test_user_preference_comes_before_cookie_and_header():
    app = _app(locale_selector=lambda request: request.query_params.get("lang"))
    with TestClient(app) as client:
        client.cookies.set("oakling_language", "fr")
        assert client.get("/sync?lang=es").text == "No encontrado"
        assert client.get("/sync").text == "Introuvable"


def test_url_prefix_activates_and_is_stripped():
    app = _app(url_prefix=True)
    with TestClient(app) as client:
        response = client.get("/de/sync", headers={"accept-language": "fr"})
        assert response.text == "Nicht gefunden"
        assert "vary" not in response.headers  # the URL alone decided
        assert client.get("/sync", headers={"accept-language": "fr"}).text == "Introuvable"


def test_url_prefix_keeps_the_prefix_in_url_for():
    app = App(secret_key=SECRET, plugins=[I18n(languages=["en", "de"], url_prefix=True)])

    @app.get("/")
    def home(request: Request) -> str:
        # NOTE: templates' url_for prefixes root_path, so links keep /de.
        return request.scope["root_path"] + "|" + request.scope["path"] + "|" + gettext("Error")

    with TestClient(app) as client:
        assert client.get("/de").text == "/de|/|Fehler"
        assert client.get("/de/").text == "/de|/|Fehler"
        assert client.get("/").text == "|/|Error"


def test_time_zone_from_cookie_and_setting():
    app = _app(time_zone="Europe/Berlin")
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/when").text == "2026-01-15T13:00:00+01:00"
        response = client.post("/i18n/settz/", data={"timezone": "America/New_York"})
        assert response.status_code == 302
        assert client.get("/when").text == "2026-01-15T07:00:00-05:00"
        bad = client.post("/i18n/settz/", data={"timezone": "../../etc/passwd"})
        assert bad.status_code == 400


def test_now_is_aware_utc_and_localtime_converts():
    assert now().tzinfo is dt.UTC
    token = activate_timezone("Asia/Tokyo")
    try:
        assert localtime(dt.datetime(2026, 1, 1, 0, 0)).hour == 9  # naive is UTC
    finally:
        deactivate_timezone(token)


def test_template_filters_use_locale_and_zone(tmp_path):
    (tmp_path / "f.html").write_text(
        "{{ when | datetimeformat('short') }}|{{ 1234567.5 | numberformat }}|"
        "{{ 1234.5 | currencyformat('EUR') }}|{{ past | timedeltaformat }}|{{ get_language() }}"
    )
    app = App(
        secret_key=SECRET,
        template_folder=str(tmp_path),
        plugins=[I18n(languages=["en", "de"], default="en", time_zone="Europe/Berlin")],
    )

    @app.get("/")
    def page(request: Request):
        return render(
            request,
            "f.html",
            when=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
            past=now() - dt.timedelta(hours=2),
        )

    with TestClient(app) as client:
        german = client.get("/", headers={"accept-language": "de"}).text
        english = client.get("/", headers={"accept-language": "en"}).text
    assert german.split("|") == [
        "01.03.26, 13:00",
        "1.234.567,5",
        "1.234,50\xa0€",
        "vor 2 Stunden",
        "de",
    ]
    assert english.split("|")[1:4] == ["1,234,567.5", "€1,234.50", "2 hours ago"]


def test_core_error_page_is_translated():
    with TestClient(_app()) as client:
        page = client.get("/missing", headers={"accept-language": "de", "accept": "text/html"})
    assert page.status_code == 404
    assert '<html lang="de">' in page.text
    assert "404 Nicht gefunden" in page.text and "Zurück zur Startseite" in page.text


def test_lazy_strings_in_wtforms_forms():
    wtforms = pytest.importorskip("wtforms")
    from wtforms import validators

    class TaskForm(wtforms.Form):
        title = wtforms.StringField(
            gettext_lazy("Not Found"),
            [validators.InputRequired(message=gettext_lazy("Bad Request"))],
        )

    form = TaskForm()
    assert str(form.title.label.text) == "Not Found"
    with override("de"):
        form = TaskForm()
        assert "Nicht gefunden" in str(form.title.label())
        assert not form.validate()
        assert [str(error) for error in form.title.errors] == ["Ungültige Anfrage"]


def test_marking_strings_imports_no_babel():
    """Batteries mark their strings through a stdlib-only module."""
    import subprocess
    import sys

    code = (
        "import sys, oakling.csrf, oakling.security, oakling.auth.views, oakling.i18n; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'babel'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_csrf_failure_page_is_translated_and_json_stays_english():
    from oakling.csrf import CSRF
    from oakling.sessions import Sessions

    app = App(
        secret_key=SECRET,
        plugins=[Sessions(), CSRF(), I18n(languages=["en", "fr"], default="en")],
    )

    @app.post("/form")
    def form() -> str:
        return "ok"

    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        page = client.post("/form", headers={"accept-language": "fr", "accept": "text/html"})
        api = client.post("/form", headers={"accept-language": "fr"})
    assert page.status_code == 403
    assert "La vérification CSRF a échoué" in page.text and '<html lang="fr">' in page.text
    assert api.json()["detail"] == "CSRF token missing or session expired."


def test_a_malformed_csrf_token_reason_is_translated():
    """The reason built at run time (where the token came from) is translated too."""
    from oakling.csrf import CSRF, get_token
    from oakling.sessions import Sessions

    app = App(
        secret_key=SECRET,
        plugins=[Sessions(), CSRF(), I18n(languages=["en", "fr"], default="en")],
    )

    @app.get("/form")
    def show(request: Request) -> str:
        return get_token(request)  # NOTE: makes the session's CSRF secret

    @app.post("/form")
    def form() -> str:
        return "ok"

    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        client.get("/form")
        page = client.post(
            "/form",
            data={"csrf_token": "short"},
            headers={"accept-language": "fr", "accept": "text/html"},
        )
        api = client.post("/form", data={"csrf_token": "short"})
    assert page.status_code == 403
    assert (
        "Le jeton CSRF du champ de formulaire &#x27;csrf_token&#x27; a une longueur incorrecte."
        in page.text
    )
    assert (
        api.json()["detail"] == "CSRF token from the 'csrf_token' form field has incorrect length."
    )


def test_host_refusal_speaks_the_request_language():
    """The security battery's Host check runs before any route, and still translates."""
    from oakling.config import Settings
    from oakling.security import Security

    app = App(
        settings=Settings(SECRET_KEY=SECRET, ALLOWED_HOSTS=["testserver"]),
        plugins=[Security(), I18n(languages=["en", "de"], default="en")],
    )

    @app.get("/")
    def index() -> str:
        return "ok"

    with TestClient(app) as client:
        german = client.get("/", headers={"host": "evil.example", "accept-language": "de"})
        english = client.get("/", headers={"host": "evil.example"})
        fine = client.get("/", headers={"accept-language": "de"})
    assert german.status_code == 400 and german.text == "Ungültiger Host-Header"
    assert german.headers["content-language"] == "de"
    assert english.status_code == 400 and english.text == "Invalid Host header"
    assert fine.text == "ok" and fine.headers["content-language"] == "de"


def test_csrf_forms_speak_the_active_language():
    pytest.importorskip("wtforms")
    from wtforms import StringField, validators

    from oakling.csrf.forms import CSRFForm

    class Form(CSRFForm):
        title = StringField("Title", [validators.InputRequired()])

    form = Form(meta={"csrf": False})
    form.validate()
    assert form.title.errors == ["This field is required."]
    with override("de"):
        form = Form(meta={"csrf": False})
        form.validate()
        assert form.title.errors == ["Dieses Feld wird benötigt."]
