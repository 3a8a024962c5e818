"""cache_control, condition/etag/last_modified and ETagMiddleware (RFC 9110 section 13)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oakling import App, Request, Response
from oakling.cachecontrol import (
    cache_control,
    condition,
    etag,
    last_modified,
    never_cache,
    patch_cache_control,
)
from oakling.config import Settings
from oakling.middleware import Middleware
from oakling.middleware.etag import ETagMiddleware
from oakling.testing import TestClient

SECRET = "cachecontrol-tests-secret-key-0123456789abcdefghij"
MODIFIED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MODIFIED_HTTP = "Fri, 02 Jan 2026 03:04:05 GMT"


def make_app(**kwargs: object) -> App:
    return App(settings=Settings(SECRET_KEY=SECRET), **kwargs)  # type: ignore[arg-type]


def test_patch_cache_control_merges_like_django() -> None:
    headers = [(b"cache-control", b"private, max-age=600")]
    patch_cache_control(headers, public=True, max_age=60, no_transform=True)
    assert headers == [(b"cache-control", b"max-age=60, public, no-transform")]
    response = Response("x", headers={"Cache-Control": "no-transform"})
    patch_cache_control(response.headers, no_transform=False, s_maxage=10)
    assert response.headers["cache-control"] == "s-maxage=10"


def test_cache_control_decorator_on_every_kind_of_result(as_handler) -> None:  # type: ignore[no-untyped-def]
    app = make_app()

    @app.get("/text")
    @cache_control(max_age=3600, public=True)
    @as_handler
    def text() -> str:
        return "hello"

    @app.get("/response")
    @cache_control(max_age=60)
    @as_handler
    def response() -> Response:
        return Response("x", headers={"Cache-Control": "max-age=600, public"})

    @app.get("/tuple", status_code=201)
    @cache_control(private=True)
    @as_handler
    def as_tuple() -> tuple[dict[str, int], dict[str, str]]:
        return {"n": 1}, {"X-Extra": "1"}

    with TestClient(app) as client:
        answer = client.get("/text")
        assert answer.text == "hello"
        assert answer.headers["cache-control"] == "max-age=3600, public"
        assert client.get("/response").headers["cache-control"] == "max-age=60, public"
        answer = client.get("/tuple")
        assert answer.status_code == 201
        assert answer.json() == {"n": 1}
        assert answer.headers["cache-control"] == "private"
        assert answer.headers["x-extra"] == "1"


def conditional_app(calls: list[str]) -> App:
    app = make_app()
    versions = {"1": 7}

    def task_etag(request: Request) -> str:
        return f"task-{request.path_params['id']}-v{versions[request.path_params['id']]}"

    async def task_modified(request: Request) -> datetime:
        return MODIFIED

    @app.get("/tasks/{id}")
    @condition(etag_func=task_etag, last_modified_func=task_modified)
    def read(id: str) -> dict[str, str]:
        calls.append("read")
        return {"id": id}

    @app.put("/tasks/{id}")
    @etag(task_etag)
    def write(id: str) -> dict[str, str]:
        calls.append("write")
        versions[id] += 1
        return {"id": id}

    @app.get("/dated")
    @last_modified(lambda request: MODIFIED.timestamp())
    def dated() -> str:
        calls.append("dated")
        return "dated"

    @app.get("/own")
    @condition()
    def own() -> Response:
        calls.append("own")
        return Response("mine", headers={"ETag": '"own-1"'})

    @app.get("/option", middleware=[condition()])
    def option() -> Response:
        return Response("mine", headers={"ETag": 'W/"weak-1"'})

    return app


def test_a_matching_if_none_match_is_a_304_without_running_the_handler() -> None:
    calls: list[str] = []
    with TestClient(conditional_app(calls)) as client:
        first = client.get("/tasks/1")
        assert first.status_code == 200
        assert first.headers["etag"] == '"task-1-v7"'
        assert first.headers["last-modified"] == MODIFIED_HTTP
        again = client.get("/tasks/1", headers={"If-None-Match": '"task-1-v7"'})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == '"task-1-v7"'
        assert calls == ["read"]
        # weak comparison, lists and * (RFC 9110 section 13.1.2)
        for value in ['W/"task-1-v7"', '"other", "task-1-v7"', "*"]:
            assert client.get("/tasks/1", headers={"If-None-Match": value}).status_code == 304
        assert client.get("/tasks/1", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_if_modified_since_gives_304_when_not_modified() -> None:
    calls: list[str] = []
    with TestClient(conditional_app(calls)) as client:
        assert client.get("/dated", headers={"If-Modified-Since": MODIFIED_HTTP}).status_code == 304
        older = "Thu, 01 Jan 2026 00:00:00 GMT"
        assert client.get("/dated", headers={"If-Modified-Since": older}).status_code == 200
        assert client.get("/dated", headers={"If-Modified-Since": "garbage"}).status_code == 200
        assert calls == ["dated", "dated"]


def test_a_lost_update_is_refused_with_412_before_the_handler_runs() -> None:
    calls: list[str] = []
    with TestClient(conditional_app(calls)) as client:
        tag = client.get("/tasks/1").headers["etag"]
        assert client.put("/tasks/1", headers={"If-Match": tag}).status_code == 200
        # the second writer still holds the old tag
        stale = client.put("/tasks/1", headers={"If-Match": tag})
        assert stale.status_code == 412
        assert calls == ["read", "write"]
        assert client.put("/tasks/1", headers={"If-Match": '"task-1-v8"'}).status_code == 200


def test_a_view_setting_its_own_etag_answers_304() -> None:
    calls: list[str] = []
    with TestClient(conditional_app(calls)) as client:
        assert client.get("/own").headers["etag"] == '"own-1"'
        answer = client.get("/own", headers={"If-None-Match": '"own-1"'})
        assert answer.status_code == 304
        assert answer.content == b""
        assert "content-length" not in answer.headers or answer.headers["content-length"] == "0"
        assert client.get("/option", headers={"If-None-Match": '"weak-1"'}).status_code == 304


def test_etag_middleware_tags_bodies_and_answers_304() -> None:
    app = make_app(middleware=[Middleware(ETagMiddleware)])

    @app.get("/page")
    def page() -> str:
        return "the same body"

    @app.get("/own")
    def own() -> Response:
        return Response("x", headers={"ETag": '"mine"'})

    @app.get("/private")
    @never_cache
    def private() -> str:
        return "secret"

    @app.post("/page")
    def post_page() -> str:
        return "posted"

    with TestClient(app) as client:
        first = client.get("/page")
        tag = first.headers["etag"]
        assert tag.startswith('"') and len(tag) == 34
        assert client.get("/page").headers["etag"] == tag
        answer = client.get("/page", headers={"If-None-Match": tag})
        assert answer.status_code == 304
        assert answer.content == b""
        # NOTE: a HEAD response has no body to hash; a view's own ETag still counts
        assert "etag" not in client.head("/page").headers
        assert client.head("/own", headers={"If-None-Match": '"mine"'}).status_code == 304
        assert client.get("/own", headers={"If-None-Match": '"mine"'}).status_code == 304
        assert "etag" not in client.get("/private").headers
        assert "etag" not in client.post("/page").headers
        assert client.get("/page", headers={"If-None-Match": '"other"'}).status_code == 200


def test_etag_middleware_leaves_streams_alone() -> None:
    from oakling.responses import StreamingResponse

    app = make_app(middleware=[Middleware(ETagMiddleware)])

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a", b"b"]))

    with TestClient(app) as client:
        answer = client.get("/stream")
        assert answer.content == b"ab"
        assert "etag" not in answer.headers


@pytest.mark.parametrize("bad", ['"unterminated', "W/", ",,,", "x" * 10000])
def test_malformed_conditional_headers_are_ignored_not_500(bad: str) -> None:
    calls: list[str] = []
    with TestClient(conditional_app(calls)) as client:
        for header in ("If-None-Match", "If-Modified-Since", "If-Unmodified-Since"):
            assert client.get("/tasks/1", headers={header: bad}).status_code == 200
