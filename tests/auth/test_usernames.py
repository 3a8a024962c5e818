"""Usernames: length-checked before NFKC, normalised, and look-alikes share a key."""

from __future__ import annotations

import time

import pytest

from oakling.auth.usernames import (
    MAX_USERNAME_LENGTH,
    InvalidUsername,
    normalize_username,
    username_key,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("admin", "admin"),
        ("Jane.Doe+tag@example.com", "Jane.Doe+tag@example.com"),
        ("under_score-dash", "under_score-dash"),
        ("ａｄｍｉｎ", "admin"),  # fullwidth: NFKC
        ("ﬁnance", "finance"),  # the "fi" ligature
        ("e\u0301lodie", "élodie"),  # combining accent composed
        ("Иван", "Иван"),
        ("山田", "山田"),
        ("x" * MAX_USERNAME_LENGTH, "x" * MAX_USERNAME_LENGTH),
    ],
)
def test_valid_usernames_are_normalised(raw: str, stored: str) -> None:
    assert normalize_username(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        " admin",
        "admin ",
        "ad min",
        "admin\n",
        "ad\u200bmin",  # zero-width space
        "ad\u200dmin",  # zero-width joiner
        "ad\u202emin",  # right-to-left override
        "<script>",
        "a/b",
        "a\x00b",
        "x" * (MAX_USERNAME_LENGTH + 1),
    ],
)
def test_invalid_usernames_are_refused(raw: str) -> None:
    with pytest.raises(InvalidUsername):
        normalize_username(raw)


@pytest.mark.parametrize("bad", [None, 42, b"admin", ["admin"]])
def test_non_text_is_refused(bad: object) -> None:
    with pytest.raises(InvalidUsername, match="text"):
        normalize_username(bad)  # type: ignore[arg-type]


def test_huge_username_is_refused_before_normalisation() -> None:
    start = time.perf_counter()
    for _ in range(100):
        with pytest.raises(InvalidUsername, match="at most 150"):
            normalize_username("ﷺ" * 10_000_000)  # 10 M chars, each NFKC-expanding to 18
    assert time.perf_counter() - start < 1.0


def test_nfkc_expansion_is_checked_after_normalisation() -> None:
    # 150 raw characters pass the first check; NFKC makes 2,700 of them.
    raw = "ﷺ" * MAX_USERNAME_LENGTH
    assert len(raw) == MAX_USERNAME_LENGTH
    with pytest.raises(InvalidUsername, match="at most 150"):
        normalize_username(raw)


def test_error_messages_are_clear() -> None:
    with pytest.raises(InvalidUsername, match="letters, digits and the characters @ . \\+ - _"):
        normalize_username("bad name!")
    with pytest.raises(InvalidUsername, match="required"):
        normalize_username("")


@pytest.mark.parametrize(
    "lookalike",
    [
        "admin",
        "Admin",
        "ADMIN",
        "аdmin",  # Cyrillic а
        "аdmіn",  # Cyrillic а and і
        "ａｄｍｉｎ",  # fullwidth
        "ΑDMIN",  # Greek capital alpha
        "ᎪDMIN",  # Cherokee A
    ],
)
def test_lookalikes_share_the_key_of_admin(lookalike: str) -> None:
    assert username_key(normalize_username(lookalike)) == "admin"


def test_whole_word_in_another_script_collides_with_latin() -> None:
    assert username_key("асе") == username_key("ace")  # all Cyrillic


@pytest.mark.parametrize(
    ("first", "second"),
    [("admin", "admin1"), ("jose", "josé"), ("Иван", "Ivan"), ("anna", "hanna")],
)
def test_different_names_keep_different_keys(first: str, second: str) -> None:
    assert username_key(first) != username_key(second)


def test_key_is_casefolded() -> None:
    assert username_key("STRASSE") == username_key("straße")
