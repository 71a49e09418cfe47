"""The ``ballast`` command line. Sub-commands live in ``offchain.commands``; every
``BallastError`` becomes one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from offchain import __version__
from offchain.commands import COMMANDS
from offchain.errors import BallastError

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"ballast: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ballast", description="On-chain portfolio rebalancing toolkit.")
    parser.add_argument("--version", action="version", version=f"ballast {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"offchain.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"offchain.commands.{name}":
                continue  # sub-command not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BallastError as exc:
        print(f"ballast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ballast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
