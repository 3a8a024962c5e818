"""Route limits: where they come from, what a 429 says, who is counted."""

from __future__ import annotations

import re
from typing import Annotated

import pytest

from oakling import App, Request, Router, View
from oakling.exceptions import ImproperlyConfigured
from oakling.ratelimit import (
    Limiter,
    RateLimit,
    has_scope,
    parse_limits,
    ratelimit,
    ratelimit_exempt,
    token_key,
)
from oakling.testing import TestClient

JSON = {"Accept": "application/json"}


def statuses(client: TestClient, path: str, times: int, **options: object) -> list[int]:
    return [client.get(path, **options).status_code for _ in range(times)]  # type: ignore[arg-type]


def test_decorator_limits_the_route_and_answers_429_with_retry_after() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/limited")
    @ratelimit("3/minute")
    def limited() -> str:
        return "ok"

    @app.get("/free")
    def free() -> str:
        return "free"

    with TestClient(app) as client:
        assert statuses(client, "/limited", 3) == [200, 200, 200]
        refused = client.get("/limited", headers=JSON)
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Rate limit exceeded: 3 per 1 minute"}
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # the other route is not counted with it
        assert statuses(client, "/free", 10) == [200] * 10


def test_429_fields_follow_the_ietf_ratelimit_headers_draft() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    @ratelimit("2/minute;5/hour")
    def x() -> str:
        return "ok"

    with TestClient(app) as client:
        statuses(client, "/x", 2)
        refused = client.get("/x", headers=JSON)
    assert refused.status_code == 429
    # draft-ietf-httpapi-ratelimit-headers-10: sf-lists of "name";params
    assert refused.headers["ratelimit-policy"] == (
        '"2-per-minute";q=2;w=60, "5-per-hour";q=5;w=3600'
    )
    match = re.fullmatch(r'"2-per-minute";r=0;t=(\d+)', refused.headers["ratelimit"])
    assert match is not None
    assert int(match.group(1)) == int(refused.headers["retry-after"])


def test_429_is_a_short_html_page_for_a_browser() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/page")
    @ratelimit("1/minute")
    def page() -> str:
        return "ok"

    with TestClient(app) as client:
        client.get("/page")
        refused = client.get("/page", headers={"Accept": "text/html"})
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert "Rate limit exceeded" in refused.text
    assert "Traceback" not in refused.text


def test_several_decorators_each_count() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    @ratelimit("5/minute")
    @ratelimit("2/second")
    def x() -> str:
        return "ok"

    with TestClient(app) as client:
        assert statuses(client, "/x", 3) == [200, 200, 429]


def test_route_option_limits_the_route() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x", opt={"ratelimit": "2/minute"})
    def x() -> str:
        return "ok"

    with TestClient(app) as client:
        assert statuses(client, "/x", 3) == [200, 200, 429]


def test_bad_route_option_fails_at_startup() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x", opt={"ratelimit": "two per minute"})
    def x() -> str:
        return "ok"

    with pytest.raises(ImproperlyConfigured, match="bad rate limit"):
        app.build()


def test_bad_decorator_limit_fails_at_import() -> None:
    with pytest.raises(ImproperlyConfigured, match="write it like"):
        ratelimit("lots")


def test_app_default_limits_count_per_route_and_route_limits_override_them() -> None:
    app = App(debug=True, plugins=[Limiter(default_limits="2/minute")])

    @app.get("/a")
    def a() -> str:
        return "a"

    @app.get("/b")
    def b() -> str:
        return "b"

    @app.get("/own")
    @ratelimit("4/minute")
    def own() -> str:
        return "own"

    @app.get("/exempt")
    @ratelimit_exempt
    def exempt() -> str:
        return "exempt"

    with TestClient(app) as client:
        assert statuses(client, "/a", 3) == [200, 200, 429]
        assert statuses(client, "/b", 3) == [200, 200, 429]
        assert statuses(client, "/own", 5) == [200] * 4 + [429]
        assert statuses(client, "/exempt", 10) == [200] * 10


def test_default_limits_from_the_setting() -> None:
    from oakling.config import Settings

    settings = Settings(DEBUG=True, extra={"RATELIMIT_DEFAULT": "1/minute"})
    app = App(settings=settings, plugins=[Limiter()])

    @app.get("/a")
    def a() -> str:
        return "a"

    with TestClient(app) as client:
        assert statuses(client, "/a", 2) == [200, 429]


def test_override_defaults_false_adds_to_the_app_limits() -> None:
    app = App(debug=True, plugins=[Limiter(default_limits="3/minute")])

    @app.get("/a")
    @ratelimit("10/minute", override_defaults=False)
    def a() -> str:
        return "a"

    with TestClient(app) as client:
        assert statuses(client, "/a", 4) == [200, 200, 200, 429]


def test_router_limits_are_one_bucket_for_the_router() -> None:
    app = App(debug=True, plugins=[Limiter()])
    api = ratelimit("3/minute")(Router("/api", name="api"))

    @api.get("/a")
    def a() -> str:
        return "a"

    @api.get("/b")
    def b() -> str:
        return "b"

    @app.get("/outside")
    def outside() -> str:
        return "outside"

    app.include(api)
    with TestClient(app) as client:
        assert statuses(client, "/api/a", 2) == [200, 200]
        assert statuses(client, "/api/b", 2) == [200, 429]
        assert statuses(client, "/outside", 5) == [200] * 5


