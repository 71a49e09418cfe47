#pragma version 0.4.3
"""
@title AggregatorDouble
@notice TEST DOUBLE of a Chainlink AggregatorV3 feed. Same read interface (`decimals`,
        `description`, `version`, `latestRoundData`, `getRoundData`); tests and the demo set
        answers, rounds and timestamps, including stale, zero, negative and incomplete ones.
"""

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
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    r: Round = self.rounds[self.latest_round]
    return self.latest_round, r.answer, r.started_at, r.updated_at, r.answered_in_round


@external
@view
def getRoundData(round_id: uint80) -> (uint80, int256, uint256, uint256, uint80):
    r: Round = self.rounds[round_id]
    assert r.updated_at != 0, "No data present"
    return round_id, r.answer, r.started_at, r.updated_at, r.answered_in_round


@external
@view
def latestAnswer() -> int256:
    return self.rounds[self.latest_round].answer


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
    """@notice Write any round verbatim and make it the latest (for incomplete-round tests)."""
    self.rounds[round_id] = Round(answer=answer, started_at=started_at, updated_at=updated_at, answered_in_round=answered_in_round)
    self.latest_round = round_id


@internal
def _push(answer: int256, updated_at: uint256):
    round_id: uint80 = self.latest_round + 1
    self.rounds[round_id] = Round(answer=answer, started_at=updated_at, updated_at=updated_at, answered_in_round=round_id)
    self.latest_round = round_id
    log AnswerUpdated(current=answer, roundId=convert(round_id, uint256), updatedAt=updated_at)
