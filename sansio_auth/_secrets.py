"""What went into a request that its answer must not show.

A token endpoint may echo what it got: the refresh token in an
``error_description``, the client secret in an HTML error page, the
``Authorization`` value in a debug dump. So the masking of an answer must know
every credential of the request it answers, whoever built that request. They
are read off the request itself rather than listed by each flow, so no list
of secrets has to be kept in step with the flows, and a flow a user wrote is
served as well as ours.

Reading them fails closed, in two tiers:

* **Credentials**: the values of the ``Authorization`` headers (and their
  credentials: a ``Basic`` value's secret, decoded and not), of headers and
  fields whose names say they hold one (``X-API-Key``, ``client_secret``,
  ``password``, ``refresh_token``, ``token``, ``client_assertion``, a member
  of a ``credentials`` object, ...), with a ``Bearer`` prefix also stripped.
  These are secrets at any length: a short one withholds the text it is
  found in (see ``_mask``).
* **Presumed secrets**: every other value of a header, a query parameter or
  a body field (a form, JSON, multipart, or the text runs of a body we cannot
  read as fields), but the public ones: ``grant_type``, ``scope``,
  ``client_id``, ``audience``, ``resource``, ``redirect_uri``, the ``*_type``
  and ``*_hint`` fields, and the ``Accept``, ``Content-Type``,
  ``User-Agent`` and like headers. They are masked when 8 characters or
  longer; a shorter one (``api-version=2``) is not worth garbling a message
  for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._http import HttpRequest

__all__ = ["request_secrets"]

_PRESUMED_LENGTH = 8
# Headers and fields that carry no credential.
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
_PUBLIC_FIELDS = frozenset(
    {
        "grant_type",
        "scope",
        "client_id",
        "audience",
        "resource",
        "redirect_uri",
        "response_type",
        "state",
        "nonce",
    }
)
_PUBLIC_NAME = r"(?i)_(?:type|hint|format)$"
# A name that says a credential: the word ends it (refresh_token, api_key,
# X-API-Key, code_verifier, pwd), or it holds "secret" or "password".
_CREDENTIAL_NAME = (
    r"(?i)secret|passw|(?:^|[\W_])(?:token|key|apikey|assertion|credentials?|code"
    r"|verifier|pass|pwd|otp|pin|signature|sig)$"
)
_AUTHORIZATION_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SCHEME = r"([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S.*)"
_BOUNDARY_PARAM = r'(?i);\s*boundary=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))'
_PART_NAME = rb'(?i)\bname="((?:[^"\\]|\\.)*)"'
# The text runs of a body read as neither fields nor JSON (XML, say).
_TEXT_RUN = r"[^\s<>&\"'=]{8,}"


def request_secrets(request: HttpRequest) -> tuple[str, ...]:
    """Every credential that went into *request*, to mask in its answer.

    See the module notes: the credentials at any length, and the other
    values of headers, query and body but the public ones from 8 characters.

    Args:
      request: the request being answered.

    Returns:
      The secrets, longest first, without duplicates.
    """
    found: list[str] = []
    presumed: list[str] = []
    content_type = ""
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "content-type":
            content_type = value
        if lowered in _AUTHORIZATION_HEADERS:
            found.extend(_authorization_secrets(value))
        elif _is_credential(name):
            found.append(value)
        elif lowered not in _PUBLIC_HEADERS:
            presumed.append(value)
    for names, value in _query_fields(request.url) + _body_fields(
        content_type, request.body
    ):
        if any(_is_credential(name) for name in names):
            found.append(value)
            scheme = re.fullmatch(_SCHEME, value)
            if scheme is not None and scheme.group(1).lower() == "bearer":
                found.append(scheme.group(2))
        elif not names or not _is_public(names[-1]):
            presumed.append(value)
    found += [value for value in presumed if len(value) >= _PRESUMED_LENGTH]
    unique = {secret for secret in found if secret}
    return tuple(sorted(unique, key=lambda secret: (-len(secret), secret)))


def _is_credential(name: str) -> bool:
    return re.search(_CREDENTIAL_NAME, name) is not None and not _is_public(name)


def _is_public(name: str) -> bool:
    lowered = name.lower()
    return lowered in _PUBLIC_FIELDS or re.search(_PUBLIC_NAME, lowered) is not None


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


Fields = list[tuple[tuple[str, ...], str]]
"""Values with the names that hold them, outermost first (empty: unnamed)."""


def _query_fields(url: str) -> Fields:
    # A key in the token URL's query (Azure Functions' ?code=) is a secret too.
    query = url.partition("?")[2].partition("#")[0]
    if not query:
        return []
    from urllib.parse import parse_qsl

    return [((name,), value) for name, value in parse_qsl(query)]


def _body_fields(content_type: str, body: bytes) -> Fields:
    if not body:
        return []
    media = content_type.partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        return _multipart_fields(content_type, body)
    text = body.decode("utf-8", "replace")
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        import json

        try:
            return list(_json_strings(json.loads(stripped), ()))
        except (ValueError, RecursionError):
            pass
    if media == "application/x-www-form-urlencoded" or re.fullmatch(
        r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*", stripped
    ):
        from urllib.parse import parse_qsl

        return [((name,), value) for name, value in parse_qsl(stripped)]
    # Neither fields nor JSON (XML, say): every long run of text in it.
    return [((), run) for run in re.findall(_TEXT_RUN, text)]


def _json_strings(
    value: object, names: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], str]]:
    # Each string in the document with the names of the members holding it.
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_strings(item, (*names, str(key)))
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item, names)
    elif isinstance(value, str):
        yield names, value


def _multipart_fields(content_type: str, body: bytes) -> Fields:
    match = re.search(_BOUNDARY_PARAM, content_type)
    if match is None:
        return []
    boundary = match.group(1) if match.group(1) is not None else match.group(2)
    fields: Fields = []
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        head, separator, value = part.partition(b"\r\n\r\n")
        name = re.search(_PART_NAME, head)
        if separator and name is not None:
            text = name.group(1).decode("utf-8", "replace")
            text = re.sub(r"\\(.)", r"\1", text)
            fields.append(
                ((text,), value.removesuffix(b"\r\n").decode("utf-8", "replace"))
            )
    return fields
