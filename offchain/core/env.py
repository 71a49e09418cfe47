"""Environment variables as option values: the one boolean parser and the one "is it set" rule."""

from __future__ import annotations

import os

from offchain.core.errors import InputError

__all__ = ["parse_flag", "env_value"]

_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_FALSE = frozenset({"", "0", "false", "no", "off", "n"})


def parse_flag(value: str | None, where: str) -> bool:
    """A boolean from an env/TOML string: 1/0, true/false, yes/no, on/off, y/n (any case, surrounding
    spaces ignored); unset or empty is False. Anything else is an ``InputError`` naming ``where``."""
    s = "" if value is None else str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise InputError(f"{where}={value!r} is not a boolean; use 1 or 0")


def env_value(name: str, default: str | None = None) -> str | None:
    """The environment variable ``name`` if it is set and not blank, else ``default``."""
    value = os.environ.get(name)
    return value if value is not None and value.strip() != "" else default
