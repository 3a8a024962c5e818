"""Content-Security-Policy: directive values and the compiled header.

A policy is a mapping of directives to sources, Django 6's ``SECURE_CSP``
format, or a ready-made header string::

    {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF, CSP.NONCE],
        "upgrade-insecure-requests": True,
    }

``CSP.NONCE`` (the text ``'nonce'``) is a placeholder: the security
middleware puts a fresh nonce in its place on every request
(``'nonce-3q2+7w...'``), the same one templates read with ``csp_nonce()``.
A policy is compiled once, at startup, into the bytes around the nonce.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CSP", "CompiledPolicy", "compile_policy"]


class CSP:
    """Source expressions for policy mappings (Django's ``django.utils.csp.CSP``)."""

    NONCE = "'nonce'"
    NONE = "'none'"
    REPORT_SAMPLE = "'report-sample'"
    SELF = "'self'"
    STRICT_DYNAMIC = "'strict-dynamic'"
    UNSAFE_EVAL = "'unsafe-eval'"
    UNSAFE_HASHES = "'unsafe-hashes'"
    UNSAFE_INLINE = "'unsafe-inline'"
    WASM_UNSAFE_EVAL = "'wasm-unsafe-eval'"


# NOTE: CSP Level 3 section 2.2.1: a directive name is ALPHA / DIGIT / "-".
_DIRECTIVE = re.compile(r"[A-Za-z0-9-]+")
# SECURITY: a value may not carry ";" or "," (it would start a new directive
# or a new policy) nor control characters (header injection).
_BAD_VALUE = re.compile(r"[;,\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CompiledPolicy:
    """A policy compiled to header bytes, split around the nonce placeholder.

    Attributes:
        header: The header name, ``content-security-policy`` or its
            ``-report-only`` twin, as lowercase bytes.
        parts: The header value split at each nonce placeholder; one part
            when the policy uses no nonce.
        uses_nonce: Whether the policy has a nonce placeholder.
        text: The policy as written in the header, with ``'nonce'`` left in.
    """

    __slots__ = ("header", "parts", "static", "text", "uses_nonce")

    def __init__(self, text: str, *, report_only: bool) -> None:
        self.text = text
        self.header = (
            b"content-security-policy-report-only" if report_only else b"content-security-policy"
        )
        self.parts = tuple(part.encode("ascii") for part in text.split(CSP.NONCE))
        self.uses_nonce = len(self.parts) > 1
        self.static: tuple[bytes, bytes] | None = (
            None if self.uses_nonce else (self.header, self.parts[0])
        )

    def value(self, nonce: bytes) -> bytes:
        """Return the header value with ``'nonce-<nonce>'`` in each placeholder."""
        return (b"'nonce-" + nonce + b"'").join(self.parts)

    def __repr__(self) -> str:
        return f"CompiledPolicy({self.text!r}, report_only={self.header.endswith(b'only')})"


def compile_policy(policy: Mapping[str, Any] | str, *, report_only: bool = False) -> CompiledPolicy:
    """Compile a policy mapping (or header string) once, at startup.

    Args:
        policy: ``{directive: sources}`` where sources is a list of source
            expressions (``[CSP.SELF, "https://cdn.example"]``), one string,
            True for a directive without value (``upgrade-insecure-requests``),
            or False/None to leave the directive out; or the header text
            itself (``"default-src 'self'"``). ``CSP.NONCE`` marks where the
            per-request nonce goes.
        report_only: Send it as ``Content-Security-Policy-Report-Only``.

    Returns:
        The compiled policy.

    Raises:
        ValueError: The policy is empty, a directive name is not
            letters, digits and dashes, or a value holds ``;``, ``,``,
            control characters or non-ASCII text (they would break the
            header or smuggle directives into it).
        TypeError: A directive's sources are not a string, a list of
            strings or a bool.
    """
    if isinstance(policy, str):
        text = policy.strip()
        if _CONTROL.search(text):
            raise ValueError(f"Content-Security-Policy holds control characters: {policy!r}")
    else:
        directives: list[str] = []
        for name, sources in policy.items():
            if not _DIRECTIVE.fullmatch(name):
                raise ValueError(f"invalid CSP directive name: {name!r}")
            if sources is None or sources is False:
                continue
            if sources is True:
                directives.append(name)
                continue
            if isinstance(sources, str):
                values: Sequence[Any] = [sources]
            elif isinstance(sources, Sequence | set | frozenset):
                values = list(sources)
            else:
                raise TypeError(
                    f"CSP directive {name!r}: expected a list of sources, a string or "
                    f"True, got {type(sources).__name__}"
                )
            for value in values:
                if not isinstance(value, str):
                    raise TypeError(f"CSP directive {name!r}: source {value!r} is not a string")
                if _BAD_VALUE.search(value):
                    raise ValueError(f"CSP directive {name!r}: invalid source {value!r}")
            directives.append(" ".join([name, *values]) if values else name)
        text = "; ".join(directives)
    if not text:
        raise ValueError("Content-Security-Policy is empty; set directives or turn it off")
    if not text.isascii():
        raise ValueError(f"Content-Security-Policy must be ASCII (punycode hosts): {text!r}")
    return CompiledPolicy(text, report_only=report_only)
