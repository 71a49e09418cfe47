"""Deploy a vault from a config file, safely: preflight every input on-chain before sending anything.

``load_config(path)`` reads a TOML vault config (see ``configs/sepolia.toml``). ``preflight(w3,
config)`` checks, with reads only, the chain id, weights and parameters, every token (code,
symbol, decimals), every feed (code, decimals, description, a fresh positive complete answer
within its heartbeat) and, for every pair the keeper may trade, that the router's factory has a
pool holding at least ``min_pool_liquidity_usd`` per side at feed prices. ``deploy(...)`` then
deploys the factory (blueprint + ``VaultFactory``) and the lens if the chain's manifest has none,
deploys the vault through the factory, accepts its ownership, applies per-feed heartbeats and
parameters, and merges the vault into ``deployments/<chain-id>.json``.

Used by ``scripts/deploy.py`` (``brownie run scripts/deploy.py --network sepolia``).
"""

from __future__ import annotations

import itertools
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from offchain.chain import Sender, load_artifact
from offchain.errors import ConfigError, InputError
from offchain.manifest import DEPLOYMENTS, load_manifest, manifest_path, save_manifest
from offchain.model import BPS

log = logging.getLogger(__name__)

# The vault's hard bounds (contracts/RebalancingVault.vy), checked before deploying.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "drift_threshold_bps": (10, 5_000),
    "rebalance_period": (86_400, 366 * 86_400),
    "min_drift_bps": (1, 5_000),
    "cooldown": (0, 30 * 86_400),
    "max_slippage_bps": (1, 1_000),
    "max_trade_bps": (100, 10_000),
    "tolerance_bps": (0, 200),
    "target_delay": (3_600, 30 * 86_400),
}
DEFAULT_PARAMS: dict[str, int] = {
    "drift_threshold_bps": 500,
    "rebalance_period": 30 * 86_400,
    "min_drift_bps": 100,
    "cooldown": 3_600,
    "max_slippage_bps": 100,
    "max_trade_bps": 5_000,
    "tolerance_bps": 25,
    "target_delay": 86_400,
}
MAX_AGE_BOUNDS = (60, 3 * 86_400)
DEFAULT_MAX_AGE = 86_400

_ERC20_ABI = [
    {"name": n, "type": "function", "stateMutability": "view", "inputs": [], "outputs": [{"type": t}]}
    for n, t in (("symbol", "string"), ("decimals", "uint8"))
]
_FACTORY_ABI = [
    {
        "name": "getPair",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"type": "address"}, {"type": "address"}],
        "outputs": [{"type": "address"}],
    }
]
_ROUTER_ABI = [
    {
        "name": "factory",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"type": "address"}],
    }
]


# ---- config ----


@dataclass(frozen=True)
class AssetConfig:
    symbol: str
    token: str
    feed: str
    weight_bps: int
    heartbeat: int = DEFAULT_MAX_AGE  # seconds: the vault's max age for this feed


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
    params: dict[str, int] = field(default_factory=dict)
    min_pool_liquidity_usd: float = 1_000.0
    pairs: tuple[tuple[str, str], ...] = ()  # empty: every pair of assets
    source: str = ""

    @property
    def weights(self) -> list[int]:
        return [a.weight_bps for a in self.assets]

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
                    heartbeat=_int(a.get("heartbeat", DEFAULT_MAX_AGE), f"{where}.heartbeat"),
                )
            )
        except KeyError as exc:
            raise ConfigError(f"{where} lacks {exc.args[0]!r}") from None
    params = {k: _int(v, f"vault.params.{k}") for k, v in vault.get("params", {}).items()}
    unknown = set(params) - set(PARAM_BOUNDS)
    if unknown:
        raise ConfigError(
            f"vault.params: unknown parameter(s) {sorted(unknown)}; known: {sorted(PARAM_BOUNDS)}"
        )
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
        min_pool_liquidity_usd=float(pre.get("min_pool_liquidity_usd", 1_000.0)),
        pairs=tuple(pairs),
        source=str(p),
    )


# ---- preflight ----


