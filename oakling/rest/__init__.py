"""oakling.rest: REST CRUD over a SQLAlchemy model, its schemas and its form.

One model, four faces: the admin (:mod:`oakling.admin`), the CRUD routes
(:class:`ModelRouter`), the OpenAPI schema (the Structs of
:func:`model_schemas`, read by :mod:`oakling.openapi`) and an HTML form
(:func:`model_form`) all read the same column definitions::

    from oakling.rest import ModelRouter

    app.include(ModelRouter(Task, prefix="/api/tasks", filterset_fields=("completed",)))

Install with ``pip install 'oakling[rest]'``. See docs/rest.md.
"""

from __future__ import annotations

from .forms import model_form
from .routers import ACTIONS, ModelRouter
from .schemas import ModelField, ModelSchemas, model_fields, model_schemas

__all__ = [
    "ACTIONS",
    "ModelField",
    "ModelRouter",
    "ModelSchemas",
    "model_fields",
    "model_form",
    "model_schemas",
]
