"""A ModelRouter app for schemathesis (tests/rest/test_rest_schemathesis.py), on SQLite."""

import os

from oakling import App
from oakling.auth.models import User
from oakling.db import Database, Model
from oakling.openapi import OpenAPI
from oakling.rest import ModelRouter
from tests.rest.notes import Note

database = Database(os.environ["REST_SCHEMATHESIS_DB"])
app = App(
    secret_key="rest-schemathesis-" + "s" * 40,
    plugins=[database, OpenAPI(title="Notes", version="1")],
)
app.include(
    ModelRouter(
        Note,
        prefix="/notes",
        permission="any",
        exclude=("secret", "created"),
        read_only_fields=("owner_id",),
        filterset_fields=("done", "priority", "due", "title"),
        ordering_fields=("id", "title"),
    )
)
# NOTE: the owner's table too: notes have a foreign key to it.
Model.metadata.create_all(database.sync_engine(), tables=[User.__table__, Note.__table__])