@dataclass
class Preflight:
    """What preflight found. ``errors`` stop the deployment; ``facts`` are printed in the plan."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    feeds: list[dict[str, Any]] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _has_code(w3: Web3, address: str) -> bool:
    return len(w3.eth.get_code(address)) > 0


def _check_static(config: VaultConfig, out: Preflight) -> None:
    n = len(config.assets)
    if not 2 <= n <= 8:
        out.errors.append(f"bad weights: {n} assets; a vault holds 2 to 8")
    total = sum(config.weights)
    if any(w < 0 for w in config.weights) or total != BPS:
        out.errors.append(f"bad weights: target weights sum to {total} bps; they must sum to exactly {BPS}")
    tokens = [a.token.lower() for a in config.assets]
    if len(set(tokens)) != n:
        out.errors.append("bad assets: the same token is listed twice")
    params = {**DEFAULT_PARAMS, **config.params}
    for k, v in config.params.items():
        lo, hi = PARAM_BOUNDS[k]
        if not lo <= v <= hi:
            out.errors.append(f"bad parameter: {k} = {v} is outside the vault's bounds [{lo}, {hi}]")
    if params["min_drift_bps"] > params["drift_threshold_bps"]:
        out.errors.append("bad parameter: min_drift_bps must not exceed drift_threshold_bps")
    for a in config.assets:
        lo, hi = MAX_AGE_BOUNDS
        if not lo <= a.heartbeat <= hi:
            out.errors.append(f"bad heartbeat: {a.symbol} heartbeat {a.heartbeat} s is outside [{lo}, {hi}]")
    symbols = [a.symbol for a in config.assets]
    for x, y in config.pairs:
        if x not in symbols or y not in symbols:
            out.errors.append(f"bad pair: preflight.pairs names {x}/{y}, not both vault assets {symbols}")


def preflight(w3: Web3, config: VaultConfig, now: int | None = None) -> Preflight:
    """Read-only checks of everything the deployment depends on (see the module docstring)."""
    out = Preflight()
    chain_id = w3.eth.chain_id
    if chain_id != config.chain_id:
        out.errors.append(
            f"wrong chain id: the node is chain {chain_id}, the config {config.source} is for "
            f"{config.chain_id} ({config.network}); check --network / the RPC URL"
        )
        return out
    _check_static(config, out)
    now = now if now is not None else w3.eth.get_block("latest")["timestamp"]
    agg_abi = load_artifact("AggregatorDouble").abi  # Chainlink AggregatorV3 read interface
    prices: dict[int, float] = {}
    for i, a in enumerate(config.assets):
        if not _has_code(w3, a.token):
            out.errors.append(f"missing token: no contract at {a.token} ({a.symbol})")
        else:
            token = w3.eth.contract(address=a.token, abi=_ERC20_ABI)
            try:
                symbol, decimals = token.functions.symbol().call(), token.functions.decimals().call()
            except Exception as exc:  # noqa: BLE001 - any failure to read is a preflight error
                out.errors.append(
                    f"bad token: {a.token} ({a.symbol}) does not answer symbol()/decimals(): {exc}"
                )
            else:
                out.tokens.append({"symbol": symbol, "address": a.token, "decimals": decimals})
                if symbol != a.symbol:
                    out.warnings.append(
                        f"token {a.token} calls itself {symbol!r}, the config says {a.symbol!r}"
                    )
                if decimals > 18:
                    out.errors.append(f"bad token: {a.symbol} has {decimals} decimals; the vault takes 0-18")
        if not _has_code(w3, a.feed):
            out.errors.append(f"missing feed: no contract at {a.feed} ({a.symbol} / USD)")
            continue
        feed = w3.eth.contract(address=a.feed, abi=agg_abi)
        try:
            decimals = feed.functions.decimals().call()
            description = feed.functions.description().call()
            round_id, answer, _, updated_at, answered_in = feed.functions.latestRoundData().call()
        except Exception as exc:  # noqa: BLE001
            out.errors.append(f"bad feed: {a.feed} ({a.symbol}) does not answer like an AggregatorV3: {exc}")
            continue
        age = now - updated_at
        out.feeds.append(
            {
                "symbol": a.symbol,
                "address": a.feed,
                "description": description,
                "decimals": decimals,
                "answer": answer,
                "age_s": age,
                "heartbeat_s": a.heartbeat,
            }
        )
        if decimals > 18:
            out.errors.append(f"bad feed: {description} has {decimals} decimals; the vault takes 0-18")
        if answer <= 0:
            out.errors.append(f"dead feed: {description} ({a.feed}) answers {answer}")
        elif updated_at == 0 or answered_in < round_id:
            out.errors.append(f"dead feed: {description} ({a.feed}) reports an incomplete round")
        elif age > a.heartbeat:
            out.errors.append(
                f"stale feed: {description} ({a.feed}) last updated {age:,} s ago, over its "
                f"heartbeat {a.heartbeat:,} s; check the feed or set a longer heartbeat"
            )
        else:
            prices[i] = answer / 10**decimals
    _check_pools(w3, config, out, prices)
    return out


def _check_pools(w3: Web3, config: VaultConfig, out: Preflight, prices: dict[int, float]) -> None:
    if not _has_code(w3, config.router):
        out.errors.append(f"missing router: no contract at {config.router}")
        return
    try:
        factory_addr = w3.eth.contract(address=config.router, abi=_ROUTER_ABI).functions.factory().call()
    except Exception as exc:  # noqa: BLE001
        out.errors.append(f"bad router: {config.router} has no factory(): {exc}")
        return
    factory = w3.eth.contract(address=factory_addr, abi=_FACTORY_ABI)
    pair_abi = load_artifact("UniswapV2PairDouble").abi  # Uniswap V2 pair read interface
    decimals = {t["address"]: t["decimals"] for t in out.tokens}
    for i, j in config.trade_pairs():
        a, b = config.assets[i], config.assets[j]
        label = f"{a.symbol}/{b.symbol}"
        try:
            pair = factory.functions.getPair(a.token, b.token).call()
        except Exception as exc:  # noqa: BLE001
            out.errors.append(f"bad router: factory {factory_addr} getPair failed for {label}: {exc}")
            continue
        if int(pair, 16) == 0:
            out.errors.append(
                f"dead pair: the router's factory has no {label} pool; the keeper could not trade it"
            )
            continue
        c = w3.eth.contract(address=pair, abi=pair_abi)
        r0, r1, _ = c.functions.getReserves().call()
        a_first = c.functions.token0().call().lower() == a.token.lower()
        ra, rb = (r0, r1) if a_first else (r1, r0)
        usd = None
        if i in prices and j in prices and a.token in decimals and b.token in decimals:
            usd = min(ra / 10 ** decimals[a.token] * prices[i], rb / 10 ** decimals[b.token] * prices[j])
        out.pools.append(
            {"pair": label, "address": pair, "reserve_a": ra, "reserve_b": rb, "usd_per_side": usd}
        )
        if ra == 0 or rb == 0:
            out.errors.append(f"dead pair: {label} pool {pair} is empty")
        elif usd is not None and usd < config.min_pool_liquidity_usd:
            out.errors.append(
                f"dead pair: {label} pool {pair} holds ${usd:,.0f} per side, under the "
                f"${config.min_pool_liquidity_usd:,.0f} minimum (preflight.min_pool_liquidity_usd)"
            )


# ---- deployment ----


@dataclass
class Deployment:
    vault: str
    factory: str
    blueprint: str
    lens: str
    manifest: Path
    block: int
    gas_used: int


def _existing(w3: Web3, manifest: dict[str, Any], key: str) -> str | None:
    address = manifest.get(key)
    if address and _has_code(w3, address):
        return Web3.to_checksum_address(address)
    return None


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def deploy(w3: Web3, sender: Sender, config: VaultConfig, *, out_dir: Path = DEPLOYMENTS) -> Deployment:
    """Deploy (after a passing ``preflight``): factory and lens if missing, then the vault."""
    path = manifest_path(config.chain_id, out_dir)
    manifest: dict[str, Any] = {"chain_id": config.chain_id, "vaults": []}
    if path.exists():
        manifest = load_manifest(path)
    gas = 0
    blueprint = _existing(w3, manifest, "vault_blueprint")
    factory_addr = _existing(w3, manifest, "vault_factory")
    if factory_addr is None or blueprint is None:
        blueprint = sender.deploy_blueprint("RebalancingVault")
        factory_addr = sender.deploy("VaultFactory", blueprint).address
        log.info("deployed blueprint %s and factory %s", blueprint, factory_addr)
    lens = _existing(w3, manifest, "lens") or sender.deploy("VaultLens").address
    factory = _contract(w3, "VaultFactory", factory_addr)
    zero = "0x" + "00" * 20
    receipt = sender.transact(
        factory.functions.deploy_vault(
            config.name,
            config.symbol,
            [a.token for a in config.assets],
            [a.feed for a in config.assets],
            config.weights,
            config.router,
            config.keeper or sender.address,
            config.guardian or zero,
        ),
        label="factory.deploy_vault",
    )
    gas += receipt["gasUsed"]
    events = factory.events.VaultDeployed().process_receipt(receipt, errors=DISCARD)
    vault_addr = events[0]["args"]["vault"]
    vault = _contract(w3, "RebalancingVault", vault_addr)
    sender.transact(vault.functions.accept_ownership(), label="vault.accept_ownership")
    for a in config.assets:
        if a.heartbeat != DEFAULT_MAX_AGE:
            sender.transact(vault.functions.set_max_age(a.feed, a.heartbeat), label=f"set_max_age {a.symbol}")
    for name in _param_order(config.params):
        if getattr(vault.functions, name)().call() != config.params[name]:  # skip no-op setters
            sender.transact(getattr(vault.functions, f"set_{name}")(config.params[name]), label=f"set_{name}")
    entry = {
        "address": vault_addr,
        "name": config.name,
        "symbol": config.symbol,
        "deployment_block": receipt["blockNumber"],
        "deployment_tx": receipt["transactionHash"].hex(),
        "factory": factory_addr,
        "assets": [a.token for a in config.assets],
        "asset_symbols": [a.symbol for a in config.assets],
        "feeds": [a.feed for a in config.assets],
        "heartbeats": [a.heartbeat for a in config.assets],
        "target_weights": config.weights,
        "router": config.router,
        "owner": vault.functions.owner().call(),
        "keeper": config.keeper or sender.address,
        "guardian": config.guardian,
        "params": {k: getattr(vault.functions, k)().call() for k in PARAM_BOUNDS},
        "config": config.source,
    }
    manifest.update(
        {
            "chain_id": config.chain_id,
            "network": config.network,
            "vault_blueprint": blueprint,
            "vault_factory": factory_addr,
            "lens": lens,
            "router": config.router,
            "vaults": [entry],
        }
    )
    saved = save_manifest(manifest, path)
    return Deployment(vault_addr, factory_addr, blueprint, lens, saved, receipt["blockNumber"], gas)


def _param_order(params: dict[str, int]) -> list[str]:
    """Order setters so min_drift_bps <= drift_threshold_bps holds after every step: the new min
    drift goes first when it fits under the current (default) threshold, else last."""
    names = [n for n in params if n != "min_drift_bps"]
    if "min_drift_bps" in params:
        first = params["min_drift_bps"] <= DEFAULT_PARAMS["drift_threshold_bps"]
        names.insert(0 if first else len(names), "min_drift_bps")
    return names


def require_ok(result: Preflight) -> None:
    """Raise ``InputError`` naming every preflight error (one line) when any was found."""
    if not result.ok:
        raise InputError("preflight failed, nothing was sent: " + "; ".join(result.errors))


def print_plan(config: VaultConfig, result: Preflight, sender_address: str, console: Any) -> None:
    """The deployment plan as rich tables: assets and feeds, pools, parameters, roles."""
    from rich.table import Table  # noqa: PLC0415 - presentation only

    t = Table(title=f"Vault {config.name} ({config.symbol}) on {config.network} (chain {config.chain_id})")
    for col in ("asset", "token", "decimals", "feed", "answer", "age / heartbeat", "weight"):
        t.add_column(col)
    feeds = {f["symbol"]: f for f in result.feeds}
    decs = {tk["address"]: tk["decimals"] for tk in result.tokens}
    for a in config.assets:
        f = feeds.get(a.symbol, {})
        answer = f"{f['answer'] / 10 ** f['decimals']:,.4f}" if f else "-"
        t.add_row(
            a.symbol,
            a.token,
            str(decs.get(a.token, "-")),
            f"{f.get('description', '-')} {a.feed}",
            answer,
            f"{f.get('age_s', '-')} s / {a.heartbeat} s",
            f"{a.weight_bps / 100:.2f}%",
        )
    console.print(t)
    p = Table(title="Pools the keeper may trade (router's factory)")
    for col in ("pair", "pool", "USD per side"):
        p.add_column(col)
    for pool in result.pools:
        usd = pool["usd_per_side"]
        p.add_row(pool["pair"], pool["address"], "-" if usd is None else f"${usd:,.0f}")
    console.print(p)
    params = {**DEFAULT_PARAMS, **config.params}
    console.print("parameters: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    console.print(
        f"router {config.router}; owner {sender_address} (deployer); "
        f"keeper {config.keeper or sender_address}; guardian {config.guardian or 'none'}"
    )
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
