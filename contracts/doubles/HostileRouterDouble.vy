#pragma version 0.4.3
"""
@title HostileRouterDouble
@notice TEST DOUBLE of a malicious or buggy Uniswap-V2-style router, for adversarial tests.
        `swapExactTokensForTokens` ignores `amountOutMin`, pulls `pull_bps` of `amountIn` from
        the caller (10_000 = all of it) and pays `payout` of `path[1]` from its own balance.
        It records the allowance it was given when called.
"""

from ethereum.ercs import IERC20

payout: public(uint256)
pull_bps: public(uint256)
seen_allowance: public(uint256)


@deploy
def __init__():
    self.pull_bps = 10_000


@external
def configure(payout: uint256, pull_bps: uint256):
    self.payout = payout
    self.pull_bps = pull_bps


@external
def swapExactTokensForTokens(
    amountIn: uint256, amountOutMin: uint256, path: DynArray[address, 4], to: address, deadline: uint256
) -> DynArray[uint256, 4]:
    self.seen_allowance = staticcall IERC20(path[0]).allowance(msg.sender, self)
    pulled: uint256 = amountIn * self.pull_bps // 10_000
    if pulled > 0:
        assert extcall IERC20(path[0]).transferFrom(msg.sender, self, pulled, default_return_value=True)
    assert extcall IERC20(path[1]).transfer(to, self.payout, default_return_value=True)
    return [amountIn, self.payout]
