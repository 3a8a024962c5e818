"""``cache_page``: hits skip the handler, and the attacks a page cache invites fail.

Django's per-view cache is known for two foot-guns: a page that depends on
who asked served to someone else, and stampedes on expiry. These tests
attack both, plus cache poisoning through unkeyed headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cache_support import close_cache, make_cache

from oakling import App, Request
from oakling.cache import Cache, MemoryCache, cache_page, caches
from oakling.config import Settings
from oakling.responses import HTMLResponse, PlainTextResponse
from oakling.testing import AsyncClient, TestClient

SECRET = "page-cache-tests-secret-key-0123456789abcdefghij"


@pytest.fixture
def store() -> Iterator[MemoryCache]:
    cache = MemoryCache(max_entries=1000)
    yield cache
    cache.clear()


def counted_app(store: MemoryCache, **plugins_kwargs: object) -> tuple[App, list[str]]:
    calls: list[str] = []
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])

    @app.get("/page")
    @cache_page(60)
    def page(request: Request) -> PlainTextResponse:
        calls.append(request.url.query)
        return PlainTextResponse(f"page {len(calls)} {request.url.query}")

    @app.get("/async")
    @cache_page(60)
    async def async_page() -> str:
        calls.append("async")
        return f"async {len(calls)}"

    @app.get("/option", middleware=[cache_page(60)])
    def option() -> str:
        calls.append("option")
        return f"option {len(calls)}"

    @app.post("/page")
    @cache_page(60)
    def post_page() -> str:
        calls.append("post")
        return f"post {len(calls)}"

    return app, calls


def test_a_hit_is_served_without_running_the_handler(store: MemoryCache) -> None:
    app, calls = counted_app(store)
    with TestClient(app) as client:
        first = client.get("/page")
        second = client.get("/page")
        assert first.text == second.text == "page 1 "
        assert calls == [""]
        assert "age" in second.headers
        assert client.get("/async").text == client.get("/async").text == "async 2"
        assert client.get("/option").text == client.get("/option").text == "option 3"


def test_the_query_string_is_part_of_the_key(store: MemoryCache) -> None:
    app, calls = counted_app(store)
    with TestClient(app) as client:
        assert client.get("/page?a=1").text == "page 1 a=1"
        assert client.get("/page?a=2").text == "page 2 a=2"
        assert client.get("/page?a=1").text == "page 1 a=1"
        assert len(calls) == 2


def test_head_is_served_from_the_get_entry(store: MemoryCache) -> None:
    app, calls = counted_app(store)
    with TestClient(app) as client:
        client.get("/page")
        head = client.head("/page")
        assert head.status_code == 200
        assert head.content == b""
        assert len(calls) == 1


def test_post_is_never_cached(store: MemoryCache) -> None:
    app, calls = counted_app(store)
    with TestClient(app) as client:
        assert client.post("/page").text == "post 1"
        assert client.post("/page").text == "post 2"


def test_set_cookie_responses_are_never_cached(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/cookie")
    @cache_page(60)
    def cookie() -> PlainTextResponse:
        calls.append(1)
        response = PlainTextResponse(f"token {len(calls)}")
        response.set_cookie("token", f"secret-{len(calls)}")
        return response

    with TestClient(app) as client:
        first = client.get("/cookie")
        second = client.get("/cookie")
        assert first.headers["set-cookie"].startswith("token=secret-1")
        assert second.headers["set-cookie"].startswith("token=secret-2")
        assert len(calls) == 2
    assert len(store) == 0


@pytest.mark.parametrize("policy", ["private", "no-store", "no-cache", "private, max-age=60"])
def test_private_and_no_store_responses_are_never_cached(store: MemoryCache, policy: str) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/mine")
    @cache_page(60)
    def mine() -> PlainTextResponse:
        calls.append(1)
        return PlainTextResponse(f"mine {len(calls)}", headers={"Cache-Control": policy})

    with TestClient(app) as client:
        assert client.get("/mine").text == "mine 1"
        assert client.get("/mine").text == "mine 2"


def test_errors_are_not_cached(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/flaky")
    @cache_page(60)
    def flaky() -> PlainTextResponse:
        calls.append(1)
        return PlainTextResponse("busy", status_code=503)

    with TestClient(app) as client:
        client.get("/flaky")
        client.get("/flaky")
        assert len(calls) == 2


def test_authenticated_requests_are_not_served_from_or_stored_in_the_cache(
    store: MemoryCache,
) -> None:
    app, calls = counted_app(store)
    with TestClient(app) as client:
        client.get("/page")  # stored for anonymous requests
        token = {"Authorization": "Bearer user-a"}
        assert client.get("/page", headers=token).text == "page 2 "
        assert client.get("/page", headers=token).text == "page 3 "
        assert client.get("/page").text == "page 1 "


def test_a_view_may_opt_in_to_caching_authenticated_requests(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/public")
    @cache_page(60, cache_authenticated=True)
    def public() -> PlainTextResponse:
        calls.append(1)
        return PlainTextResponse("same for all", headers={"Vary": "Authorization"})

    with TestClient(app) as client:
        for _ in range(2):
            client.get("/public", headers={"Authorization": "Bearer a"})
        client.get("/public", headers={"Authorization": "Bearer b"})
        assert len(calls) == 2  # NOTE: one per Authorization value


def sessions_app(store: MemoryCache, *, with_plugin: bool = True) -> tuple[App, list[str]]:
    from oakling.sessions import Sessions

    plugins: list[object] = [Sessions()]
    if with_plugin:
        plugins.insert(0, Cache({"default": store}))
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=plugins)
    calls: list[str] = []

    @app.post("/login/{name}")
    def login(request: Request, name: str) -> str:
        request.session["user"] = name
        return "ok"

    @app.get("/me")
    @cache_page(60, cache=store)
    def me(request: Request) -> HTMLResponse:
        user = request.session.get("user", "anonymous")
        calls.append(user)
        return HTMLResponse(f"<p>hello {user}</p>")

    @app.get("/explicit")
    @cache_page(60, cache=store)
    def explicit(request: Request) -> HTMLResponse:
        cookie = request.cookies.get("session", "")
        calls.append(cookie[-12:])
        # NOTE: a view keying on the cookie itself, Vary says so, no session read
        return HTMLResponse(f"<p>{cookie[-12:]}</p>", headers={"Vary": "Cookie"})

    return app, calls


def test_two_users_never_get_each_others_page(store: MemoryCache) -> None:
    app, calls = sessions_app(store)
    with TestClient(app) as alice, TestClient(app) as bob:
        alice.post("/login/alice")
        bob.post("/login/bob")
        for _ in range(3):
            assert alice.get("/me").text == "<p>hello alice</p>"
            assert bob.get("/me").text == "<p>hello bob</p>"
        # NOTE: reading the session adds Vary: Cookie and private: never stored
        assert calls.count("alice") == 3


def test_pages_varying_on_cookie_are_kept_per_cookie(store: MemoryCache) -> None:
    app, calls = sessions_app(store)
    with TestClient(app) as alice, TestClient(app) as bob:
        alice.post("/login/alice")
        bob.post("/login/bob")
        alice_page = alice.get("/explicit").text
        bob_page = bob.get("/explicit").text
        assert alice_page != bob_page
        for _ in range(2):
            assert alice.get("/explicit").text == alice_page
            assert bob.get("/explicit").text == bob_page
        assert len(calls) == 2
        assert "Cookie" in alice.get("/explicit").headers["vary"]


def test_without_the_plugin_a_request_with_a_session_is_never_stored(
    store: MemoryCache, caplog: pytest.LogCaptureFixture
) -> None:
    app, calls = sessions_app(store, with_plugin=False)
    with TestClient(app) as alice, caplog.at_level(logging.WARNING, "oakling.cache"):
        alice.post("/login/alice")
        alice.get("/explicit")
        alice.get("/explicit")
        assert len(calls) == 2
    assert len(store) == 0


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-Host", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Proto", "Forwarded"],
)
def test_a_poisoned_unkeyed_header_never_lands_in_a_cached_page(
    store: MemoryCache, header: str
) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])

    @app.get("/links")
    @cache_page(60)
    def links(request: Request) -> HTMLResponse:
        # NOTE: a view (or a proxy-aware url_for) trusting the header
        host = request.headers.get(header, "example.com")
        return HTMLResponse(f'<script src="https://{host}/app.js"></script>')

    with TestClient(app) as attacker, TestClient(app) as victim:
        poisoned = attacker.get("/links", headers={header: "evil.example"})
        assert "evil.example" in poisoned.text
        assert "evil.example" in attacker.get("/links", headers={header: "evil.example"}).text
        for _ in range(2):
            assert "evil.example" not in victim.get("/links").text


def test_the_host_is_part_of_the_key(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])

    @app.get("/host")
    @cache_page(60)
    def host(request: Request) -> str:
        return request.headers["host"]

    with TestClient(app) as client:
        assert client.get("/host", headers={"Host": "a.example"}).text == "a.example"
        assert client.get("/host", headers={"Host": "b.example"}).text == "b.example"


def test_large_bodies_are_not_stored(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/big")
    @cache_page(60, max_size=1000)
    def big() -> str:
        calls.append(1)
        return "x" * 2000

    with TestClient(app) as client:
        assert len(client.get("/big").text) == 2000
        assert len(client.get("/big").text) == 2000
        assert len(calls) == 2


def test_an_expired_page_is_computed_again(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/short")
    @cache_page(0.3)
    def short() -> str:
        calls.append(1)
        return f"v{len(calls)}"

    import time

    with TestClient(app) as client:
        assert client.get("/short").text == "v1"
        assert client.get("/short").text == "v1"
        time.sleep(0.4)
        assert client.get("/short").text == "v2"


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_stampede_100_concurrent_requests_for_an_expired_key_compute_once(
    backend: str, tmp_path: Path
) -> None:
    cache = make_cache(backend, tmp_path)
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": cache})])
    calls: list[int] = []

    @app.get("/slow")
    @cache_page(2)  # NOTE: long enough for 100 requests on a loaded machine
    async def slow() -> str:
        calls.append(1)
        await asyncio.sleep(0.2)
        return f"computed {len(calls)}"

    try:
        async with AsyncClient(app) as client:
            assert (await client.get("/slow")).text == "computed 1"
            await asyncio.sleep(2.2)  # NOTE: the entry has expired
            answers = await asyncio.gather(*(client.get("/slow") for _ in range(100)))
        assert {answer.status_code for answer in answers} == {200}
        assert {answer.text for answer in answers} == {"computed 2"}
        assert len(calls) == 2
    finally:
        await cache.aclear()
        await cache.aclose()


@pytest.mark.anyio
async def test_stampede_waiters_do_not_get_an_uncacheable_response(store: MemoryCache) -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": store})])
    calls: list[int] = []

    @app.get("/personal")
    @cache_page(60)
    async def personal() -> PlainTextResponse:
        calls.append(1)
        number = len(calls)
        await asyncio.sleep(0.1)
        response = PlainTextResponse(f"for {number}")
        response.set_cookie("id", str(number))
        return response

    async with AsyncClient(app) as client:
        answers = await asyncio.gather(*(client.get("/personal") for _ in range(5)))
    assert len({answer.text for answer in answers}) == 5


def test_pages_on_redis_are_shared_between_apps(tmp_path: Path) -> None:
    """Two workers (two apps, two clients) share one Redis cache."""
    first_cache = make_cache("redis", tmp_path, prefix="shared-pages")
    second_cache = make_cache("redis", tmp_path, prefix="shared-pages")
    calls: list[str] = []

    def build(cache: object, name: str) -> App:
        app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": cache})])

        @app.get("/shared")
        @cache_page(60)
        def shared() -> str:
            calls.append(name)
            return f"from {name}"

        return app

    try:
        with (
            TestClient(build(first_cache, "one")) as one,
            TestClient(build(second_cache, "two")) as two,
        ):
            assert one.get("/shared").text == "from one"
            assert two.get("/shared").text == "from one"
        assert calls == ["one"]
    finally:
        close_cache(first_cache)
        close_cache(second_cache)


def test_caches_alias_is_looked_up_at_each_request(store: MemoryCache) -> None:
    app = App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[Cache({"default": MemoryCache(), "pages": store})],
    )

    @app.get("/aliased")
    @cache_page(60, cache="pages")
    def aliased() -> str:
        return "x"

    with TestClient(app) as client:
        client.get("/aliased")
    assert caches["pages"] is store
    assert len(store) == 1


def test_cache_page_needs_a_positive_timeout() -> None:
    with pytest.raises(ValueError):
        cache_page(0)


def test_httpx_is_the_client() -> None:
    assert httpx.__version__


@pytest.mark.parametrize("order", ["cache first", "i18n first"])
def test_a_translated_page_is_never_served_in_another_language(
    store: MemoryCache, order: str
) -> None:
    """The i18n battery's Vary: Accept-Language keys the page, whatever the plugin order."""
    pytest.importorskip("babel")
    from oakling.i18n import I18n, gettext

    i18n = I18n(languages=["en", "de"], default="en", chain=("header",))
    cache = Cache({"default": store})
    plugins = [cache, i18n] if order == "cache first" else [i18n, cache]
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=plugins)
    calls: list[str] = []

    @app.get("/missing")
    @cache_page(60)
    async def missing() -> str:
        calls.append("handler")
        return gettext("Not Found")

    with TestClient(app) as client:
        german = client.get("/missing", headers={"accept-language": "de"})
        english = client.get("/missing", headers={"accept-language": "en"})
        german_again = client.get("/missing", headers={"accept-language": "de"})
    assert german.text == german_again.text == "Nicht gefunden"
    assert english.text == "Not Found"
    assert german_again.headers["content-language"] == "de"
    assert english.headers["content-language"] == "en"
    assert "accept-language" in german_again.headers["vary"].lower()
    assert calls == ["handler", "handler"]  # the second German request was a hit
