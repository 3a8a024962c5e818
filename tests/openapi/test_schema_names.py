"""Same-named classes from msgspec, pydantic and two modules get distinct, stable names."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from openapi_spec_validator import validate

from oakling import App
from oakling.openapi import build_document
from tests.openapi.clash import first, second


def clash_app() -> App:
    app = App()

    @app.post("/first")
    def post_first(item: first.Item) -> first.Item:
        return item

    @app.post("/second")
    def post_second(item: second.Item) -> second.Item:
        return item

    @app.post("/pydantic")
    def post_pydantic(item: second.PydanticItem) -> second.PydanticItem:
        return item

    @app.post("/tag")
    def post_tag(tag: second.Tag2) -> list[second.Tag]:
        return []

    return app


def body_ref(document: dict[str, Any], path: str) -> str:
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return str(schema["$ref"]).rsplit("/", 1)[1]


def test_same_named_schemas_do_not_overwrite_each_other() -> None:
    document = build_document(clash_app(), title="t", version="1")
    validate(document)
    schemas = document["components"]["schemas"]
    names = {path: body_ref(document, path) for path in ("/first", "/second", "/pydantic", "/tag")}
    assert len(set(names.values())) == 4, names
    assert set(schemas[names["/first"]]["properties"]) == {"sku"}
    assert set(schemas[names["/second"]]["properties"]) == {"count"}
    assert set(schemas[names["/pydantic"]]["properties"]) == {"price", "tags"}
    assert set(schemas[names["/tag"]]["properties"]) == {"colour"}
    # The pydantic Tag nested in the pydantic Item points at the pydantic Tag.
    tags = schemas[names["/pydantic"]]["properties"]["tags"]["items"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[tags]["properties"]) == {"label"}
    response = document["paths"]["/tag"]["post"]["responses"]["200"]["content"]
    listed = response["application/json"]["schema"]["items"]["$ref"].rsplit("/", 1)[1]
    assert listed == tags
    # Every $ref resolves.
    text = str(document)
    for name in schemas:
        assert (
            f"#/components/schemas/{name}" in text
            or name.startswith("HTTP")
            or name == "ValidationError"
        )


def test_the_names_are_the_same_from_one_start_to_the_next() -> None:
    script = (
        "import json, sys; sys.path.insert(0, '.');"
        "from tests.openapi.test_schema_names import clash_app;"
        "from oakling.openapi import build_document;"
        "print(json.dumps(sorted(build_document(clash_app(), title='t', version='1')"
        "['components']['schemas'])))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1, runs
    assert build_document(clash_app(), title="t", version="1")["components"]["schemas"]
