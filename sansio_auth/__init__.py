"""sansio-auth: access tokens from token endpoints, kept fresh, sans I/O.

The core turns credentials into request descriptions and response bytes into
:class:`Token` or error values; it does no I/O, reads no clock and draws no
random numbers. The adapters in ``sansio_auth.adapters`` send the requests.
"""

from __future__ import annotations

import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._encoding import basic_authorization as basic_authorization
from ._encoding import encode_form as encode_form
from ._encoding import encode_json as encode_json
from ._encoding import encode_multipart as encode_multipart
from ._errors import HttpError as HttpError
from ._errors import MalformedResponse as MalformedResponse
from ._errors import OAuthError as OAuthError
from ._errors import TokenError as TokenError
from ._errors import TransportError as TransportError
from ._flows import USER_AGENT as USER_AGENT
from ._flows import ApiKeyExchange as ApiKeyExchange
from ._flows import ClientAuth as ClientAuth
from ._flows import ClientCredentials as ClientCredentials
from ._flows import Flow as Flow
from ._flows import PasswordGrant as PasswordGrant
from ._http import HttpRequest as HttpRequest
from ._http import HttpResponse as HttpResponse
from ._jwt import jwt_claims as jwt_claims
from ._parse import parse_token_response as parse_token_response
from ._retry_after import parse_retry_after as parse_retry_after
from ._session import TRANSITIONS as TRANSITIONS
from ._session import AwaitInFlight as AwaitInFlight
from ._session import Backoff as Backoff
from ._session import Failed as Failed
from ._session import RetryPolicy as RetryPolicy
from ._session import SendRequest as SendRequest
from ._session import SessionEvent as SessionEvent
from ._session import SessionState as SessionState
from ._session import SessionStats as SessionStats
from ._session import Step as Step
from ._session import TokenSession as TokenSession
from ._session import UseToken as UseToken
from ._token import Token as Token
from ._urls import check_token_url as check_token_url
from ._version import __version__ as __version__

if _TYPE_CHECKING:
    from ._challenge import ApiAction as ApiAction
    from ._challenge import Challenge as Challenge
    from ._challenge import api_action as api_action
    from ._challenge import parse_challenges as parse_challenges
    from ._dpop import DPoPKey as DPoPKey
    from ._fleet import STORE_DOWN as STORE_DOWN
    from ._fleet import Adopt as Adopt
    from ._fleet import DiscardToken as DiscardToken
    from ._fleet import Finished as Finished
    from ._fleet import Outcome as Outcome
    from ._fleet import ReadStore as ReadStore
    from ._fleet import ReleaseLease as ReleaseLease
    from ._fleet import SendToken as SendToken
    from ._fleet import Sent as Sent
    from ._fleet import SharedFetch as SharedFetch
    from ._fleet import ShareFailure as ShareFailure
    from ._fleet import StoreOp as StoreOp
    from ._fleet import TakeLease as TakeLease
    from ._fleet import WaitForStore as WaitForStore
    from ._fleet import WriteFailure as WriteFailure
    from ._fleet import WriteToken as WriteToken
    from ._grants import TOKEN_TYPE_ACCESS_TOKEN as TOKEN_TYPE_ACCESS_TOKEN
    from ._grants import TOKEN_TYPE_ID_TOKEN as TOKEN_TYPE_ID_TOKEN
    from ._grants import TOKEN_TYPE_JWT as TOKEN_TYPE_JWT
    from ._grants import TOKEN_TYPE_REFRESH_TOKEN as TOKEN_TYPE_REFRESH_TOKEN
    from ._grants import TOKEN_TYPE_SAML1 as TOKEN_TYPE_SAML1
    from ._grants import TOKEN_TYPE_SAML2 as TOKEN_TYPE_SAML2
    from ._grants import JwtBearerGrant as JwtBearerGrant
    from ._grants import TokenExchange as TokenExchange
    from ._mask import mask_secrets as mask_secrets
    from ._secrets import request_secrets as request_secrets
    from ._stamp import Stamp as Stamp
    from ._store_key import check_store_prefix as check_store_prefix
    from ._store_key import store_key as store_key
    from ._stored import StoredEntry as StoredEntry
    from ._stored import decode_failure as decode_failure
    from ._stored import decode_stored as decode_stored
    from ._stored import encode_failure as encode_failure
    from ._stored import encode_stored as encode_stored
    from ._stored import stored_ttl as stored_ttl
    from ._stored import token_tag as token_tag

