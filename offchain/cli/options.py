"""The one way a sub-command declares an option: ``Options.add`` adds the flag, makes its environment
variable ``BALLAST_<COMMAND>_<NAME>`` the default (a flag on the command line wins) and names the
variable in the help. (The keeper's run options come from ``offchain.keeper.config.KeeperConfig``.)

A boolean flag's variable is read with ``offchain.core.env.parse_flag``; a bad one is an ``InputError``
while the parser is built, which ``offchain.cli.main`` prints as one line with exit code 2. A value
option's variable is its default string, converted by argparse with the option's ``type`` (a bad
one is a usage error, exit 2) and only when the flag is absent.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from offchain.core.env import env_value, parse_flag
from offchain.core.errors import InputError

__all__ = ["Options"]

_BOOLEAN_ACTIONS = ("store_true", "store_const")


class _Append(argparse._AppendAction):
    """``append`` whose first value on the command line replaces the default (the env var's list)
    instead of adding to it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is self.default:
            setattr(namespace, self.dest, [])
        super().__call__(parser, namespace, values, option_string)


class Options:
    """The options of ``command`` on ``parser`` (a parser or an argument group). With
    ``legacy_prefix`` (e.g. ``"BALLAST_"``), ``<legacy_prefix><NAME>`` is still read when
    ``BALLAST_<COMMAND>_<NAME>`` is unset; the new name wins when both are set."""

    def __init__(
        self, parser: argparse._ActionsContainer, command: str, legacy_prefix: str | None = None
    ) -> None:
        self.parser = parser
        self.command = command
        self.prefix = f"BALLAST_{command.upper()}_"
        self.legacy_prefix = legacy_prefix
        self._groups: dict[str, argparse._ArgumentGroup] = {}

    def env_name(self, name: str) -> str:
        """The variable that sets ``name``: the command's, or the legacy one when only that is set."""
        new = self.prefix + name
        if self.legacy_prefix and env_value(new) is None and env_value(self.legacy_prefix + name):
            return self.legacy_prefix + name
        return new

    def add(
        self, *flags: str, env: str | None = None, group: str | None = None, sep: str = ";", **kw: Any
    ) -> argparse.Action:
        """``parser.add_argument(*flags, **kw)`` with the env var as its default, named in its help.

        ``env`` is the NAME (required for a positional; by default the long flag without dashes,
        ``-`` as ``_``, upper case). ``group`` is the title of an argument group (made on first use).
        An ``append`` option's variable holds several values separated by ``sep``, each converted
        with ``type`` here; the first flag on the command line replaces them all.
        """
        key = env or _name(flags)
        name = self.env_name(key)
        value = env_value(name)
        action = kw.get("action")
        note = f"{self.prefix}{key}"
        if action in _BOOLEAN_ACTIONS:
            if parse_flag(value, f"environment variable {name}"):
                kw["default"] = kw.get("const", True)
            note += "=1"
        elif action == "append":
            kw["action"] = _Append
            if value is not None:
                kw["default"] = _items(value, sep, kw.get("type"), name)
            note += f", several separated by {sep!r}"
        elif value is not None:
            kw["default"] = value  # argparse applies ``type`` to a string default
            if kw.get("required"):
                kw["required"] = False
        kw["help"] = f"{kw.get('help', '')} [env: {note}]"
        target = self.parser if group is None else self._group(group)
        return target.add_argument(*flags, **kw)

    def _group(self, title: str) -> argparse._ArgumentGroup:
        if title not in self._groups:
            self._groups[title] = self.parser.add_argument_group(title)
        return self._groups[title]


def _name(flags: tuple[str, ...]) -> str:
    """``--no-costs`` -> ``NO_COSTS``: the env NAME of an option, from its long flag."""
    long = next((f for f in flags if f.startswith("--")), None)
    if long is None:
        raise ValueError(f"option {flags} has no long flag: pass env=NAME")
    return long[2:].replace("-", "_").upper()


def _items(value: str, sep: str, convert: Any, name: str) -> list[Any]:
    """The ``sep``-separated values of the variable ``name``, each through ``convert``."""
    try:
        return [convert(s) if convert else s for s in value.split(sep) if s.strip()]
    except (argparse.ArgumentTypeError, InputError, ValueError, TypeError) as exc:
        raise InputError(f"{name}: {exc}") from None
