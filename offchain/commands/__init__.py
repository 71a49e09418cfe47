"""CLI sub-commands. Each module exposes ``register(subparsers)`` adding one sub-command whose
parser sets ``func(args) -> int``. ``offchain.cli`` imports the modules listed in ``COMMANDS``."""

COMMANDS = ["optimize", "backtest", "simulate", "keeper", "audit"]
