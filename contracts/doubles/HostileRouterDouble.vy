#pragma version 0.4.3
"""
@title HostileRouterDouble
@notice TEST DOUBLE of a malicious or buggy Uniswap-V2-style router, for adversarial tests.
        `swapExactTokensForTokens` pulls `pull_bps` of `amountIn` from the caller (10_000 = all of
        it) and pays from its own balance either a fixed `payout` of `path[1]` (ignoring
        `amountOutMin`), or, after `pay_min_out(True)`, exactly `amountOutMin`: the worst fill a
        keeper colluding with the router can get through the vault's oracle bound, on every trade.
        It records the allowance it was given when called.
"""

from ethereum.ercs import IERC20

payout: public(uint256)
pull_bps: public(uint256)
pays_min_out: public(bool)
seen_allowance: public(uint256)


@deploy
def __init__():
    self.pull_bps = 10_000


@external
def configure(payout: uint256, pull_bps: uint256):
    self.payout = payout
    self.pull_bps = pull_bps
    self.pays_min_out = False


@external
def pay_min_out(enabled: bool):
    """@notice Pay exactly `amountOutMin` on every swap (pulling all of `amountIn`)."""
    self.pays_min_out = enabled
    self.pull_bps = 10_000


@external
def swapExactTokensForTokens(
    amountIn: uint256, amountOutMin: uint256, path: DynArray[address, 4], to: address, deadline: uint256
) -> DynArray[uint256, 4]:
    self.seen_allowance = staticcall IERC20(path[0]).allowance(msg.sender, self)
    pulled: uint256 = amountIn * self.pull_bps // 10_000
    if pulled > 0:
        assert extcall IERC20(path[0]).transferFrom(msg.sender, self, pulled, default_return_value=True)
    out: uint256 = self.payout
    if self.pays_min_out:
        out = amountOutMin
    assert extcall IERC20(path[1]).transfer(to, out, default_return_value=True)
    return [amountIn, out]
