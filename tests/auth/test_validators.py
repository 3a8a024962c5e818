"""Password validators: Django's four rules, all messages reported together."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from oakling.auth.validators import (
    DEFAULT_PASSWORD_LIST,
    CommonPasswordValidator,
    MinimumLengthValidator,
    NumericPasswordValidator,
    PasswordValidationError,
    UserAttributeSimilarityValidator,
    default_validators,
    validate_password,
)

JANE = SimpleNamespace(username="janesmith", email="jane.doe@example.com")


def _messages(password: str, user: object = None) -> list[str]:
    with pytest.raises(PasswordValidationError) as info:
        validate_password(password, user)
    return info.value.messages


def test_good_password_passes() -> None:
    validate_password("tram-velvet-oxide-42", JANE)


def test_all_messages_at_once() -> None:
    messages = _messages("12345")
    assert messages == [
        "This password is too short. It must contain at least 8 characters.",
        "This password is too common.",
        "This password is entirely numeric.",
    ]


def test_error_is_a_value_error_with_every_message() -> None:
    with pytest.raises(ValueError, match="too short") as info:
        validate_password("1234")
    assert isinstance(info.value, PasswordValidationError)
    assert "entirely numeric" in str(info.value)


@pytest.mark.parametrize("common", ["password", "Password", " qwerty123 ", "iloveyou", "DRAGON"])
def test_common_passwords_refused(common: str) -> None:
    with pytest.raises(PasswordValidationError, match="too common"):
        CommonPasswordValidator().validate(common)


def test_common_list_is_djangos_twenty_thousand() -> None:
    import django.contrib.auth

    django_copy = Path(django.contrib.auth.__file__).parent / "common-passwords.txt.gz"
    assert DEFAULT_PASSWORD_LIST.read_bytes() == django_copy.read_bytes()
    assert len(CommonPasswordValidator().passwords) > 19_000


def test_common_list_can_be_replaced(tmp_path: Path) -> None:
    plain = tmp_path / "ours.txt"
    plain.write_text("oakling-rules\n", encoding="utf-8")
    validator = CommonPasswordValidator(plain)
    with pytest.raises(PasswordValidationError):
        validator.validate("Oakling-Rules")
    validator.validate("password")  # not on our list


def test_minimum_length_is_configurable() -> None:
    MinimumLengthValidator(3).validate("abc")
    with pytest.raises(PasswordValidationError, match="at least 12 characters"):
        MinimumLengthValidator(12).validate("abcdefghijk")


def test_maximum_length() -> None:
    with pytest.raises(PasswordValidationError, match="too long"):
        MinimumLengthValidator().validate("a" * 5000)


def test_numeric_refused() -> None:
    with pytest.raises(PasswordValidationError, match="entirely numeric"):
        NumericPasswordValidator().validate("4815162342")
    NumericPasswordValidator().validate("4815162342a")


@pytest.mark.parametrize("password", ["janesmith1", "JaneSmith!", "jane.doe@example", "janedoe"])
def test_similar_to_user_attributes_refused(password: str) -> None:
    with pytest.raises(PasswordValidationError, match="too similar"):
        UserAttributeSimilarityValidator().validate(password, JANE)


def test_similarity_needs_a_user_and_is_skipped_without() -> None:
    UserAttributeSimilarityValidator().validate("janesmith1", None)
    UserAttributeSimilarityValidator().validate("janesmith1", SimpleNamespace(username=None))


def test_similarity_on_a_huge_password_is_fast() -> None:
    start = time.perf_counter()
    UserAttributeSimilarityValidator().validate("x" * 4096, JANE)
    assert time.perf_counter() - start < 0.5


def test_similarity_bounds() -> None:
    with pytest.raises(ValueError, match="at least 0.1"):
        UserAttributeSimilarityValidator(max_similarity=0.05)


def test_custom_validator_list() -> None:
    validate_password("1", validators=[])
    with pytest.raises(PasswordValidationError) as info:
        validate_password("1", validators=[MinimumLengthValidator(2)])
    assert len(info.value.messages) == 1
    assert len(default_validators()) == 4


def test_non_text_password() -> None:
    with pytest.raises(PasswordValidationError, match="text"):
        validate_password(None)  # type: ignore[arg-type]


def test_help_texts() -> None:
    assert all(validator.help_text().endswith(".") for validator in default_validators())
