"""The docs/admin.md example does what the page says."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from oakling.auth.services import create_user_sync
from oakling.db import Model
from oakling.testing import TestClient
from tests.conftest import Loader

from .conftest import PASSWORD, csrf, login


def test_admin_site(load_example: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.setenv("OAKLING_DEBUG", "1")
    module = load_example("admin_site")
    app = module.app
    tables = [
        table
        for table in Model.metadata.sorted_tables
        if table.name.startswith(("auth_", "admin_", "docs_project"))
    ]
    Model.metadata.create_all(app.extensions["db"].sync_engine(), tables=tables)
    with app.extensions["db"].session() as session:
        boss = create_user_sync(session, "boss", PASSWORD, is_staff=True, is_superuser=True)
        session.add(module.Project(name="Apollo", owner=boss))
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/admin/").status_code == 303  # to the login page
        login(client, "boss")
        listing = client.get("/admin/docs/project?q=bo")
        assert "Apollo" in listing.text and "<td>boss</td>" in listing.text
        token = csrf(client, "/admin/docs/project")
        done = client.post(
            "/admin/docs/project",
            data={"csrf_token": token, "action": "archive", "_selected_action": "1"},
        )
        assert done.status_code == 303
        assert "Apollo" in client.get("/admin/docs/project?archived__exact=1").text
        assert client.get("/admin/auth/user").status_code == 200
    sys.modules.pop("admin_site", None)


def test_admin_inlines(
    load_example: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.setenv("OAKLING_DEBUG", "1")
    module = load_example("admin_inlines")
    app = module.app
    tables = [
        table
        for table in Model.metadata.sorted_tables
        if table.name.startswith(("auth_", "admin_", "docs_shelf", "docs_volume"))
    ]
    Model.metadata.create_all(app.extensions["db"].sync_engine(), tables=tables)
    with app.extensions["db"].session() as session:
        create_user_sync(session, "boss", PASSWORD, is_staff=True, is_superuser=True)
        shelf = module.Shelf(name="Attic")
        session.add(shelf)
        session.flush()
        session.add(module.Volume(title="Tome", pages=900, shelf_id=shelf.id))
        session.commit()
        shelf_id = shelf.id
    with TestClient(app, follow_redirects=False) as client:
        login(client, "boss")
        path = f"/admin/library/shelf/{shelf_id}/change"
        page = client.get(path).text
        assert 'value="Tome"' in page and "<summary>Where</summary>" in page
        saved = client.post(
            path,
            data={
                "csrf_token": csrf(client, path),
                "name": "Attic",
                "room": "top",
                "volume_set-TOTAL_FORMS": "2",
                "volume_set-0-id": "1",
                "volume_set-0-title": "Tome",
                "volume_set-0-pages": "900",
                "volume_set-1-title": "Leaflet",
                "volume_set-1-pages": "4",
            },
        )
        assert saved.status_code == 303, saved.text
        thin = client.get("/admin/library/volume?thick=no").text
        assert "Leaflet" in thin and "Tome" not in thin
        found = client.get(
            "/admin/autocomplete?app_label=library&model_name=volume&field_name=shelf_id&term=att"
        ).json()
        assert found["results"] == [{"id": str(shelf_id), "text": "Attic"}]
    sys.modules.pop("admin_inlines", None)
