"""One exception family for ballast. The CLI turns any of these into one line and exit code 2."""

from __future__ import annotations

__all__ = ["BallastError", "InputError", "ConfigError", "ChainError", "OptimisationError"]


class BallastError(Exception):
    """Base class: the message says what is wrong and what to do about it."""


class InputError(BallastError):
    """Bad user input: files, CSV data, weights, CLI arguments, addresses."""


class ConfigError(InputError):
    """A configuration file or manifest is missing, malformed or inconsistent."""


class ChainError(BallastError):
    """The node or a contract did not answer as required (RPC failure, revert, wrong chain)."""


class OptimisationError(BallastError):
    """The optimisation problem is infeasible or degenerate for the given inputs."""
