"""``python -m sansio_auth.adapters.server``: serve in the foreground."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
