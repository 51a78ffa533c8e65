"""Flows for the vendors sansio-auth serves, built from their documents.

Each function returns a flow (a frozen value; see :class:`sansio_auth.Flow`)
that builds exactly the request the vendor documents and parses its answers.
"""

from __future__ import annotations

import types as _types

from ._smartconnect import SMARTCONNECT_REGIONS as SMARTCONNECT_REGIONS
from ._smartconnect import smartconnect as smartconnect
from ._smartdocumentor import smartdocumentor as smartdocumentor
from ._smartway import smartway as smartway
from ._smartway import smartway_identity as smartway_identity
from ._teamsystem import TeamSystemFlow as TeamSystemFlow
from ._teamsystem import teamsystem as teamsystem

__all__ = [
    "SMARTCONNECT_REGIONS",
    "TeamSystemFlow",
    "smartconnect",
    "smartdocumentor",
    "smartway",
    "smartway_identity",
    "teamsystem",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type | _types.FunctionType):
        _obj.__module__ = __name__
del _name, _obj
