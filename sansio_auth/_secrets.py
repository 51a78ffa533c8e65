"""What went into a request that its answer must not show.

A token endpoint may echo what it got: the refresh token in an
``error_description``, the client secret in an HTML error page, the
``Authorization`` value in a debug dump. So the masking of an answer must know
every credential of the request it answers, whoever built that request. They
are read off the request itself rather than listed by each flow, so no list
of secrets has to be kept in step with the flows: the value of each header
other than a few public ones (``Authorization``, an API key header), with an
``Authorization`` value's credentials (a ``Basic`` one decoded to its secret),
and the form, JSON and multipart fields whose names say they hold a
credential (``client_secret``, ``password``, ``refresh_token``, ``token``,
...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._http import HttpRequest

__all__ = ["request_secrets"]

# Headers that carry no credential; every other header value is presumed to.
_PUBLIC_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "content-language",
        "content-type",
        "pragma",
        "user-agent",
    }
)
# Field names that say a credential: client_secret, password, refresh_token,
# token, api_key, client_assertion, subject_token, code_verifier, ...; but not
# the *_type fields that name a kind of token.
_CREDENTIAL_NAME = r"(?i)secret|passw|token|key|assertion|credential|code|verifier"
_TYPE_NAME = r"(?i)_(?:type|hint)$"
_AUTHORIZATION_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SCHEME = r"([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S.*)"
_BOUNDARY_PARAM = r'(?i);\s*boundary=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))'
_PART_NAME = rb'(?i)\bname="((?:[^"\\]|\\.)*)"'


def request_secrets(request: HttpRequest) -> tuple[str, ...]:
    """Every credential that went into *request*, to mask in its answer.

    The values of its headers but the public ones (``Accept``,
    ``Content-Type``, ``User-Agent``, ...), the credentials of an
    ``Authorization`` value (a ``Basic`` one decoded to its secret), and the
    values of the form, JSON or multipart fields whose names say they hold a
    credential (``client_secret``, ``password``, ``refresh_token``,
    ``token``, ``api_key``, ``client_assertion``, ...). A ``Bearer `` prefix
    is also stripped, as TeamSystem sends its key in a field that way.

    Args:
      request: the request being answered.

    Returns:
      The secrets, longest first, without duplicates.
    """
    found: list[str] = []
    content_type = ""
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "content-type":
            content_type = value
        if lowered in _AUTHORIZATION_HEADERS:
            found.extend(_authorization_secrets(value))
        elif lowered not in _PUBLIC_HEADERS:
            found.append(value)
    for name, value in _body_fields(content_type, request.body):
        if re.search(_CREDENTIAL_NAME, name) and not re.search(_TYPE_NAME, name):
            found.append(value)
            scheme = re.fullmatch(_SCHEME, value)
            if scheme is not None and scheme.group(1).lower() == "bearer":
                found.append(scheme.group(2))
    unique = {secret for secret in found if secret}
    return tuple(sorted(unique, key=lambda secret: (-len(secret), secret)))


def _authorization_secrets(value: str) -> list[str]:
    found = [value]
    scheme = re.fullmatch(_SCHEME, value)
    if scheme is None:
        return found
    credentials = scheme.group(2).strip()
    found.append(credentials)
    if scheme.group(1).lower() == "basic":
        found.extend(_basic_secrets(credentials))
    return found


def _basic_secrets(blob: str) -> list[str]:
    # RFC 6749 §2.3.1: base64 of enc(id) ":" enc(secret). The id is no
    # secret; the secret is, as sent (encoded) and as meant (decoded); and the
    # blob in the spellings base64 has (padded or not, URL-safe or not).
    import binascii
    from urllib.parse import unquote

    bare = blob.rstrip("=")
    found = [bare, bare.translate(str.maketrans("+/", "-_"))]
    try:
        userpass = binascii.a2b_base64(blob + "=" * (-len(blob) % 4)).decode()
    except (binascii.Error, ValueError):
        return found
    _, colon, secret = userpass.partition(":")
    if colon:
        found += [secret, unquote(secret)]
    return found


def _body_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    if not body:
        return []
    media = content_type.partition(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if media == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        return parse_qsl(text, keep_blank_values=True)
    if media == "application/json" or media.endswith("+json"):
        import json

        try:
            return list(_json_strings(json.loads(text)))
        except (ValueError, RecursionError):
            return []
    if media == "multipart/form-data":
        return _multipart_fields(content_type, body)
    return []


def _json_strings(value: object, name: str = "") -> Iterator[tuple[str, str]]:
    # Each string in the document with the name of the member holding it.
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_strings(item, str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item, name)
    elif isinstance(value, str):
        yield name, value


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    match = re.search(_BOUNDARY_PARAM, content_type)
    if match is None:
        return []
    boundary = match.group(1) if match.group(1) is not None else match.group(2)
    fields = []
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        head, separator, value = part.partition(b"\r\n\r\n")
        name = re.search(_PART_NAME, head)
        if separator and name is not None:
            text = name.group(1).decode("utf-8", "replace")
            text = re.sub(r"\\(.)", r"\1", text)
            fields.append(
                (text, value.removesuffix(b"\r\n").decode("utf-8", "replace"))
            )
    return fields
