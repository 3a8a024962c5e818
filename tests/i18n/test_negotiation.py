"""Accept-Language parsing and matching: the sans-I/O part and through the app."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

from oakling import App
from oakling.i18n import I18n, gettext
from oakling.i18n.negotiation import LanguageMatcher, parse_accept_language
from oakling.testing import TestClient

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de", "de"),
        ("de-AT", "de"),  # base-language fallback
        ("de-at-1996", "de"),  # RFC 4647 lookup drops subtags one at a time
        ("fr;q=0.5, de;q=0.9", "de"),  # q-values, not order
        ("it, fr;q=0.1", "fr"),  # unsupported first choice
        ("it, *;q=0.5", "en"),  # the wildcard means the default
        ("DE", "de"),  # case-insensitive
        ("pt", "pt-BR"),  # a supported regional variant of a bare language
        ("de;q=0, fr", "fr"),  # q=0 is "not acceptable"
        ("xx", None),
        ("", None),
    ],
)
def test_matcher_picks_by_preference(header, expected):
    matcher = LanguageMatcher(["en", "de", "fr", "pt-BR"], "en")
    assert matcher.from_header(header) == expected


@pytest.mark.parametrize(
    "header",
    ["de;q=2", "de;q=abc", "de;level=1", "d€", "de-toolongsubtag", ";;;", "de,,,,"],
)
def test_malformed_ranges_are_skipped(header):
    ranges = parse_accept_language(header)
    assert all(tag == "de" for tag, _ in ranges) or ranges == []
    if header in ("de;q=2", "de;q=abc", "de;level=1", "d€", "de-toolongsubtag", ";;;"):
        assert ranges == []


def test_parse_keeps_header_order_on_ties():
    assert parse_accept_language("fr, de, en;q=0.5") == [("fr", 1.0), ("de", 1.0), ("en", 0.5)]


def _app() -> App:
    app = App(secret_key=SECRET, plugins=[I18n(languages=["en", "de", "fr"], default="en")])

    @app.get("/")
    def index() -> str:
        return gettext("Not Found")

    return app


def test_headers_and_translation_through_the_app():
    with TestClient(_app()) as client:
        german = client.get("/", headers={"accept-language": "de-CH, fr;q=0.8"})
        assert german.text == "Nicht gefunden"
        assert german.headers["content-language"] == "de"
        assert "Accept-Language" in german.headers["vary"]
        english = client.get("/")
        assert english.text == "Not Found"
        assert english.headers["content-language"] == "en"


BAD_HEADERS = {
    "1 MB": "de-" + "a" * (1024 * 1024),
    "10,000 ranges": ",".join(f"x{i % 10}-{i}" for i in range(10_000)),
    "invalid tags": ",".join(["\u00e9\u00e9", "12345", "a" * 50, "-de", "de--at", "*;q=9"] * 50),
}


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_bad_accept_language_is_fast_and_gets_the_default(name):
    app = _app()
    with TestClient(app) as client:
        client.get("/")  # warm up
        started = time.perf_counter()
        response = client.get("/", headers={"accept-language": BAD_HEADERS[name].encode()})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.headers["content-language"] == "en"
    assert elapsed < 0.05, f"{name}: {elapsed * 1000:.1f} ms"


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_bad_headers_do_not_grow_memory(name):
    i18n = I18n(languages=["en", "de", "fr"], default="en")
    App(secret_key=SECRET, plugins=[i18n])
    scope = {"type": "http", "headers": [(b"accept-language", BAD_HEADERS[name].encode())]}
    for _ in range(50):
        i18n.select_language(scope)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(1000):
        assert i18n.select_language(scope) == "en"
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 100 * 1024, f"{name}: grew {growth} bytes"


def test_bad_headers_through_the_app_do_not_grow_memory():
    app = _app()
    headers = {"accept-language": BAD_HEADERS["invalid tags"].encode()}
    with TestClient(app) as client:
        for _ in range(50):
            client.get("/", headers=headers)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            client.get("/", headers=headers)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    assert after - before < 100 * 1024
