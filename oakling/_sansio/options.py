"""Header values with parameters: ``Content-Type`` and ``Content-Disposition``.

One left-to-right pass over the value, no regular expression: the run time is
linear in the header's length whatever it holds, so a crafted header cannot
cost quadratic time (python-multipart's CVE-2024-24762 was a ReDoS here).
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote

__all__ = ["decode_ext_value", "parse_options_header", "text_charset"]

_SPACE = " \t"


def parse_options_header(value: str) -> tuple[str, dict[str, str]]:
    r"""Split a header value into its lower-cased main value and parameters.

    ``'multipart/form-data; Boundary="a b"'`` gives
    ``("multipart/form-data", {"boundary": "a b"})``. This is the
    ``type/subtype *( ";" name "=" value )`` form of RFC 9110 section 5.6.6,
    which ``Content-Disposition`` shares (RFC 6266 section 4.1).

    Read leniently, as browsers send it, and never raises: parameter names are
    lower-cased; a value may be a token or a quoted string, where ``\"`` and
    ``\\`` are unescaped and any other backslash is kept as is (a Windows
    path in a filename stays intact); an unterminated quoted string runs to
    the end of the header; a parameter without ``=`` is ignored; a repeated
    parameter keeps its first value.

    Args:
        value: The header value, as decoded text.

    Returns:
        ``(main_value, {name: value})``; ``("", {})`` for an empty header.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    length = len(rest)
    pos = 0
    while pos < length:
        separator = rest.find(";", pos)
        equals = rest.find("=", pos, separator if separator >= 0 else length)
        if equals < 0:
            # NOTE: a bare token ("; secure") has no value; skip it.
            pos = length if separator < 0 else separator + 1
            continue
        name = rest[pos:equals].strip(_SPACE).lower()
        pos = equals + 1
        while pos < length and rest[pos] in _SPACE:
            pos += 1
        if pos < length and rest[pos] == '"':
            item, pos = _read_quoted(rest, pos + 1)
            # Anything between the closing quote and the next ";" is ignored.
            separator = rest.find(";", pos)
        else:
            end = separator if separator >= 0 else length
            item = rest[pos:end].strip(_SPACE)
        pos = length if separator < 0 else separator + 1
        if name and name not in params:
            params[name] = item
    return main.strip(_SPACE).lower(), params


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted string's body starting after its opening quote.

    Returns:
        ``(unescaped_text, position_after_closing_quote)``.
    """
    pieces: list[str] = []
    length = len(text)
    # PERF: jump between the only two characters that matter, never per byte,
    # and search each stretch once: re-searching for the quote after every
    # backslash would be quadratic on '"\\\\...' with no closing quote.
    quote = text.find('"', pos)
    while True:
        end = quote if quote >= 0 else length
        backslash = text.find("\\", pos, end)
        if backslash < 0:
            pieces.append(text[pos:end])
            return "".join(pieces), (quote + 1 if quote >= 0 else length)
        pieces.append(text[pos:backslash])
        following = text[backslash + 1 : backslash + 2]
        if following in ('"', "\\"):
            pieces.append(following)
            pos = backslash + 2
            if following == '"':
                quote = text.find('"', pos)
        else:
            pieces.append("\\")
            pos = backslash + 1


def decode_ext_value(value: str) -> str:
    """Decode an RFC 8187 extended value (``UTF-8''na%C3%AFve.txt``).

    The form ``filename*=`` takes in ``Content-Disposition`` (RFC 6266
    section 4.3). An unknown charset falls back to UTF-8, and bytes invalid in
    the charset become U+FFFD: this never raises.

    Returns:
        The decoded text; the value itself, unquoted as UTF-8, when it lacks
        the ``charset'language'`` prefix.
    """
    charset, first, rest = value.partition("'")
    if not first:
        return unquote(value, errors="replace")
    _, second, encoded = rest.partition("'")
    if not second:
        return unquote(value, errors="replace")
    return unquote(encoded, encoding=text_charset(charset), errors="replace")


# SECURITY: codecs that are "text encodings" to Python but no charset a client
# sends: punycode and idna decode in worse than linear time on crafted input,
# the escape codecs turn data into other characters, utf-7 is an XSS vector.
_REFUSED_CODECS = frozenset(
    {"idna", "punycode", "raw-unicode-escape", "undefined", "unicode-escape", "utf-7"}
)


def text_charset(name: str | None, default: str = "utf-8") -> str:
    """Return ``name`` if it is a charset safe to decode a body with, else ``default``.

    A charset a client declares (``Content-Type: text/plain; charset=...``)
    picks a Python codec; this keeps the ones that are real text charsets and
    refuses unknown names, binary transforms (``base64``, ``rot13``) and the
    codecs listed in ``_REFUSED_CODECS``.

    Returns:
        The codec's canonical name (``"iso8859-1"``), or ``default``.
    """
    if not name:
        return default
    try:
        info = codecs.lookup(name)
    except LookupError:
        return default
    # NOTE: _is_text_encoding is False for bytes-to-bytes codecs such as base64.
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return default
    return info.name
