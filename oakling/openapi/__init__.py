"""oakling.openapi: the OpenAPI 3.1 document, Swagger UI and ReDoc, offline.

Install the plugin::

    from oakling import App
    from oakling.openapi import OpenAPI

    app = App(plugins=[OpenAPI(title="Tasks", version="1.0")])

``/openapi.json``, ``/docs`` and ``/redoc`` are then served; the document is
built once at startup from the routes (see :mod:`oakling.openapi.schema`),
and the pages' assets are files of this package. See docs/openapi.md.
"""

from __future__ import annotations

from .plugin import OpenAPI
from .schema import OPENAPI_VERSION, SecurityScheme, build_document

__all__ = ["OPENAPI_VERSION", "OpenAPI", "SecurityScheme", "build_document"]
