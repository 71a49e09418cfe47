"""Oracle reads as the vault makes them: feed statuses, price normalisation, the sequencer rule."""

from __future__ import annotations

FEED_OK = 0
FEED_NON_POSITIVE = 1
FEED_STALE = 2
FEED_INCOMPLETE = 3
FEED_UNUSABLE = 4  # reverted, short or garbled data, answer above MAX_PRICE, or sequencer down
FEED_STATUS_NAMES = {
    FEED_OK: "ok",
    FEED_NON_POSITIVE: "non-positive",
    FEED_STALE: "stale",
    FEED_INCOMPLETE: "incomplete",
    FEED_UNUSABLE: "unusable",
}

MAX_PRICE = 10**36  # largest accepted price, 1e18 quote units per whole token

FEED_REVERT_REASONS = {
    FEED_UNUSABLE: "vault: feed unusable",
    FEED_NON_POSITIVE: "vault: bad price",
    FEED_INCOMPLETE: "vault: incomplete round",
    FEED_STALE: "vault: stale price",
}


def normalise_price(answer: int, feed_decimals: int) -> int:
    """Feed answer (``feed_decimals``) -> 1e18 quote units per whole token; non-positive -> 0."""
    if answer <= 0:
        return 0
    return answer * 10 ** (18 - feed_decimals)


def feed_status(
    answer: int,
    updated_at: int,
    round_id: int,
    answered_in_round: int,
    max_age: int,
    now: int,
    *,
    feed_decimals: int = 18,
    sequencer_up: bool = True,
) -> int:
    """Classify one ``latestRoundData`` answer the way the vault's ``_read_feed`` does (first failing
    rule wins). A call that reverted or returned fewer than 160 bytes is ``FEED_UNUSABLE`` before any
    of this (``read_feed``); so is every feed while the L2 sequencer is down or in its grace period."""
    if not sequencer_up:
        return FEED_UNUSABLE
    if answer <= 0:
        return FEED_NON_POSITIVE
    if answer > MAX_PRICE or answer * 10 ** (18 - feed_decimals) > MAX_PRICE:
        return FEED_UNUSABLE
    if updated_at == 0 or answered_in_round < round_id:
        return FEED_INCOMPLETE
    if updated_at > now or now - updated_at > max_age:
        return FEED_STALE
    return FEED_OK


def read_feed(
    data: bytes | None, feed_decimals: int, max_age: int, now: int, *, sequencer_up: bool = True
) -> tuple[int, int, int]:
    """``(price, status, updated_at)`` from a raw ``latestRoundData`` answer (``None``: the call
    reverted), exactly as the vault's ``oracle_state()`` reports it. Every word is read as a full
    256-bit value (``answer`` as int256), so garbled ``uint80`` fields cannot fail the decoding."""
    if data is None or len(data) < 160:
        return 0, FEED_UNUSABLE, 0
    words = [int.from_bytes(data[32 * k : 32 * k + 32], "big") for k in range(5)]
    round_id, raw_answer, _started, updated_at, answered = words
    answer = raw_answer - 2**256 if raw_answer >= 2**255 else raw_answer
    status = feed_status(answer, updated_at, round_id, answered, max_age, now, feed_decimals=feed_decimals)
    price = 0
    if status != FEED_UNUSABLE and answer > 0:
        price = normalise_price(answer, feed_decimals)
    if not sequencer_up:
        status = FEED_UNUSABLE
    return price, status, updated_at


def sequencer_up(answer: int | None, started_at: int, now: int, grace: int) -> bool:
    """Chainlink's L2 sequencer-uptime rule as the vault applies it: ``answer`` 0 is up (``None``: the
    call reverted or returned short data, i.e. down); prices are trusted only more than ``grace``
    seconds after ``started_at``, the time of the last status change."""
    if answer is None or answer != 0 or started_at == 0 or started_at > now:
        return False
    return now - started_at > grace
