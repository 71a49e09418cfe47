"""Deploy a vault from a config file, safely: preflight every input on-chain before sending anything.

``load_config(path)`` reads a TOML vault config (see ``configs/sepolia.toml``). ``preflight(w3,
config)`` checks, with reads only, the chain id, weights and parameters (``offchain.core.model``'s
bounds, the contract's), every token (code, symbol, decimals), every feed (code, decimals,
description, a fresh positive complete answer within its heartbeat; the heartbeat itself within
the vault's max-age bounds and, when the config gives the feed's published ``feed_heartbeat``, no
more than a small margin above it), the optional L2 sequencer-uptime feed and, for every pair the
keeper may trade, that the router's factory has a pool holding at least ``min_pool_liquidity_usd``
per side at feed prices. ``deploy(...)`` then deploys the factory route (the VaultGovernance
module, the vault-initcode data contracts and ``VaultFactory``, see ``offchain.chain.node
.deploy_vault_factory``) and the lens if the chain's manifest has none that matches the local
build, deploys the vault through the factory with its per-feed max ages (the heartbeats) and
parameters as constructor arguments, accepts its ownership, and merges the vault into
``deployments/<chain-id>.json``. No setter is called after deployment: loosening setters are
timelocked, and there is nothing to set.

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

from offchain.chain.manifest import DEPLOYMENTS, load_manifest, manifest_path, save_manifest
from offchain.chain.node import Sender, deploy_vault_factory, load_artifact, vault_initcode
from offchain.core.errors import ConfigError, InputError
from offchain.core.model import BPS, MAX_AGE_BOUNDS, MAX_SEQUENCER_GRACE, PARAM_KINDS, Params

log = logging.getLogger(__name__)

ZERO = "0x" + "00" * 20
DEFAULT_SEQUENCER_GRACE = 3_600  # seconds refused after an L2 sequencer restart


def heartbeat_margin(feed_heartbeat: int) -> int:
    """How far above a feed's published heartbeat its max age may go: 10 %, at least 60 s."""
    return max(feed_heartbeat // 10, 60)


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
    for problem in config.vault_params().violations():  # the contract's bounds, one table (model)
        out.errors.append(f"bad parameter: {problem}")
    vp = config.vault_params()
    if vp.tolerance_bps >= vp.min_drift_bps:
        out.warnings.append(
            f"tolerance_bps {vp.tolerance_bps} >= min_drift_bps {vp.min_drift_bps}: a keeper's own overshoot "
            "could then trigger the next rebalance (see the vault's P1); keep tolerance below min drift"
        )
    lo, hi = MAX_AGE_BOUNDS
    for a in config.assets:
        if not lo <= a.heartbeat <= hi:
            out.errors.append(f"bad heartbeat: {a.symbol} heartbeat {a.heartbeat} s is outside [{lo}, {hi}]")
        if a.feed_heartbeat is None:
            out.warnings.append(
                f"{a.symbol}: max age {a.heartbeat} s is not checked against the feed's published "
                "heartbeat (set feed_heartbeat from the feed's page)"
            )
        elif a.heartbeat > a.feed_heartbeat + heartbeat_margin(a.feed_heartbeat):
            out.errors.append(
                f"bad heartbeat: {a.symbol} max age {a.heartbeat} s is above the feed's published "
                f"heartbeat {a.feed_heartbeat} s plus {heartbeat_margin(a.feed_heartbeat)} s margin: a "
                "frozen feed would be traded against"
            )
    if not 0 <= config.sequencer_grace <= MAX_SEQUENCER_GRACE:
        out.errors.append(
            f"bad parameter: sequencer_grace {config.sequencer_grace} is outside [0, {MAX_SEQUENCER_GRACE}]"
        )
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
    _check_sequencer(w3, config, out, agg_abi, now)
    _check_pools(w3, config, out, prices)
    return out


def _check_sequencer(w3: Web3, config: VaultConfig, out: Preflight, abi: Any, now: int) -> None:
    """The optional L2 sequencer-uptime feed must exist and report the sequencer up (answer 0)."""
    if config.sequencer_feed is None:
        return
    if not _has_code(w3, config.sequencer_feed):
        out.errors.append(f"missing sequencer feed: no contract at {config.sequencer_feed}")
        return
    try:
        _, answer, started_at, _, _ = (
            w3.eth.contract(address=config.sequencer_feed, abi=abi).functions.latestRoundData().call()
        )
    except Exception as exc:  # noqa: BLE001
        out.errors.append(
            f"bad sequencer feed: {config.sequencer_feed} does not answer latestRoundData: {exc}"
        )
        return
    if answer != 0 or started_at == 0 or started_at > now:
        out.errors.append(
            f"sequencer down: {config.sequencer_feed} answers {answer} (started at {started_at})"
        )
    elif now - started_at <= config.sequencer_grace:
        out.warnings.append(
            f"sequencer restarted {now - started_at} s ago, within its {config.sequencer_grace} s grace"
        )


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
    governance: str
    chunks: list[str]
    lens: str
    manifest: Path
    block: int
    gas_used: int  # the vault's deployment through the factory (deploy_vault's gasUsed)


def _existing(w3: Web3, manifest: dict[str, Any], key: str) -> str | None:
    address = manifest.get(key)
    if address and _has_code(w3, address):
        return Web3.to_checksum_address(address)
    return None


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def _reusable_factory(w3: Web3, manifest: dict[str, Any]) -> Contract | None:
    """The manifest's factory when it assembles exactly the local build's vault initcode."""
    address = _existing(w3, manifest, "vault_factory")
    if address is None:
        return None
    factory = _contract(w3, "VaultFactory", address)
    try:
        onchain = bytes(factory.functions.vault_initcode_hash().call())
    except Exception:  # noqa: BLE001 - an older (blueprint) factory, or not a factory
        log.warning(
            "manifest's vault_factory %s is not a data-contract factory: deploying a new one", address
        )
        return None
    if onchain != bytes(Web3.keccak(vault_initcode())):
        log.warning("factory %s deploys another vault build than the local one: deploying a new one", address)
        return None
    return factory


def vault_args(config: VaultConfig, keeper: str) -> list[Any]:
    """``VaultFactory.deploy_vault``'s arguments (the vault's constructor's minus ``governance``)."""
    return [
        config.name,
        config.symbol,
        [a.token for a in config.assets],
        [a.feed for a in config.assets],
        config.weights,
        config.max_ages,
        config.vault_params().as_list(),
        config.router,
        keeper,
        config.guardian or ZERO,
        config.sequencer_feed or ZERO,
        config.sequencer_grace,
    ]


def deploy(w3: Web3, sender: Sender, config: VaultConfig, *, out_dir: Path = DEPLOYMENTS) -> Deployment:
    """Deploy (after a passing ``preflight``): the factory route and lens if missing, then the vault."""
    path = manifest_path(config.chain_id, out_dir)
    manifest: dict[str, Any] = {"chain_id": config.chain_id, "vaults": []}
    if path.exists():
        manifest = load_manifest(path)
    factory = _reusable_factory(w3, manifest)
    if factory is None:
        route = deploy_vault_factory(sender)
        factory = route.factory
        log.info(
            "deployed governance %s, chunks %s and factory %s",
            route.governance,
            route.chunks,
            factory.address,
        )
    governance = factory.functions.governance().call()
    chunks = [factory.functions.vault_chunks(i).call() for i in range(factory.functions.N_CHUNKS().call())]
    initcode_hash = "0x" + bytes(factory.functions.vault_initcode_hash().call()).hex()
    lens = _existing(w3, manifest, "lens") or sender.deploy("VaultLens").address
    keeper = config.keeper or sender.address
    receipt = sender.transact(
        factory.functions.deploy_vault(*vault_args(config, keeper)), label="factory.deploy_vault"
    )
    events = factory.events.VaultDeployed().process_receipt(receipt, errors=DISCARD)
    vault_addr = events[0]["args"]["vault"]
    vault = _contract(w3, "RebalancingVault", vault_addr)
    sender.transact(vault.functions.accept_ownership(), label="vault.accept_ownership")
    entry = {
        "address": vault_addr,
        "name": config.name,
        "symbol": config.symbol,
        "deployment_block": receipt["blockNumber"],
        "deployment_tx": receipt["transactionHash"].hex(),
        "deployment_gas": receipt["gasUsed"],
        "factory": factory.address,
        "governance": governance,
        "assets": [a.token for a in config.assets],
        "asset_symbols": [a.symbol for a in config.assets],
        "feeds": [a.feed for a in config.assets],
        "heartbeats": config.max_ages,
        "max_ages": list(vault.functions.get_max_ages().call()),
        "target_weights": config.weights,
        "router": config.router,
        "owner": vault.functions.owner().call(),
        "keeper": keeper,
        "guardian": config.guardian,
        "sequencer": list(vault.functions.sequencer().call()),
        "params": dict(zip(PARAM_KINDS, vault.functions.get_params().call(), strict=True)),
        "config": config.source,
    }
    manifest.pop("vault_blueprint", None)  # the EIP-5202 route is gone (issue 9)
    manifest.update(
        {
            "chain_id": config.chain_id,
            "network": config.network,
            "vault_factory": factory.address,
            "vault_governance": governance,
            "vault_chunks": chunks,
            "vault_initcode_hash": initcode_hash,
            "lens": lens,
            "router": config.router,
            "vaults": [entry],
        }
    )
    saved = save_manifest(manifest, path)
    return Deployment(
        vault_addr,
        factory.address,
        governance,
        chunks,
        lens,
        saved,
        receipt["blockNumber"],
        receipt["gasUsed"],
    )


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
    params = config.vault_params()
    console.print("parameters: " + ", ".join(f"{k}={getattr(params, k)}" for k in PARAM_KINDS))
    console.print(
        f"router {config.router}; owner {sender_address} (deployer); "
        f"keeper {config.keeper or sender_address}; guardian {config.guardian or 'none'}; "
        f"sequencer feed {config.sequencer_feed or 'none'}"
        + (f" (grace {config.sequencer_grace} s)" if config.sequencer_feed else "")
    )
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
