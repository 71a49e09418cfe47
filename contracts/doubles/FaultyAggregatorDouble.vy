#pragma version 0.4.3
"""
@title FaultyAggregatorDouble
@notice TEST DOUBLE of a Chainlink AggregatorV3 feed that can misbehave. Same read interface as
        AggregatorDouble (`decimals`, `description`, `version`, `latestRoundData`, `getRoundData`,
        `latestAnswer`) and the same setters, so it can stand in for any feed; in its honest mode
        `latestRoundData` returns exactly the standard 160-byte ABI encoding of
        (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound).
        Misbehaviour modes (`set_mode`):
          0 HONEST   the latest round, ABI-encoded;
          1 REVERT   `latestRoundData` reverts ("FaultyAggregatorDouble: down");
          2 SHORT    the honest encoding truncated to `short_length` bytes (< 160);
          3 RAW      returns `raw_response` verbatim (garbled words, any length up to 320 bytes);
          4 EMPTY    returns no data at all, without reverting;
          5 BURN     burns all the gas it is given (a hostile feed starving its caller).
@dev    `latestRoundData` is `@raw_return`, so this double's own ABI declares its output as `bytes`;
        callers that decode it as AggregatorV3 (the vault does it raw) see the real layout. Kept
        apart from AggregatorDouble so the honest feed's gas (measured by bench/bench_gas.py) is
        unchanged.
"""

MODE_HONEST: constant(uint256) = 0
MODE_REVERT: constant(uint256) = 1
MODE_SHORT: constant(uint256) = 2
MODE_RAW: constant(uint256) = 3
MODE_EMPTY: constant(uint256) = 4
MODE_BURN: constant(uint256) = 5

struct Round:
    answer: int256
    started_at: uint256
    updated_at: uint256
    answered_in_round: uint80

decimals: public(uint8)
description: public(String[64])
version: public(uint256)
latest_round: public(uint80)
rounds: HashMap[uint80, Round]
mode: public(uint256)
short_length: public(uint256)
raw_response: public(Bytes[320])

event AnswerUpdated:
    current: indexed(int256)
    roundId: indexed(uint256)
    updatedAt: uint256


@deploy
def __init__(decimals: uint8, description: String[64], initial_answer: int256):
    self.decimals = decimals
    self.description = description
    self.version = 4
    self._push(initial_answer, block.timestamp)


@external
@view
@raw_return
def latestRoundData() -> Bytes[320]:
    mode: uint256 = self.mode
    if mode == MODE_REVERT:
        raise "FaultyAggregatorDouble: down"
    if mode == MODE_RAW:
        return self.raw_response
    if mode == MODE_EMPTY:
        return b""
    if mode == MODE_BURN:
        h: bytes32 = empty(bytes32)
        for i: uint256 in range(10_000_000):  # more than any block's gas: runs out first
            h = keccak256(h)
    r: Round = self.rounds[self.latest_round]
    encoded: Bytes[320] = abi_encode(self.latest_round, r.answer, r.started_at, r.updated_at, r.answered_in_round)
    if mode == MODE_SHORT:
        return slice(encoded, 0, self.short_length)
    return encoded


@external
@view
def getRoundData(round_id: uint80) -> (uint80, int256, uint256, uint256, uint80):
    assert self.mode != MODE_REVERT, "FaultyAggregatorDouble: down"
    r: Round = self.rounds[round_id]
    assert r.updated_at != 0, "No data present"
    return round_id, r.answer, r.started_at, r.updated_at, r.answered_in_round


@external
@view
def latestAnswer() -> int256:
    return self.rounds[self.latest_round].answer


@external
def set_mode(mode: uint256):
    """@notice 0 honest, 1 revert, 2 short (see `set_short_length`), 3 raw (see `set_raw_response`), 4 empty."""
    assert mode <= MODE_BURN, "FaultyAggregatorDouble: mode"
    self.mode = mode


@external
def set_short_length(length: uint256):
    """@notice Mode SHORT returns the first `length` bytes (< 160) of the honest encoding."""
    assert length < 160, "FaultyAggregatorDouble: not short"
    self.short_length = length
    self.mode = MODE_SHORT


@external
def set_raw_response(data: Bytes[320]):
    """@notice Mode RAW returns `data` verbatim from `latestRoundData`."""
    self.raw_response = data
    self.mode = MODE_RAW


@external
def set_answer(answer: int256):
    """@notice Start a new complete round with `answer` at the current block time."""
    self._push(answer, block.timestamp)


@external
def set_answer_at(answer: int256, updated_at: uint256):
    """@notice Start a new complete round with `answer` and a chosen `updated_at` (e.g. stale)."""
    self._push(answer, updated_at)


@external
def set_round(round_id: uint80, answer: int256, started_at: uint256, updated_at: uint256, answered_in_round: uint80):
    """@notice Write any round verbatim and make it the latest."""
    self.rounds[round_id] = Round(answer=answer, started_at=started_at, updated_at=updated_at, answered_in_round=answered_in_round)
    self.latest_round = round_id


@internal
def _push(answer: int256, updated_at: uint256):
    round_id: uint80 = self.latest_round + 1
    self.rounds[round_id] = Round(answer=answer, started_at=updated_at, updated_at=updated_at, answered_in_round=round_id)
    self.latest_round = round_id
    log AnswerUpdated(current=answer, roundId=convert(round_id, uint256), updatedAt=updated_at)
