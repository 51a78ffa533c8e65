"""The I/O adapters: ``sansio_auth.adapters.urllib``, ``.trio`` and ``.anyio``.

This folder is installed as ``sansio_auth.adapters`` (see pyproject.toml);
it is never a top-level ``adapters`` package.
"""
