"""What each command does, given its parsed arguments."""

from __future__ import annotations

import argparse
import time

from sansio_auth import TokenError

from ._exits import EXIT_ERROR, EXIT_OK, UsageError
from ._fetch import Adapter, adapter_module, classify, fetch_token, render
from ._io import CommandIO
from ._providers import OPTION_NAMES, PROVIDERS, Options, build_flow
from ._serve import serve
from ._signed import client_options, loose_key_files
from ._stores import STORE_ENV, open_store

__all__ = ["cmd_demo", "cmd_serve", "cmd_token"]


def cmd_token(args: argparse.Namespace, io: CommandIO) -> int:
    _check_installed(args.adapter)
    provider = PROVIDERS[args.provider]
    options = Options(**{name: getattr(args, name) for name in OPTION_NAMES})
    flow = build_flow(
        provider, options, environ=io.environ, stdin=io.stdin, prompt=io.prompt
    )
    binding = client_options(
        options, environ=io.environ, stdin=io.stdin, prompt=io.prompt
    )
    for warning in loose_key_files(options):
        io.fail(warning)
    if options.dpop:
        # A key made for this run dies with it: a token bound to it is of no
        # use to the next run, and a store would keep it under a key nobody
        # will ask for again.
        if args.store is not None:
            raise UsageError(
                "--dpop makes a key for this run only, whose tokens no later "
                "run can use: give --dpop-key-file to share through --store"
            )
        if io.environ.get(STORE_ENV):
            io.fail(
                f"note: {STORE_ENV} is not used with --dpop (a key for this run only)"
            )
        io.fail(
            "note: --dpop binds the token to a key made for this run only: "
            "nothing can use it after this run (--dpop-key-file keeps the key)"
        )
        store = None
    else:
        store = open_store(args.store, io.environ)
    try:
        token = fetch_token(
            flow,
            adapter=args.adapter,
            timeout=args.timeout,
            attempts=args.attempts,
            store=store,
            **binding,
        )
    except TokenError as exc:
        code, message = classify(exc)
        io.fail(message)
        return code
    except ValueError as exc:
        # A certificate that does not load, an assertion file that turned
        # bad: the library's words name the file, never what it holds.
        raise UsageError(str(exc)) from None
    except OSError as exc:
        # The adapters turn network failures into TransportError: this is a
        # file (an assertion file gone between two reads).
        io.fail(f"cannot read a file: {exc}")
        return EXIT_ERROR
    finally:
        if store is not None:
            store.close()  # type: ignore[attr-defined]
    io.stdout.write(render(token, args.output, time.time()) + "\n")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, io: CommandIO) -> int:
    return serve(host=args.host, port=args.port, io=io)


def cmd_demo(args: argparse.Namespace, io: CommandIO) -> int:
    adapters = tuple(dict.fromkeys(args.adapter or ()))  # once each, in order
    for adapter in adapters:
        _check_installed(adapter)
    from ._demo import demo

    return demo(io.stdout, adapters)


def _check_installed(adapter: Adapter) -> None:
    """Refuse *adapter* before any work (a prompt for a secret) when its
    extra is not installed."""
    try:
        adapter_module(adapter)
    except ImportError as exc:
        raise UsageError(f"--adapter {adapter}: {exc}") from None
