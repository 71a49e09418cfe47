"""The ``ballast`` command line; every ``BallastError`` becomes one line on stderr and exit code 2,
never a traceback.

Each sub-command is a module here (``optimize``, ``backtest``, ``simulate``, ``keeper``, ``audit``)
exposing ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from offchain import __version__
from offchain.core.errors import BallastError

log = logging.getLogger(__name__)

# Each sub-command's one-line help, here so that ``ballast --help`` lists them all without importing
# any: only the sub-command being run (or asked for its --help) is imported, with its libraries.
COMMANDS = {
    "optimize": "mean-variance target weights from daily prices",
    "backtest": "replay daily prices under rebalancing policies and compare them",
    "simulate": "Monte Carlo comparison of rebalancing policies from a TOML scenario",
    "keeper": "the keeper bot: watch vaults and submit allowed rebalances",
    "audit": "verify every rebalance a vault ever made, from the chain alone",
}


def _with_default(action: argparse.Action, text: str) -> str:
    """``text`` plus ``(default: ...)`` unless it already names its default or has none to show."""
    default = action.default
    if (
        not action.option_strings
        or default in (None, False, argparse.SUPPRESS)
        or "default" in text.lower()
        or "%(default)" in text
    ):
        return text
    shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
    note = f" (default: {shown.replace('%', '%%')})"
    cut = min((i for i in (text.find(" [env:"), text.find(" (env ")) if i >= 0), default=len(text))
    return text[:cut] + note + text[cut:]


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help shows its default (the value in force, after its env var)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return _with_default(action, action.help or "")


class _RawHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``_HelpFormatter`` for sub-commands whose description is pre-formatted."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return _with_default(action, action.help or "")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2 and shows every default."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raw = kwargs.get("formatter_class") is argparse.RawDescriptionHelpFormatter
        kwargs["formatter_class"] = _RawHelpFormatter if raw else _HelpFormatter
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"ballast: error: {message} (see '{self.prog} --help')\n")


def _named_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first non-option word), if it is one of ``COMMANDS``."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``ballast`` parser. With ``argv``, only the sub-command it names is imported and fully
    registered (the others are listed by name and help); without, every sub-command is."""
    parser = _Parser(prog="ballast", description="On-chain portfolio rebalancing toolkit.")
    parser.add_argument("--version", action="version", version=f"ballast {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (default: off)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = set(COMMANDS) if argv is None else {_named_command(argv)}
    for name, help_text in COMMANDS.items():
        if name in wanted:
            importlib.import_module(f"offchain.cli.{name}").register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)  # env-var defaults are read here: a bad one is one line too
    except BallastError as exc:
        print(f"ballast: error: {exc}", file=sys.stderr)
        return 2
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
