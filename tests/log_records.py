"""What the ``sansio_auth`` logger records during a block, at DEBUG."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["records"]


@contextlib.contextmanager
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``sansio_auth`` logger inside the block."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    logger = logging.getLogger("sansio_auth")
    handler = Keep(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield got
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
