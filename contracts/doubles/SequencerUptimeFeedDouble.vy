#pragma version 0.4.3
"""
@title SequencerUptimeFeedDouble
@notice TEST DOUBLE of Chainlink's L2 sequencer-uptime feed (AggregatorV3 read interface).
        `latestRoundData` answers 0 while the sequencer is up and 1 while it is down;
        `startedAt` is the time of the last status change (as reported from L1), `updatedAt` the
        time the feed last heard about it. As in Chainlink's `updateStatus(status, timestamp)`:
        a report of an unchanged status only refreshes `updatedAt`; a change starts a new round.
        Misbehaviour for tests: `set_round` writes any round verbatim (startedAt 0 or in the
        future), `set_mode(1)` makes `latestRoundData` revert, `set_mode(2)` returns short data.
@dev    `latestRoundData` is `@raw_return` (its own ABI says `bytes`); in the normal mode it returns
        the standard 160-byte encoding of (uint80, int256, uint256, uint256, uint80).
"""

MODE_NORMAL: constant(uint256) = 0
MODE_REVERT: constant(uint256) = 1
MODE_SHORT: constant(uint256) = 2

struct Round:
    answer: int256
    started_at: uint256
    updated_at: uint256

decimals: public(uint8)
description: public(String[64])
version: public(uint256)
latest_round: public(uint80)
rounds: HashMap[uint80, Round]
mode: public(uint256)

event AnswerUpdated:
    current: indexed(int256)
    roundId: indexed(uint256)
    updatedAt: uint256


@deploy
def __init__(started_at: uint256):
    """@param started_at When the sequencer came up (unix seconds), e.g. long before the test."""
    self.decimals = 0
    self.description = "L2 Sequencer Uptime Status Feed"
    self.version = 1
    self._new_round(0, started_at)


@external
@view
@raw_return
def latestRoundData() -> Bytes[160]:
    assert self.mode != MODE_REVERT, "SequencerUptimeFeedDouble: down"
    r: Round = self.rounds[self.latest_round]
    encoded: Bytes[160] = abi_encode(self.latest_round, r.answer, r.started_at, r.updated_at, self.latest_round)
    if self.mode == MODE_SHORT:
        return slice(encoded, 0, 128)
    return encoded


@external
@view
def latestAnswer() -> int256:
    return self.rounds[self.latest_round].answer


@external
@view
def is_down() -> bool:
    return self.rounds[self.latest_round].answer != 0


@external
def update_status(down: bool, timestamp: uint256):
    """@notice Chainlink's `updateStatus`: a change of status at `timestamp` starts a new round."""
    answer: int256 = 0
    if down:
        answer = 1
    r: Round = self.rounds[self.latest_round]
    if r.answer == answer:
        self.rounds[self.latest_round].updated_at = block.timestamp
        return
    self._new_round(answer, timestamp)


@external
def set_round(answer: int256, started_at: uint256, updated_at: uint256):
    """@notice Write a new round verbatim (for startedAt == 0, startedAt in the future, odd answers)."""
    self.latest_round += 1
    self.rounds[self.latest_round] = Round(answer=answer, started_at=started_at, updated_at=updated_at)


@external
def set_mode(mode: uint256):
    """@notice 0 normal, 1 revert, 2 short (128-byte) answers."""
    assert mode <= MODE_SHORT, "SequencerUptimeFeedDouble: mode"
    self.mode = mode


@internal
def _new_round(answer: int256, started_at: uint256):
    self.latest_round += 1
    self.rounds[self.latest_round] = Round(answer=answer, started_at=started_at, updated_at=block.timestamp)
    log AnswerUpdated(current=answer, roundId=convert(self.latest_round, uint256), updatedAt=block.timestamp)
