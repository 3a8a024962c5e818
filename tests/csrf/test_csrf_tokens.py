"""The sans-I/O parts: token masking and origin matching."""

from __future__ import annotations

import pytest

from oakling.csrf._origins import TrustedOrigins, is_same_domain, normalise_netloc, split_origin
from oakling.csrf._tokens import (
    SECRET_LENGTH,
    InvalidTokenFormat,
    is_valid_secret,
    mask_secret,
    matches_secret,
    new_secret,
    unmask_token,
)


def test_mask_round_trips_and_differs_every_time() -> None:
    secret = new_secret()
    assert is_valid_secret(secret) and len(secret) == SECRET_LENGTH
    tokens = {mask_secret(secret) for _ in range(50)}
    assert len(tokens) == 50
    assert all(unmask_token(token) == secret for token in tokens)
    assert all(secret not in token for token in tokens)
    other = new_secret()
    assert not any(matches_secret(token, other) for token in tokens)


def test_malformed_tokens() -> None:
    with pytest.raises(InvalidTokenFormat, match="incorrect length"):
        unmask_token("a" * 63)
    with pytest.raises(InvalidTokenFormat, match="invalid characters"):
        unmask_token("é" * 64)
    for value in (None, 5, "a" * 31, "-" * 32):
        assert not is_valid_secret(value)


@pytest.mark.parametrize(
    ("host", "pattern", "expected"),
    [
        ("example.com", ".example.com", True),
        ("a.b.example.com", ".example.com", True),
        ("badexample.com", ".example.com", False),
        ("example.com", "example.com", True),
        ("EXAMPLE.com", "example.COM", True),
        ("a.example.com", "example.com", False),
        ("example.com", "", False),
    ],
)
def test_is_same_domain(host: str, pattern: str, expected: bool) -> None:
    assert is_same_domain(host, pattern) is expected


def test_normalise_and_split() -> None:
    assert normalise_netloc("https", "Example.com:443") == "example.com"
    assert normalise_netloc("http", "example.com:443") == "example.com:443"
    assert normalise_netloc("https", "[::1]:443") == "[::1]"
    assert split_origin("HTTPS://A.example:443") == ("https", "a.example")
    assert split_origin("null") is None
    assert split_origin("http://[bad") is None


def test_trusted_origins_compile() -> None:
    trusted = TrustedOrigins(["https://a.example/", " https://*.b.example ", "c.example", ""])
    assert trusted.allows_origin("https://a.example")
    assert trusted.allows_origin("https://x.b.example")
    assert not trusted.allows_origin("http://x.b.example")
    assert not trusted.allows_origin("https://c.example")
    assert trusted.allows_host("x.b.example") and trusted.allows_host("a.example")
    assert trusted.without_scheme() == ["c.example"]
