#pragma version 0.4.3
"""
@title ReentrantTokenDouble
@notice TEST DOUBLE of a hostile ERC-20 (ERC-777-style hooks): once armed, every `transfer` and
        `transferFrom` first calls `hook_target` with `hook_data` (e.g. an encoded
        `vault.redeem(...)`) and records whether that call succeeded in `last_hook_success`.
        The hook fires once per arming so it cannot recurse forever. Open minting.
"""

from ethereum.ercs import IERC20

implements: IERC20

name: public(String[64])
symbol: public(String[32])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

hook_target: public(address)
hook_data: public(Bytes[1024])
armed: public(bool)
hook_calls: public(uint256)
last_hook_success: public(bool)

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
def __init__(name: String[64], symbol: String[32], decimals: uint8):
    self.name = name
    self.symbol = symbol
    self.decimals = decimals


@external
def arm(target: address, data: Bytes[1024]):
    self.hook_target = target
    self.hook_data = data
    self.armed = True


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._hook()
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self._hook()
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "ERC20: insufficient allowance"
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _hook():
    if not self.armed:
        return
    self.armed = False
    self.hook_calls += 1
    success: bool = False
    response: Bytes[32] = b""
    success, response = raw_call(self.hook_target, self.hook_data, max_outsize=32, revert_on_failure=False)
    self.last_hook_success = success


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "ERC20: insufficient balance"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
