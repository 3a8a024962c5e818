"""The ``{% cache %}`` template tag: fragments cached by name and vary-on values."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import jinja2
import pytest

from oakling import App, Request
from oakling.cache import Cache, CacheExtension, MemoryCache, caches, make_fragment_key
from oakling.config import Settings
from oakling.testing import TestClient

SECRET = "cache-fragment-tests-secret-key-0123456789abcdefghij"


@pytest.fixture
def store() -> Iterator[MemoryCache]:
    cache = MemoryCache()
    caches.configure({"default": {}, "other": {}}, {"default": cache, "other": MemoryCache()})
    yield cache
    caches.configure({"default": {"BACKEND": "memory"}})


def environment(enable_async: bool = False) -> jinja2.Environment:
    return jinja2.Environment(
        extensions=[CacheExtension], autoescape=True, enable_async=enable_async
    )


TEMPLATE = "<ul>{% cache 60, 'sidebar', user %}<li>{{ user }} {{ count() }}</li>{% endcache %}</ul>"


def counter() -> tuple[list[int], object]:
    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        return len(calls)

    return calls, count


def test_a_fragment_is_rendered_once_per_key(store: MemoryCache) -> None:
    calls, count = counter()
    template = environment().from_string(TEMPLATE)
    assert template.render(user="ann", count=count) == "<ul><li>ann 1</li></ul>"
    assert template.render(user="ann", count=count) == "<ul><li>ann 1</li></ul>"
    assert template.render(user="bob", count=count) == "<ul><li>bob 2</li></ul>"
    assert len(calls) == 2
    assert store.get_bytes(make_fragment_key("sidebar", ("ann",))) is not None


def test_async_templates_cache_fragments_too(store: MemoryCache) -> None:
    calls, count = counter()
    template = environment(enable_async=True).from_string(TEMPLATE)

    async def render() -> list[str]:
        return [await template.render_async(user="ann", count=count) for _ in range(2)]

    assert asyncio.run(render()) == ["<ul><li>ann 1</li></ul>"] * 2
    assert len(calls) == 1


def test_cached_fragments_stay_escaped_once(store: MemoryCache) -> None:
    template = environment().from_string("{% cache 60, 'x' %}{{ value }}{% endcache %}|{{ value }}")
    first = template.render(value="<b>")
    assert first == "&lt;b&gt;|&lt;b&gt;"
    assert template.render(value="<b>") == first


def test_using_names_another_cache(store: MemoryCache) -> None:
    template = environment().from_string("{% cache 60, 'f', using='other' %}{{ n }}{% endcache %}")
    assert template.render(n=1) == "1"
    assert template.render(n=2) == "1"
    assert caches["other"].get_bytes(make_fragment_key("f")) is not None
    assert store.get_bytes(make_fragment_key("f")) is None


def test_the_tag_needs_a_name() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        environment().from_string("{% cache 60 %}x{% endcache %}")


def test_the_plugin_adds_the_tag_to_the_apps_templates(tmp_path) -> None:
    (tmp_path / "page.html").write_text("{% cache 60, 'greeting' %}hello {{ name }}{% endcache %}")
    app = App(
        settings=Settings(SECRET_KEY=SECRET),
        template_folder=str(tmp_path),
        plugins=[Cache({"default": MemoryCache()})],
    )

    @app.get("/")
    def index(request: Request, name: str = "world"):
        return app.templates.response(request, "page.html", {"name": name})

    with TestClient(app) as client:
        assert client.get("/?name=ann").text == "hello ann"
        assert client.get("/?name=bob").text == "hello ann"
