"""Prometheus metrics for the keeper, served in the text exposition format by ``http.server``."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checks = 0
        self.rebalances = 0
        self.skips: dict[str, int] = defaultdict(int)
        self.failures: dict[str, int] = defaultdict(int)
        self.gas_spent_wei = 0
        self.gas_used = 0
        self.balance_wei: int | None = None
        self.last_success: float | None = None
        self.cycles = 0
        self.started = time.time()

    def inc(self, name: str, kind: str | None = None, n: int = 1) -> None:
        with self._lock:
            if kind is None:
                setattr(self, name, getattr(self, name) + n)
            else:
                getattr(self, name)[kind] += n

    def render(self) -> str:
        with self._lock:
            since = time.time() - (self.last_success or self.started)
            lines = [
                "# HELP ballast_keeper_checks_total Vault checks (one per vault per cycle).",
                "# TYPE ballast_keeper_checks_total counter",
                f"ballast_keeper_checks_total {self.checks}",
                "# HELP ballast_keeper_rebalances_total Rebalance transactions mined with status 1.",
                "# TYPE ballast_keeper_rebalances_total counter",
                f"ballast_keeper_rebalances_total {self.rebalances}",
                "# HELP ballast_keeper_cycles_total Completed cycles.",
                "# TYPE ballast_keeper_cycles_total counter",
                f"ballast_keeper_cycles_total {self.cycles}",
                "# HELP ballast_keeper_failures_total Failures by kind.",
                "# TYPE ballast_keeper_failures_total counter",
            ]
            lines += [
                f'ballast_keeper_failures_total{{kind="{k}"}} {v}' for k, v in sorted(self.failures.items())
            ]
            lines += [
                "# HELP ballast_keeper_skips_total Decisions not to send, by reason.",
                "# TYPE ballast_keeper_skips_total counter",
            ]
            lines += [
                f'ballast_keeper_skips_total{{reason="{k}"}} {v}' for k, v in sorted(self.skips.items())
            ]
            lines += [
                "# HELP ballast_keeper_gas_spent_wei_total Fees paid (gasUsed x effectiveGasPrice).",
                "# TYPE ballast_keeper_gas_spent_wei_total counter",
                f"ballast_keeper_gas_spent_wei_total {self.gas_spent_wei}",
                "# HELP ballast_keeper_gas_used_total Gas used by the keeper's transactions.",
                "# TYPE ballast_keeper_gas_used_total counter",
                f"ballast_keeper_gas_used_total {self.gas_used}",
                "# HELP ballast_keeper_balance_wei The keeper account's native balance.",
                "# TYPE ballast_keeper_balance_wei gauge",
                f"ballast_keeper_balance_wei {self.balance_wei if self.balance_wei is not None else 'NaN'}",
                "# HELP ballast_keeper_seconds_since_last_success Seconds since the last successful cycle.",
                "# TYPE ballast_keeper_seconds_since_last_success gauge",
                f"ballast_keeper_seconds_since_last_success {since:.3f}",
            ]
        return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` on ``host:port`` in a daemon thread (port 0: any free port, see ``.port``)."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1"):
        m = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = m.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
