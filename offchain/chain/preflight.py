"""Preflight of a vault deployment: read-only checks of everything it depends on, before anything is sent.

``preflight(w3, config)`` checks, with reads only, the chain id, weights and parameters
(``offchain.core.model``'s bounds, the contract's), every token (code, symbol, decimals), every feed
(code, decimals, description, a fresh positive complete answer within its heartbeat; the heartbeat
itself within the vault's max-age bounds and, when the config gives the feed's published
``feed_heartbeat``, no more than a small margin above it), the optional L2 sequencer-uptime feed
and, for every pair the keeper may trade, that the router's factory has a pool holding at least
``min_pool_liquidity_usd`` per side at feed prices. ``require_ok`` turns its errors into one
``InputError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from offchain.chain.deploy_config import VaultConfig, heartbeat_margin
from offchain.chain.node import load_artifact
from offchain.chain.uniswap import FACTORY_ABI, PAIR_ABI, ROUTER_ABI
from offchain.core.errors import InputError
from offchain.core.model import BPS, MAX_AGE_BOUNDS, MAX_SEQUENCER_GRACE

_ERC20_ABI = [
    {"name": n, "type": "function", "stateMutability": "view", "inputs": [], "outputs": [{"type": t}]}
    for n, t in (("symbol", "string"), ("decimals", "uint8"))
]


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
        factory_addr = w3.eth.contract(address=config.router, abi=ROUTER_ABI).functions.factory().call()
    except Exception as exc:  # noqa: BLE001
        out.errors.append(f"bad router: {config.router} has no factory(): {exc}")
        return
    factory = w3.eth.contract(address=factory_addr, abi=FACTORY_ABI)
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
        c = w3.eth.contract(address=pair, abi=PAIR_ABI)
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


def require_ok(result: Preflight) -> None:
    """Raise ``InputError`` naming every preflight error (one line) when any was found."""
    if not result.ok:
        raise InputError("preflight failed, nothing was sent: " + "; ".join(result.errors))
