"""The CLI spelling of policies: ``parse_policy`` (see ``POLICY_HELP``) and its ``parse_bps`` /
``parse_duration``. ``Policy.spec()`` prints the same spelling back. Part of
``offchain.quant.policies`` (re-exported there)."""

from __future__ import annotations

import re

from offchain.core.errors import InputError
from offchain.core.model import BPS, DEFAULT_PARAMS
from offchain.quant.policies.base import _DAY, Policy
from offchain.quant.policies.rules import BandEdge, BuyAndHold, Calendar, Dynamic, Hybrid, Threshold

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|h|d|w|y)?\s*$", re.IGNORECASE)
_DUR_UNITS = {"s": 1, "sec": 1, "min": 60, "h": 3600, "d": _DAY, "w": 7 * _DAY, "y": 365 * _DAY}
_PERIOD_ALIASES = {
    "weekly": "weekly",
    "week": "weekly",
    "w": "weekly",
    "monthly": "monthly",
    "month": "monthly",
    "m": "monthly",
    "quarterly": "quarterly",
    "quarter": "quarterly",
    "q": "quarterly",
    "yearly": "yearly",
    "annual": "yearly",
    "annually": "yearly",
    "year": "yearly",
    "y": "yearly",
}


def parse_bps(text: str) -> int:
    """``"500bps"``, ``"500"`` (bps) or ``"5%"`` -> 500. Raises ``InputError``."""
    t = text.strip().lower().replace("_", "")
    try:
        if t.endswith("bps"):
            v = float(t[:-3])
        elif t.endswith("bp"):
            v = float(t[:-2])
        elif t.endswith("%"):
            v = float(t[:-1]) * 100
        else:
            v = float(t)
    except ValueError as exc:
        raise InputError(f"cannot read {text!r} as basis points; write e.g. 500bps or 5%") from exc
    if v != round(v) or not 0 <= v <= BPS:
        raise InputError(f"{text!r} must be a whole number of basis points in [0, {BPS}]")
    return int(round(v))


def parse_duration(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"90min"``, ``"2w"``, ``"3600"`` (seconds) -> seconds. Raises ``InputError``."""
    m = _DUR.match(text)
    if not m:
        raise InputError(f"cannot read {text!r} as a duration; write e.g. 30d, 12h, 90min, 2w or 3600s")
    secs = float(m.group(1)) * _DUR_UNITS[(m.group(2) or "s").lower()]
    if secs <= 0 or secs != int(secs):
        raise InputError(f"duration {text!r} must be a positive whole number of seconds")
    return int(secs)


POLICY_HELP = (
    "buy-and-hold | calendar:monthly|quarterly|yearly|weekly|30d[,MIN_DRIFTbps] | threshold:500bps | "
    "hybrid[:THRESHbps,PERIOD,MIN_DRIFTbps,COOLDOWN] | band-edge:500bps | "
    "dynamic:EVERY[,OBJECTIVE[,LOOKBACK[,BANDbps]]]"
)


def parse_policy(spec: str) -> Policy:
    """Parse a CLI policy spec (see ``POLICY_HELP``); raises ``InputError`` for anything unknown."""
    text = spec.strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    args = [a.strip() for a in rest.split(",")] if rest.strip() else []
    try:
        if kind in ("buy-and-hold", "hold", "none"):
            if args:
                raise InputError("buy-and-hold takes no arguments")
            return BuyAndHold()
        if kind == "threshold":
            if len(args) != 1:
                raise InputError("threshold takes one band, e.g. threshold:500bps")
            return Threshold(parse_bps(args[0]))
        if kind in ("band-edge", "bandedge", "leland"):
            if len(args) != 1:
                raise InputError("band-edge takes one band, e.g. band-edge:500bps")
            return BandEdge(parse_bps(args[0]))
        if kind == "calendar":
            if not 1 <= len(args) <= 2:
                raise InputError(
                    "calendar takes a period and an optional minimum drift, e.g. calendar:monthly"
                )
            md = parse_bps(args[1]) if len(args) == 2 else 0
            period = args[0].lower()
            if period in _PERIOD_ALIASES:
                return Calendar(align=_PERIOD_ALIASES[period], min_drift_bps=md)
            return Calendar(period_s=parse_duration(args[0]), min_drift_bps=md)
        if kind == "hybrid":
            if len(args) > 4:
                raise InputError("hybrid takes at most THRESHOLD,PERIOD,MIN_DRIFT,COOLDOWN")
            d = DEFAULT_PARAMS
            vals = [d.drift_threshold_bps, d.rebalance_period, d.min_drift_bps, d.cooldown]
            parsers = [
                parse_bps,
                parse_duration,
                parse_bps,
                lambda s: 0 if s.strip() == "0" else parse_duration(s),
            ]
            for i, a in enumerate(args):
                vals[i] = parsers[i](a)
            return Hybrid(*vals)
        if kind == "dynamic":
            if not 1 <= len(args) <= 4:
                raise InputError(
                    "dynamic takes EVERY[,OBJECTIVE[,LOOKBACK[,BAND]]], e.g. dynamic:63,min-variance"
                )
            try:
                every = int(args[0])
                lookback = int(args[2]) if len(args) > 2 else 252
            except ValueError as exc:
                raise InputError("dynamic EVERY and LOOKBACK are whole numbers of observations") from exc
            objective = args[1] if len(args) > 1 else "min-variance"
            band = parse_bps(args[3]) if len(args) > 3 else None
            return Dynamic(every=every, objective=objective, lookback=lookback, band_bps=band)
    except InputError as exc:
        raise InputError(f"bad policy {spec!r}: {exc}") from exc
    raise InputError(f"unknown policy {spec!r}; use {POLICY_HELP}")
