"""The optional dependencies: which extra installs what an adapter imports.

The core needs only attrs. An adapter that needs more imports it at the top
inside ``try``, and turns the ``ImportError`` of a missing package into one
that says which extra to install, rather than "No module named 'h11'" from
three imports down.
"""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(
    module: str, extra: str, packages: tuple[str, ...], error: ImportError
) -> ImportError:
    """The error to raise for *error*, met importing *module*.

    Args:
      module: the adapter's import path (``__name__``).
      extra: the extra that installs what it needs (``trio``).
      packages: the top-level packages that extra brings.
      error: what the import raised.

    Returns:
      An ``ImportError`` naming the missing package and the ``pip install``
      command, or *error* itself when what failed is not one of *packages*
      (a real fault inside an installed one must not pass for "install it").
    """
    name = error.name or ""
    if name.partition(".")[0] not in packages:
        return error
    return ImportError(
        f"{module} needs the {name.partition('.')[0]!r} package, which is not "
        f"installed: pip install 'sansio-auth[{extra}]'",
        name=name,
    )
