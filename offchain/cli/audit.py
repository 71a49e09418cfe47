"""``ballast audit``: verify a vault's whole rebalance history from the chain alone.

Reads every event of the vault with paged ``eth_getLogs``, re-checks every rebalance against the
vault's rules with historical state (``offchain.audit.verify``), rebuilds holdings from events and
compares them with ``get_holdings()`` and ``balanceOf`` at sampled blocks, then writes CSV + Parquet
tables, PNG plots and a self-contained HTML report into ``--out``.

The range is pinned before anything is read (``offchain.audit.window``): by default it ends at the
node's ``finalized`` block, or ``--confirmations`` below the head where the node has none; the
summary says which. Progress is kept in a checkpoint (``--checkpoint``, by default in ``--out``) so
that ``--resume`` continues after any failure with the same verdict as a clean run.

Exit codes: 0 no violation (findings such as donated surplus do not count), 1 at least one
violation, 2 bad input (one line on stderr), 3 the audit could not finish: the node or the
transport failed after every retry, or anything unexpected happened (one line on stderr, never a
traceback; never 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offchain.cli import COMMANDS
from offchain.cli._args import number
from offchain.cli.options import Options
from offchain.core.errors import ChainError, InputError

if TYPE_CHECKING:  # web3, rich and the RPC client load only when an audit runs (fast --help)
    from rich.progress import Progress

    from offchain.chain.rpc import Rpc

__all__ = ["register", "run", "PROGRESS_MIN_BLOCKS"]

log = logging.getLogger(__name__)

PROGRESS_MIN_BLOCKS = 20_000  # a progress bar for log scans at least this long (or many rebalances)
EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
EXIT_CODES = (
    "Exit codes: 0 no violation; 1 violations found; 2 bad input; 3 could not finish (the node or "
    "the transport failed after every retry, or an unexpected error: rerun with --resume)."
)


def _block(value: str) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a block number: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"block number must be >= 0: {value}")
    return n


def _to_block(value: str) -> int | str:
    return "latest" if value.strip().lower() == "latest" else _block(value)


def _nonneg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {value}")
    return n


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {value}")
    return n


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "audit",
        help=COMMANDS["audit"],
        description=(
            "Read every event of a RebalancingVault (paged eth_getLogs), re-check each rebalance "
            "against the vault's rules (trigger, prices, slippage vs oracle, size, no move away from "
            "or past target, drift fell, value loss) with state at the block before it, rebuild "
            "holdings from events and compare with get_holdings() and balanceOf at sampled blocks. "
            "Writes CSV + Parquet tables, PNG plots and an HTML report. Only plain JSON-RPC methods "
            "are used (an archive node is needed for old blocks). The range ends at the node's "
            "finalized block (or --confirmations below the head) unless --to-block says otherwise; "
            "the summary says which. Transient node errors are retried with backoff; after a "
            "failure, --resume continues from the checkpoint. " + EXIT_CODES
        ),
    )
    opts = Options(p, "audit")
    opts.add("--vault", required=True, help="vault address")
    opts.add("--rpc-url", required=True, help="JSON-RPC endpoint (http/https)")
    opts.add("--from-block", type=_block, default=None, help="first block (default: deployment)")
    opts.add(
        "--to-block",
        type=_to_block,
        default=None,
        help="last block, or 'latest' (default: the finalized block, else head - --confirmations)",
    )
    opts.add(
        "--confirmations",
        type=_nonneg,
        default=12,
        help="where the node has no 'finalized' block, end this many blocks below the head (default 12)",
    )
    opts.add("--out", type=Path, default=None, help="output directory (default reports/audit-<UTC time>)")
    opts.add(
        "--samples", type=_positive, default=50, help="blocks at which holdings are checked (default 50)"
    )
    opts.add(
        "--log-span",
        type=_positive,
        default=2_000,
        help="first eth_getLogs block span, adapts (default 2000)",
    )
    opts.add(
        "--max-logs", type=_positive, default=10_000, help="a page with this many logs is re-asked in halves"
    )
    opts.add("--batch-size", type=_positive, default=200, help="JSON-RPC batch size (1: no batching)")
    opts.add(
        "--workers", type=_positive, default=4, help="JSON-RPC batches in flight at once for state reads"
    )
    opts.add("--swap-fee-bps", type=int, default=30, help="swap fee assumed for cost estimates")
    opts.add("--no-parquet", action="store_true", help="CSV only")
    opts.add("--no-plots", action="store_true", help="no PNG plots (HTML without images)")
    opts.add("--no-progress", action="store_true", help="never show a progress bar")
    opts.add("--json", action="store_true", help="also print a JSON summary on stdout")
    _resilience_options(opts)
    p.set_defaults(func=run)
    return p


def _resilience_options(opts: Options) -> None:
    """Retries, and the checkpoint that --resume continues from."""
    opts.add("--retries", type=_nonneg, default=6, help="retries of a failed JSON-RPC request (default 6)")
    opts.add(
        "--backoff",
        type=number("--backoff", nonneg=True),
        default=0.25,
        help="first retry delay in seconds, doubling up to 8 s (default 0.25)",
    )
    opts.add(
        "--checkpoint",
        type=Path,
        default=None,
        help="progress file, written as the audit runs (default: <out>/checkpoint.json)",
    )
    opts.add(
        "--resume",
        action="store_true",
        help="continue a failed audit from its checkpoint (same chain, vault and range; with --out "
        "or --checkpoint)",
    )


def _symbols(rpc: Rpc, assets: list[str], block: int) -> list[str]:
    from offchain.chain.rpc import decode_result, encode_call

    out = []
    for i, a in enumerate(assets):
        try:
            (sym,) = decode_result(
                ["string"], rpc.request("eth_call", [{"to": a, "data": encode_call("symbol()")}, hex(block)])
            )
            out.append(str(sym)[:12] or f"asset{i}")
        except Exception:  # noqa: BLE001 - symbol() is optional in ERC-20
            out.append(f"asset{i}")
    return out


class _Ticker:
    """Progress on stderr, shown only for long log scans or many rebalances."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.prog: Progress | None = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Ticker:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self.enabled:
            self.prog = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.prog.start()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.prog is None:
            return
        if stage not in self.tasks:
            label = {"logs": "eth_getLogs (blocks)", "state": "historical state (rebalances)"}.get(
                stage, stage
            )
            self.tasks[stage] = self.prog.add_task(label, total=total)
        self.prog.update(self.tasks[stage], completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.prog is not None:
            self.prog.stop()


def run(args: argparse.Namespace) -> int:
    """The audit, with its exit code: InputError goes up (2); anything else that stops it is 3."""
    quiet = None if getattr(args, "verbose", False) else logging.getLogger("offchain.chain.rpc")
    level = quiet.level if quiet else logging.NOTSET
    if quiet:  # each retry is counted in the summary; its log lines only with -v
        quiet.setLevel(logging.ERROR)
    try:
        return _run(args)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a node, transport or unexpected failure: never exit 1
        log.debug("the audit stopped", exc_info=True)
        what = str(exc) if isinstance(exc, ChainError) else f"{type(exc).__name__}: {exc}"
        what = " ".join(what.split())[:400]
        where = getattr(args, "checkpoint_path", None)
        hint = f"; progress kept in {where}: rerun with --resume" if where and where.exists() else ""
        print(f"ballast: error: the audit could not finish: {what}{hint}", file=sys.stderr)
        return EXIT_INCOMPLETE
    finally:
        if quiet:
            quiet.setLevel(level)


def _checkpoint_path(args: argparse.Namespace) -> Path:
    """--checkpoint, else <out>/checkpoint.json (``args.out`` gets its timestamped default here)."""
    if args.resume and args.out is None and args.checkpoint is None:
        raise InputError("--resume needs --out DIR or --checkpoint FILE (its progress file)")
    if args.out is None:
        args.out = Path("reports") / f"audit-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    return Path(args.checkpoint) if args.checkpoint is not None else Path(args.out) / "checkpoint.json"


def _probe(url: str) -> None:
    """InputError when nothing listens at ``url`` (a wrong --rpc-url); any other failure (an error
    status, a dropped or garbled answer) is the node's, retried by the audit itself."""
    import requests  # noqa: PLC0415

    try:
        requests.post(
            url, json={"jsonrpc": "2.0", "id": 0, "method": "eth_chainId", "params": []}, timeout=10
        )
    except (
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidURL,
    ):
        raise InputError(f"--rpc-url {url!r} is not an http(s) URL") from None
    except requests.ConnectionError as exc:
        text = str(exc).lower()
        if any(t in text for t in ("refused", "name or service", "nodename", "resolve", "no route")):
            raise InputError(
                f"no JSON-RPC node answers at {url}: check --rpc-url and that the node runs"
            ) from None
    except requests.RequestException:
        pass


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from web3 import Web3

    from offchain.audit import report  # noqa: PLC0415 - matplotlib only when the command runs
    from offchain.audit.checkpoint import Checkpoint  # noqa: PLC0415
    from offchain.audit.decode import export  # noqa: PLC0415
    from offchain.audit.verify import audit  # noqa: PLC0415
    from offchain.chain.rpc import Rpc

    if not Web3.is_address(args.vault):
        raise InputError(f"--vault {args.vault!r} is not an address (0x + 40 hex digits)")
    if (
        isinstance(args.from_block, int)
        and isinstance(args.to_block, int)
        and args.from_block > args.to_block
    ):
        raise InputError(f"--from-block {args.from_block} is after --to-block {args.to_block}")
    ckpt = Checkpoint(_checkpoint_path(args), resume=args.resume, every=5.0)
    _probe(args.rpc_url)
    w3 = Web3(Web3.HTTPProvider(args.rpc_url, request_kwargs={"timeout": 60}))
    retries: list[str] = []
    rpc = Rpc(
        w3,
        batch_size=args.batch_size,
        retries=args.retries,
        backoff=args.backoff,
        on_retry=retries.append,
    )
    args.checkpoint_path = ckpt.path
    latest = rpc.block_number()
    span = (args.to_block if isinstance(args.to_block, int) else latest) - (args.from_block or 0)
    show = not args.no_progress and sys.stderr.isatty() and span >= PROGRESS_MIN_BLOCKS
    t0 = time.perf_counter()
    with _Ticker(show) as tick:
        res = audit(
            rpc,
            args.vault,
            args.from_block,
            args.to_block,
            samples=args.samples,
            log_span=args.log_span,
            max_logs=args.max_logs,
            workers=args.workers,
            tick=tick,
            confirmations=args.confirmations,
            checkpoint=ckpt,
        )
    symbols = _symbols(rpc, res.meta.assets, res.to_block)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t = report.tables(res, swap_fee_bps=args.swap_fee_bps)
    export(t, out, parquet=not args.no_parquet)
    images = {} if args.no_plots else report.write_plots(res, t, out, symbols)
    html_path = report.write_html(res, t, images, out / "report.html", args.swap_fee_bps)
    console = Console()
    for tbl in report.summary_tables(res, t):
        console.print(tbl)
    console.print(f"Audited blocks {res.from_block:,} .. {res.to_block:,}: to {res.range_note}")
    console.print(f"Report: {html_path}  (tables in {out / 'data'}; {time.perf_counter() - t0:.2f} s)")
    code = EXIT_VIOLATIONS if res.violations else EXIT_CLEAN
    summary = _summary(res, html_path)
    summary.update(rpc_retries=len(retries), resumed=ckpt.resumed, exit_code=code)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    ckpt.remove()  # finished: nothing to resume
    if args.json:
        print(json.dumps(summary))
    return code


def _summary(res: Any, html_path: Path) -> dict[str, Any]:
    from collections import Counter  # noqa: PLC0415

    from offchain.audit.verify import RULES  # noqa: PLC0415

    return {
        "vault": res.meta.address,
        "from_block": res.from_block,
        "to_block": res.to_block,
        "to_block_how": res.range_note,
        "head": res.window.head if res.window is not None else None,
        "events": len(res.events),
        "rebalances": len(res.rebalances),
        "violations": len(res.violations),
        "violations_by_rule": dict(Counter(v.rule for v in res.violations)),
        "rules": {r: Counter(v.rule for v in res.violations).get(r, 0) for r in RULES},
        "findings": [{"kind": f.kind, "block": f.block, "detail": f.detail} for f in res.findings],
        "rpc_requests": res.rpc_calls,
        "timings_s": {k: round(v, 4) for k, v in res.timings.items()},
        "report": str(html_path),
    }
