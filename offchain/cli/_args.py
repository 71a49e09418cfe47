"""argparse helpers shared by the sub-commands: typed converters whose errors argparse turns into
one line ("ballast: error: argument --x: ...") with exit code 2."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

from offchain.core.errors import InputError

T = TypeVar("T")


def number(
    kind: str, *, positive: bool = False, nonneg: bool = False, allow_inf: bool = False
) -> Callable[[str], float]:
    """Converter for a float flag (``1_000`` separators allowed); NaN always refused."""

    def convert(text: str) -> float:
        try:
            value = float(str(text).replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be a number, got {text!r}") from None
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise argparse.ArgumentTypeError(f"{kind} must be finite, got {text!r}")
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"{kind} must be > 0, got {text!r}")
        if nonneg and value < 0:
            raise argparse.ArgumentTypeError(f"{kind} must be >= 0, got {text!r}")
        return value

    return convert


def argtype(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap a parser that raises ``InputError`` so argparse reports its message as a usage error."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert
