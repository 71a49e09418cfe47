"""``ballast keeper``: the keeper bot.

``ballast keeper run --manifest M.json --rpc-url URL [--once] [--dry-run] [--interval S] [--vault ADDR ...]``
watches vaults and submits the rebalances they allow (see ``offchain.keeper.runner``).
``ballast keeper targets --manifest M.json --rpc-url URL [--queue]`` computes mean-variance targets
from the feeds' round history (or ``--targets-source prices.csv``), prints them and, with
``--queue``, queues them through the vault's timelock (owner key); ``--apply`` applies due targets.

Every option is also an env var ``BALLAST_KEEPER_<NAME>`` or a key of a TOML ``[keeper]`` table
(``--config``, see ``examples/keeper.toml``). Exit codes: 0 ok, 2 bad input / chain error,
3 circuit breaker open.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from offchain.cli import COMMANDS
from offchain.cli.options import Options
from offchain.core.errors import ChainError
from offchain.keeper.config import KeeperConfig, add_arguments, load_config

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "keeper",
        help=COMMANDS["keeper"],
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ks = p.add_subparsers(dest="keeper_command", metavar="SUBCOMMAND", parser_class=type(p))
    run = ks.add_parser("run", help="watch vaults and rebalance them (every flag also env / config file)")
    add_arguments(run)
    run.set_defaults(func=cmd_run)
    tg = ks.add_parser("targets", help="compute mean-variance targets; --queue them through the timelock")
    add_arguments(tg)
    opts = Options(tg, "keeper")
    opts.add(
        "--queue",
        action="store_const",
        const=True,
        default=False,
        help="queue the targets (needs the vault owner's key)",
    )
    opts.add(
        "--apply",
        action="store_const",
        const=True,
        default=False,
        help="apply queued targets whose timelock has passed",
    )
    tg.set_defaults(func=cmd_targets)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _signer(cfg: KeeperConfig, chain_id: int) -> Any:
    from offchain.keeper.keys import load_signer  # noqa: PLC0415

    if not (cfg.keystore or cfg.private_key_env):
        return None
    return load_signer(
        chain_id=chain_id,
        keystore=cfg.keystore,
        password_file=cfg.password_file,
        password_env=cfg.password_env,
        private_key_env=cfg.private_key_env,
    )


def build_keeper(cfg: KeeperConfig) -> Any:
    from offchain.chain.manifest import load_manifest  # noqa: PLC0415
    from offchain.core.errors import ConfigError  # noqa: PLC0415
    from offchain.keeper.runner import Keeper  # noqa: PLC0415

    if not cfg.manifest:
        raise ConfigError("no manifest: pass --manifest (or BALLAST_KEEPER_MANIFEST)")
    if not cfg.rpc_url:
        raise ConfigError("no RPC URL: pass --rpc-url (or BALLAST_KEEPER_RPC_URL)")
    chain_id = int(load_manifest(cfg.manifest)["chain_id"])
    return Keeper(cfg, signer=_signer(cfg, chain_id))


def cmd_run(args: argparse.Namespace) -> int:
    from offchain.keeper.metrics import MetricsServer  # noqa: PLC0415
    from offchain.keeper.runner import CircuitOpen  # noqa: PLC0415

    cfg = load_config(args)
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    keeper = build_keeper(cfg)
    server = None
    if cfg.metrics_port is not None:
        try:
            server = MetricsServer(keeper.metrics, cfg.metrics_port)
        except OSError as exc:
            raise ChainError(
                f"cannot serve metrics on port {cfg.metrics_port}: {exc.strerror or exc}"
            ) from None
        keeper.out(f"metrics on http://127.0.0.1:{server.port}/metrics")
    try:
        return keeper.run()
    except CircuitOpen as exc:
        print(f"ballast: keeper stopped: {exc}", file=sys.stderr)
        return 3
    finally:
        if server:
            server.close()


def cmd_targets(args: argparse.Namespace) -> int:
    from offchain.keeper import strategist  # noqa: PLC0415

    cfg = load_config(args)
    cfg.dry_run = cfg.dry_run or not (args.queue or args.apply)
    keeper = build_keeper(cfg)
    try:
        states = keeper.read_states()
        head = keeper.refresh_head()
        now = int(head["timestamp"], 16)
        for vault, st in zip(keeper.vaults, states, strict=True):
            if isinstance(st, Exception):
                raise ChainError(f"{vault}: lens.state reverted: {st}")
            syms = [keeper.symbols.get(a.lower(), a[:8]) for a in st.assets]
            if args.apply:
                if st.pending_eta and now >= st.pending_eta:
                    keeper.apply_targets(vault)
                else:
                    keeper.out(f"{vault}: nothing due (pending eta {st.pending_eta}, now {now})")
                continue
            weights = strategist.compute_targets(keeper, st)
            doc = {
                "vault": vault,
                "objective": cfg.targets_objective,
                "source": cfg.targets_source,
                "current": strategist.describe(st.target_weights, syms),
                "proposed": strategist.describe(weights, syms),
            }
            keeper.out(
                json.dumps(doc)
                if cfg.log_json
                else f"{vault}: current {doc['current']} -> proposed {doc['proposed']} "
                f"({cfg.targets_objective}, {cfg.targets_source})"
            )
            if args.queue:
                keeper.queue_targets(vault, weights)
        return 0
    finally:
        keeper.close()
