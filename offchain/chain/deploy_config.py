"""A vault deployment's config: ``load_config(path)`` reads and validates a TOML vault config (see
``configs/sepolia.toml``) into a ``VaultConfig``; ``ConfigError`` says which key is wrong.

What the config must satisfy on-chain is ``offchain.chain.preflight``'s; ``offchain.chain.deploy``
deploys it.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from offchain.core.errors import ConfigError
from offchain.core.model import MAX_AGE_BOUNDS, PARAM_KINDS, Params

DEFAULT_SEQUENCER_GRACE = 3_600  # seconds refused after an L2 sequencer restart


def heartbeat_margin(feed_heartbeat: int) -> int:
    """How far above a feed's published heartbeat its max age may go: 10 %, at least 60 s."""
    return max(feed_heartbeat // 10, 60)


@dataclass(frozen=True)
class AssetConfig:
    symbol: str
    token: str
    feed: str
    weight_bps: int
    heartbeat: int  # seconds: the vault's max age for this feed (required: there is no default)
    feed_heartbeat: int | None = None  # the feed's published heartbeat, when the config states it


@dataclass(frozen=True)
class VaultConfig:
    chain_id: int
    network: str
    name: str
    symbol: str
    router: str
    keeper: str | None  # None: the deployer
    guardian: str | None
    assets: tuple[AssetConfig, ...]
    params: dict[str, int] = field(default_factory=dict)  # only the keys the config sets
    sequencer_feed: str | None = None  # Chainlink L2 sequencer-uptime feed; None on L1
    sequencer_grace: int = DEFAULT_SEQUENCER_GRACE
    min_pool_liquidity_usd: float = 1_000.0
    pairs: tuple[tuple[str, str], ...] = ()  # empty: every pair of assets
    source: str = ""

    @property
    def weights(self) -> list[int]:
        return [a.weight_bps for a in self.assets]

    @property
    def max_ages(self) -> list[int]:
        """The vault's per-feed max ages: each asset's ``heartbeat``."""
        return [a.heartbeat for a in self.assets]

    def vault_params(self) -> Params:
        """The vault's ten parameters: the contract defaults overridden by the config's."""
        return Params(**self.params)

    def trade_pairs(self) -> list[tuple[int, int]]:
        idx = {a.symbol: i for i, a in enumerate(self.assets)}
        if not self.pairs:
            return list(itertools.combinations(range(len(self.assets)), 2))
        return [(idx[a], idx[b]) for a, b in self.pairs]


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not Web3.is_address(value):
        raise ConfigError(f"{where}: {value!r} is not an address")
    return Web3.to_checksum_address(value)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {value!r} is not an integer")
    return value


def load_config(path: str | Path) -> VaultConfig:
    """Parse and validate a TOML vault config; ``ConfigError`` says which key is wrong."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"vault config {p} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"vault config {p} is not valid TOML: {exc}") from None
    try:
        net, vault = doc["network"], doc["vault"]
        chain_id = _int(net["chain_id"], "network.chain_id")
        raw_assets = vault["assets"]
    except KeyError as exc:
        raise ConfigError(f"vault config {p} lacks {exc.args[0]!r} (see configs/sepolia.toml)") from None
    assets = []
    for i, a in enumerate(raw_assets):
        where = f"vault.assets[{i}]"
        try:
            assets.append(
                AssetConfig(
                    symbol=str(a["symbol"]),
                    token=_address(a["token"], f"{where}.token"),
                    feed=_address(a["feed"], f"{where}.feed"),
                    weight_bps=_int(a["weight_bps"], f"{where}.weight_bps"),
                    heartbeat=_int(a["heartbeat"], f"{where}.heartbeat"),
                    feed_heartbeat=(
                        None
                        if a.get("feed_heartbeat") is None
                        else _int(a["feed_heartbeat"], f"{where}.feed_heartbeat")
                    ),
                )
            )
        except KeyError as exc:
            if exc.args[0] == "heartbeat":
                raise ConfigError(
                    f"{where} ({a.get('symbol', '?')}) lacks 'heartbeat': set the vault's max age for "
                    f"its feed in seconds ({MAX_AGE_BOUNDS[0]}..{MAX_AGE_BOUNDS[1]}), a little above the "
                    "feed's published heartbeat; there is no default"
                ) from None
            raise ConfigError(f"{where} lacks {exc.args[0]!r}") from None
    params = {k: _int(v, f"vault.params.{k}") for k, v in vault.get("params", {}).items()}
    unknown = set(params) - set(PARAM_KINDS)
    if unknown:
        raise ConfigError(f"vault.params: unknown parameter(s) {sorted(unknown)}; known: {list(PARAM_KINDS)}")
    sequencer = vault.get("sequencer_feed")
    pre = doc.get("preflight", {})
    pairs = []
    for spec in pre.get("pairs", []):
        parts = str(spec).split("/")
        if len(parts) != 2:
            raise ConfigError(f"preflight.pairs: {spec!r} is not 'A/B'")
        pairs.append((parts[0], parts[1]))
    keeper = vault.get("keeper", "deployer")
    guardian = vault.get("guardian")
    return VaultConfig(
        chain_id=chain_id,
        network=str(net.get("name", chain_id)),
        name=str(vault.get("name", "ballast vault")),
        symbol=str(vault.get("symbol", "bVAULT")),
        router=_address(vault.get("router"), "vault.router"),
        keeper=None if keeper == "deployer" else _address(keeper, "vault.keeper"),
        guardian=None if guardian in (None, "") else _address(guardian, "vault.guardian"),
        assets=tuple(assets),
        params=params,
        sequencer_feed=None if sequencer in (None, "") else _address(sequencer, "vault.sequencer_feed"),
        sequencer_grace=_int(vault.get("sequencer_grace", DEFAULT_SEQUENCER_GRACE), "vault.sequencer_grace"),
        min_pool_liquidity_usd=float(pre.get("min_pool_liquidity_usd", 1_000.0)),
        pairs=tuple(pairs),
        source=str(p),
    )