def test_methods_limits_only_those_methods() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.route("/x", methods=["GET", "POST"])
    @ratelimit("1/minute", methods=["POST"])
    def x() -> str:
        return "x"

    with TestClient(app) as client:
        assert [client.post("/x").status_code for _ in range(2)] == [200, 429]
        assert statuses(client, "/x", 3) == [200, 200, 200]


def test_view_class_limits() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @ratelimit("1/minute")
    class Thing(View):
        def get(self) -> str:
            return "thing"

    app.add_route("/thing", Thing)
    with TestClient(app) as client:
        assert statuses(client, "/thing", 2) == [200, 429]


def test_exempt_when_predicate_skips_the_count() -> None:
    app = App(debug=True, plugins=[Limiter()])

    def internal(request: Request) -> bool:
        return request.headers.get("x-internal") == "yes"

    @app.get("/x")
    @ratelimit("1/minute", exempt_when=internal)
    def x() -> str:
        return "x"

    with TestClient(app) as client:
        assert statuses(client, "/x", 3, headers={"X-Internal": "yes"}) == [200] * 3
        assert statuses(client, "/x", 2) == [200, 429]


def test_token_key_gives_each_token_its_own_bucket() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    @ratelimit("2/minute", key=token_key)
    def x() -> str:
        return "x"

    one = {"Authorization": "Bearer one"}
    two = {"Authorization": "Bearer two"}
    with TestClient(app) as client:
        assert statuses(client, "/x", 3, headers=one) == [200, 200, 429]
        assert statuses(client, "/x", 2, headers=two) == [200, 200]
        # no token: not counted by this key
        assert statuses(client, "/x", 4) == [200] * 4


def test_custom_key_callable() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    @ratelimit("1/minute", key=lambda request: request.query_params.get("tenant"))
    def x() -> str:
        return "x"

    with TestClient(app) as client:
        assert statuses(client, "/x?tenant=a", 2) == [200, 429]
        assert statuses(client, "/x?tenant=b", 1) == [200]


PER_MINUTE = RateLimit("2/minute")


def test_dependency_limits_like_fastapi_limiter() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    def x(_: Annotated[None, PER_MINUTE]) -> str:
        return "x"

    @app.get("/y")
    def y(_: None = PER_MINUTE) -> str:
        return "y"

    with TestClient(app) as client:
        assert statuses(client, "/x", 3, headers=JSON) == [200, 200, 429]
        # per route unless a scope is given
        assert statuses(client, "/y", 1) == [200]


def test_fixed_window_strategy() -> None:
    app = App(debug=True, plugins=[Limiter(strategy="fixed-window")])

    @app.get("/x")
    @ratelimit("2/minute")
    def x() -> str:
        return "x"

    with TestClient(app) as client:
        assert statuses(client, "/x", 3) == [200, 200, 429]


def test_unknown_strategy_is_a_startup_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="RATELIMIT_STRATEGY"):
        App(debug=True, plugins=[Limiter(strategy="leaky-bucket")])


def test_headers_enabled_reports_remaining_on_success() -> None:
    app = App(debug=True, plugins=[Limiter(headers_enabled=True)])

    @app.get("/x")
    @ratelimit("5/minute")
    def x() -> str:
        return "x"

    with TestClient(app) as client:
        first = client.get("/x")
        second = client.get("/x")
    assert first.headers["ratelimit-policy"] == '"5-per-minute";q=5;w=60'
    assert re.fullmatch(r'"5-per-minute";r=4;t=\d+', first.headers["ratelimit"])
    assert re.fullmatch(r'"5-per-minute";r=3;t=\d+', second.headers["ratelimit"])


def test_disabled_limiter_counts_nothing() -> None:
    app = App(debug=True, plugins=[Limiter(enabled=False)])

    @app.get("/x")
    @ratelimit("1/minute")
    def x() -> str:
        return "x"

    with TestClient(app) as client:
        assert statuses(client, "/x", 3) == [200] * 3


def test_has_scope_exempts_tokens_with_the_scope() -> None:
    class Auth:
        method = "token"
        scopes = frozenset({"ratelimit:exempt"})

    predicate = has_scope("ratelimit:exempt")

    class Conn:
        scope = {"auth": Auth()}

    assert predicate(Conn()) is True  # type: ignore[arg-type]
    Conn.scope = {"auth": None}
    assert predicate(Conn()) is False  # type: ignore[arg-type]


def test_unlimited_routes_keep_the_fast_path() -> None:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/free")
    def free() -> str:
        return "free"

    @app.get("/limited")
    @ratelimit("1/minute")
    def limited() -> str:
        return "limited"

    table = app.route_table
    free_handler = table.static["/free"]["GET"]
    limited_handler = table.static["/limited"]["GET"]
    assert free_handler.fast and not free_handler.before
    assert not limited_handler.fast and len(limited_handler.before) == 1


def test_parse_limits_reads_several() -> None:
    assert [str(item) for item in parse_limits("5/second; 100 per hour")] == [
        "5 per 1 second",
        "100 per 1 hour",
    ]
