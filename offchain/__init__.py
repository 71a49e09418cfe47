"""ballast off-chain tooling: the vault's reference model, portfolio engine, keeper and auditor."""

from offchain.errors import BallastError, ChainError, ConfigError, InputError, OptimisationError

__version__ = "0.1.0"

__all__ = ["BallastError", "ChainError", "ConfigError", "InputError", "OptimisationError", "__version__"]
