"""docs/mail.md's example: an HTML report with a CSV attachment."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from oakling.mail import outbox
from oakling.testing import TestClient


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    outbox.clear()
    yield
    outbox.clear()


def test_mail_report(load_example) -> None:
    app = load_example("mail_report").app
    extra = {**app.settings.extra, "EMAIL_BACKEND": "memory"}
    app.settings = msgspec.structs.replace(app.settings, extra=extra)
    with TestClient(app) as client:
        assert client.post("/report", data={"email": "ann@example.com"}).json() == {"sent": 1}
    (message,) = outbox
    assert message.to == ("ann@example.com",) and message.from_email == "webmaster@localhost"
    mime = message.to_mime()
    assert mime.get_content_type() == "multipart/mixed"
    assert "<li>✓ Write the docs</li>" in mime.get_body(("html",)).get_content()
    assert "[x] Write the docs" in mime.get_body(("plain",)).get_content()
    (attachment,) = mime.iter_attachments()
    assert attachment.get_filename() == "tasks.csv"
    assert attachment.get_content_type() == "text/csv"
