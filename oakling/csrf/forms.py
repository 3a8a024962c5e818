"""WTForms integration: forms whose hidden ``csrf_token`` field is the session's token.

Flask-WTF's ``FlaskForm`` for oakling. The field carries the same masked
token as ``csrf_input()``, so the app-wide check accepts the form and the
form's own validation checks it again (useful when a handler is
:func:`~oakling.csrf.csrf_exempt` or the plugin is not installed)::

    from wtforms import StringField
    from wtforms.validators import DataRequired

    from oakling.csrf.forms import CSRFForm

    class TaskForm(CSRFForm):
        title = StringField("Title", validators=[DataRequired()])

    @app.post("/tasks")
    async def create(request: Request) -> Response:
        form = await TaskForm.from_request(request)
        if not form.validate(): ...

Needs WTForms: ``pip install 'oakling[forms]'``.
"""

from __future__ import annotations

from typing import Any, Self

try:
    import wtforms  # type: ignore[import-untyped]  # NOTE: WTForms ships no type hints
    from wtforms.csrf.core import CSRF  # type: ignore[import-untyped]  # NOTE: as above
    from wtforms.validators import ValidationError  # type: ignore[import-untyped]  # NOTE: idem
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"oakling.csrf.forms needs WTForms ({ex}); install it with: pip install 'oakling[forms]'"
    ) from ex

from oakling.i18n import translation
from oakling.requests import HTTPConnection, Request

from .plugin import DEFAULT_FIELD_NAME, SAFE_METHODS, get_token, verify_token

__all__ = ["CSRFForm", "RequestCSRF"]


class RequestCSRF(CSRF):  # type: ignore[misc]  # NOTE: WTForms' base class is untyped (Any)
    """A WTForms CSRF implementation using the request's session token.

    The form's ``meta.csrf_context`` must be the current request. The field
    is named after the CSRF plugin's ``field_name`` (``csrf_token``), so the
    value it renders also passes the app-wide check.
    """

    request: HTTPConnection

    def setup_form(self, form: Any) -> list[tuple[str, Any]]:
        """Return the token field to add to ``form`` (WTForms' hook).

        Raises:
            TypeError: If ``meta.csrf_context`` is not the request.
        """
        request = form.meta.csrf_context
        if not isinstance(request, HTTPConnection):
            raise TypeError(
                f"{type(form).__name__} needs the request for its CSRF token: "
                f"{type(form).__name__}(formdata, meta={{'csrf_context': request}}) "
                f"or await {type(form).__name__}.from_request(request)"
            )
        self.request = request
        plugin = request.app.extensions.get("csrf") if "app" in request.scope else None
        name = getattr(plugin, "field_name", None) or form.meta.csrf_field_name
        return [(name, self.field_class(label="CSRF Token", csrf_impl=self))]

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        """Return a fresh masked token for the request's session."""
        return get_token(self.request)

    def validate_csrf_token(self, form: Any, field: Any) -> None:
        """Check the submitted token against the session's secret.

        Raises:
            ValidationError: "CSRF token missing." or "CSRF token incorrect."
                (the field's error, so ``form.validate()`` is False).
        """
        if not field.data:
            raise ValidationError(field.gettext("CSRF token missing."))
        if not verify_token(self.request, field.data):
            raise ValidationError(field.gettext("CSRF token incorrect."))


class _FormTranslations:
    """WTForms' ``gettext``/``ngettext`` in the active language.

    oakling's catalogues first (this battery's "CSRF token incorrect."), then
    WTForms' own (``wtforms/locale``, "This field is required." in 35 languages).
    """

    __slots__ = ("_wtforms",)

    def __init__(self, language: str) -> None:
        from wtforms.i18n import get_translations  # type: ignore[import-untyped]  # NOTE: untyped

        # NOTE: WTForms' folders are gettext locale names (de, de_CH, pt).
        self._wtforms = get_translations([language.replace("-", "_"), language.split("-")[0]])

    def gettext(self, message: str) -> str:
        found = translation.gettext(message)
        return found if found != message else str(self._wtforms.gettext(message))

    def ngettext(self, singular: str, plural: str, number: int) -> str:
        found = translation.ngettext(singular, plural, number)
        if found not in (singular, plural):
            return found
        return str(self._wtforms.ngettext(singular, plural, number))


_form_translations: dict[str, _FormTranslations] = {}


def _translations_for_forms() -> _FormTranslations | None:
    language = translation.get_language()
    if language is None:
        return None
    found = _form_translations.get(language)
    if found is None:
        found = _form_translations[language] = _FormTranslations(language)
    return found


class CSRFForm(wtforms.Form):  # type: ignore[misc]  # NOTE: WTForms' Form is untyped (Any)
    """A WTForms form with a ``csrf_token`` hidden field (Flask-WTF's ``FlaskForm``).

    Build it with ``MyForm(formdata, meta={"csrf_context": request})`` or
    ``await MyForm.from_request(request)``; render ``{{ form.csrf_token }}``
    in the template.
    """

    class Meta:
        """WTForms options: CSRF on, from the request's session."""

        csrf = True
        csrf_class = RequestCSRF
        csrf_field_name = DEFAULT_FIELD_NAME

        def get_translations(self, form: Any) -> Any:
            """Return WTForms' messages in the request's language (None: English)."""
            return _translations_for_forms()

    @classmethod
    async def from_request(cls, request: Request, **kwargs: Any) -> Self:
        """Return the form bound to the request's submitted form data.

        For GET, HEAD, OPTIONS and TRACE the form is unbound (shows its
        defaults); otherwise it is filled from ``await request.form()``.
        ``kwargs`` go to the form (``obj=``, ``data=``, field defaults).

        Raises:
            HTTPException: 415 when an unsafe request's body is not a form;
                400/413 on a malformed or oversized one.
        """
        formdata = None if request.method in SAFE_METHODS else await request.form()
        meta = {**kwargs.pop("meta", {}), "csrf_context": request}
        return cls(formdata, meta=meta, **kwargs)
