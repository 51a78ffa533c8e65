"""``python -m sansio_auth.adapters.cli``."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