__all__ = [
    "STORE_DOWN",
    "TOKEN_TYPE_ACCESS_TOKEN",
    "TOKEN_TYPE_ID_TOKEN",
    "TOKEN_TYPE_JWT",
    "TOKEN_TYPE_REFRESH_TOKEN",
    "TOKEN_TYPE_SAML1",
    "TOKEN_TYPE_SAML2",
    "TRANSITIONS",
    "USER_AGENT",
    "Adopt",
    "ApiAction",
    "ApiKeyExchange",
    "AwaitInFlight",
    "Backoff",
    "Challenge",
    "ClientAuth",
    "ClientCredentials",
    "DPoPKey",
    "DiscardToken",
    "Failed",
    "Finished",
    "Flow",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "JwtBearerGrant",
    "MalformedResponse",
    "OAuthError",
    "Outcome",
    "PasswordGrant",
    "ReadStore",
    "ReleaseLease",
    "RetryPolicy",
    "SendRequest",
    "SendToken",
    "Sent",
    "SessionEvent",
    "SessionState",
    "SessionStats",
    "ShareFailure",
    "SharedFetch",
    "Stamp",
    "Step",
    "StoreOp",
    "StoredEntry",
    "TakeLease",
    "Token",
    "TokenError",
    "TokenExchange",
    "TokenSession",
    "TransportError",
    "UseToken",
    "WaitForStore",
    "WriteFailure",
    "WriteToken",
    "__version__",
    "api_action",
    "basic_authorization",
    "check_store_prefix",
    "check_token_url",
    "decode_failure",
    "decode_stored",
    "encode_failure",
    "encode_form",
    "encode_json",
    "encode_multipart",
    "encode_stored",
    "jwt_claims",
    "mask_secrets",
    "parse_challenges",
    "parse_retry_after",
    "parse_token_response",
    "request_secrets",
    "store_key",
    "stored_ttl",
    "token_tag",
]

# Tracebacks and reprs name the public home of each object, not the private
# module it happens to live in (as trio does).
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type | _types.FunctionType):
        _obj.__module__ = __name__
del _name, _obj


_CHALLENGE_NAMES = frozenset(
    {"ApiAction", "Challenge", "api_action", "parse_challenges"}
)
# The shared stores' parts: only a client given a store asks for them.
_LAZY_MODULES = {
    **dict.fromkeys(
        (
            "STORE_DOWN",
            "Adopt",
            "DiscardToken",
            "Finished",
            "Outcome",
            "ReadStore",
            "ReleaseLease",
            "SendToken",
            "Sent",
            "ShareFailure",
            "SharedFetch",
            "StoreOp",
            "TakeLease",
            "WaitForStore",
            "WriteFailure",
            "WriteToken",
        ),
        "_fleet",
    ),
    **dict.fromkeys(
        (
            "StoredEntry",
            "decode_failure",
            "decode_stored",
            "encode_failure",
            "encode_stored",
            "stored_ttl",
            "token_tag",
        ),
        "_stored",
    ),
    **dict.fromkeys(("check_store_prefix", "store_key"), "_store_key"),
    # The JWT flows and DPoP: only their users pay for their import.
    **dict.fromkeys(
        (
            "JwtBearerGrant",
            "TokenExchange",
            "TOKEN_TYPE_ACCESS_TOKEN",
            "TOKEN_TYPE_ID_TOKEN",
            "TOKEN_TYPE_JWT",
            "TOKEN_TYPE_REFRESH_TOKEN",
            "TOKEN_TYPE_SAML1",
            "TOKEN_TYPE_SAML2",
        ),
        "_grants",
    ),
    "DPoPKey": "_dpop",
    "Stamp": "_stamp",
}


def __getattr__(name: str) -> object:
    # Masking serves error paths only, and the 401 rules the integrations
    # only: their modules are imported when a name of theirs is first asked
    # for (PEP 562), not with the package.
    value: object
    if name == "mask_secrets":
        from ._mask import mask_secrets as value
    elif name == "request_secrets":
        from ._secrets import request_secrets as value
    elif name in _CHALLENGE_NAMES:
        from . import _challenge

        value = getattr(_challenge, name)
    elif name in _LAZY_MODULES:
        import importlib

        value = getattr(
            importlib.import_module(f".{_LAZY_MODULES[name]}", __name__), name
        )
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if isinstance(value, type | _types.FunctionType):
        value.__module__ = __name__
    globals()[name] = value
    return value
