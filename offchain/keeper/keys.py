"""The keeper's signing key: an encrypted keystore (password from a file or an env var), or a raw
private key from an env var for local chains only. The key lives in memory inside a ``Signer``;
nothing here prints, logs or ``repr``s it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from offchain.core.errors import ConfigError

LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class Signer:
    """Signs transactions for one address. ``repr``/``str`` show the address only."""

    def __init__(self, account: LocalAccount, source: str):
        self._account = account
        self.address: str = account.address
        self.source = source  # "keystore <path>" or "env <VAR>": never the key

    def __repr__(self) -> str:
        return f"Signer({self.address}, {self.source})"

    __str__ = __repr__

    def sign(self, tx: dict[str, Any]) -> tuple[str, str]:
        """(raw transaction hex, transaction hash hex) of ``tx``."""
        signed = self._account.sign_transaction(tx)
        return "0x" + signed.raw_transaction.hex().removeprefix("0x"), "0x" + signed.hash.hex().removeprefix(
            "0x"
        )


def _password(password_file: str | None, password_env: str | None) -> str:
    if password_file:
        p = Path(password_file)
        try:
            return p.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read keystore password file {p}: {exc.strerror or exc}") from None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise ConfigError(f"keystore password env var {password_env} is not set")
        return value
    raise ConfigError("a keystore needs --password-file or --password-env")


def load_signer(
    *,
    chain_id: int,
    keystore: str | None = None,
    password_file: str | None = None,
    password_env: str | None = None,
    private_key_env: str | None = None,
) -> Signer:
    """The keeper's signer. A raw env key is refused unless ``chain_id`` is a local chain (31337, 1337)."""
    if keystore:
        path = Path(keystore)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"keystore {path} not found") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"keystore {path} is not a readable JSON keystore ({type(exc).__name__})"
            ) from None
        try:
            key = Account.decrypt(doc, _password(password_file, password_env))
        except ValueError:
            raise ConfigError(f"cannot decrypt keystore {path}: wrong password or corrupt file") from None
        return Signer(Account.from_key(key), f"keystore {path}")
    if private_key_env:
        raw = os.environ.get(private_key_env)
        if not raw:
            raise ConfigError(f"private key env var {private_key_env} is not set")
        if chain_id not in LOCAL_CHAIN_IDS:
            raise ConfigError(
                f"a raw private key from {private_key_env} is only accepted on local chains "
                f"(chain ids {sorted(LOCAL_CHAIN_IDS)}); chain {chain_id} needs --keystore"
            )
        try:
            account = Account.from_key(raw.strip())
        except (ValueError, TypeError):
            raise ConfigError(f"{private_key_env} does not hold a valid private key") from None
        return Signer(account, f"env {private_key_env}")
    raise ConfigError(
        "no keeper key: pass --keystore (with --password-file/--password-env) or --private-key-env"
    )
