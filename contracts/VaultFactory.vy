#pragma version 0.4.3
#pragma optimize codesize
"""
@title ballast VaultFactory
@license MIT
@notice Deploys RebalancingVaults and keeps a registry of them (all vaults, vaults by deployer,
        membership). Anyone may deploy a vault. Every vault runs the same code, checkable against
        a local build with `vault_initcode_hash`, and uses the same VaultGovernance module.
@dev    The vault's initcode is larger than EIP-170's 24,576-byte code limit, so it cannot sit in
        one EIP-5202 blueprint. It is split into N_CHUNKS pieces, each kept as the runtime code of a
        "data contract": code = 0x00 (STOP, so calling it does nothing) + the piece, zero-padded to
        exactly CHUNK_SIZE bytes (`offchain.chain.chunk_deploy_code` builds them). Vyper reads code
        only with a constant length, hence the fixed size; the real initcode length is an
        immutable. `deploy_vault` copies the pieces (EXTCODECOPY), cuts the padding off and runs
        `raw_create(initcode, *constructor args)`, so the vault's constructor sees this factory
        as `msg.sender`: the factory starts as the vault's owner and immediately starts the
        two-step ownership transfer to the caller, who completes it with `accept_ownership()` on
        the vault (`scripts/deploy.py` does). Until then the factory can do nothing with the
        vault: it has no other function that calls it.
        The chunks, the initcode length and the governance module are fixed at construction.
"""

interface IVault:
    def transfer_ownership(new_owner: address): nonpayable

MAX_ASSETS: constant(uint256) = 8
N_PARAMS: constant(uint256) = 10
MAX_PER_DEPLOYER: constant(uint256) = 1_000
# Data bytes per chunk contract (each has CHUNK_SIZE + 1 bytes of code, under EIP-170), and how
# many chunks: the vault's initcode may be up to N_CHUNKS * CHUNK_SIZE bytes (EIP-3860 allows
# 49,152).
CHUNK_SIZE: public(constant(uint256)) = 16_384
N_CHUNKS: public(constant(uint256)) = 2
MAX_INITCODE: constant(uint256) = CHUNK_SIZE * N_CHUNKS

# The data contracts holding the vault's initcode, in order.
vault_chunks: public(immutable(address[N_CHUNKS]))
# Length of the vault's initcode in bytes (the rest of the last chunk is padding).
vault_initcode_len: public(immutable(uint256))
# keccak256 of the assembled vault initcode: compare with a local build of RebalancingVault.
vault_initcode_hash: public(immutable(bytes32))
# The VaultGovernance module every vault deployed here delegates its governance to.
governance: public(immutable(address))

# Every vault this factory deployed, in order; `vault_count` is its length.
vaults: public(HashMap[uint256, address])
vault_count: public(uint256)
# True for vaults deployed here: lets anyone check a vault runs the registered code.
is_vault: public(HashMap[address, bool])
# Vaults by deployer (bounded so reads stay cheap).
_by_deployer: HashMap[address, DynArray[address, MAX_PER_DEPLOYER]]

event VaultDeployed:
    vault: indexed(address)
    deployer: indexed(address)
    index: uint256
    assets: DynArray[address, MAX_ASSETS]
    target_weights: DynArray[uint256, MAX_ASSETS]


@deploy
def __init__(chunks: address[N_CHUNKS], initcode_len: uint256, governance_module: address):
    """
    @param chunks The data contracts holding the vault's initcode in order, each with code
           0x00 + CHUNK_SIZE bytes.
    @param initcode_len Length of the vault's initcode (1 .. N_CHUNKS * CHUNK_SIZE bytes).
    @param governance_module A deployed VaultGovernance module, fixed for every vault.
    """
    assert initcode_len > 0 and initcode_len <= MAX_INITCODE, "factory: bad initcode length"
    assert governance_module.codesize != 0, "factory: no governance module"
    for i: uint256 in range(N_CHUNKS):
        assert chunks[i].codesize == CHUNK_SIZE + 1, "factory: bad chunk"
        assert slice(chunks[i].code, 0, 1) == b"\x00", "factory: bad chunk"
    vault_chunks = chunks
    vault_initcode_len = initcode_len
    governance = governance_module
    vault_initcode_hash = keccak256(
        slice(concat(slice(chunks[0].code, 1, CHUNK_SIZE), slice(chunks[1].code, 1, CHUNK_SIZE)), 0, initcode_len)
    )


@external
@nonreentrant
def deploy_vault(
    name: String[64],
    symbol: String[32],
    assets: DynArray[address, MAX_ASSETS],
    feeds: DynArray[address, MAX_ASSETS],
    target_weights: DynArray[uint256, MAX_ASSETS],
    max_ages: DynArray[uint256, MAX_ASSETS],
    params: uint256[N_PARAMS],
    router: address,
    keeper: address,
    guardian: address,
    sequencer_feed: address,
    sequencer_grace: uint256,
) -> address:
    """
    @notice Deploy a vault and start its ownership transfer to the caller, who must call
            `accept_ownership()` on it. Arguments are RebalancingVault's constructor's, in its
            order, without `governance` (the factory's `governance` module is used).
    @param name Share token name.
    @param symbol Share token symbol.
    @param assets 2-8 distinct ERC-20 tokens.
    @param feeds One Chainlink AggregatorV3 feed per asset.
    @param target_weights Target weight per asset in bps, summing to 10_000.
    @param max_ages Per feed, the oldest answer accepted (seconds): heartbeat plus a small margin.
    @param params The ten parameters in the vault's kind order (offchain.model.PARAM_KINDS).
    @param router Uniswap-V2-compatible router.
    @param keeper First keeper (empty address: none).
    @param guardian Guardian (empty address: none).
    @param sequencer_feed L2 sequencer-uptime feed (empty address: none).
    @param sequencer_grace Seconds refused after a sequencer restart.
    @return vault The new vault's address. Reverts with the vault's own reason when its
            constructor refuses the arguments.
    """
    # the same assembly as in __init__, written inline: an internal function returning the Bytes
    # would copy them once more (about 24k gas of memory per vault)
    vault: address = raw_create(
        slice(
            concat(slice(vault_chunks[0].code, 1, CHUNK_SIZE), slice(vault_chunks[1].code, 1, CHUNK_SIZE)),
            0,
            vault_initcode_len,
        ),
        name,
        symbol,
        assets,
        feeds,
        target_weights,
        max_ages,
        params,
        router,
        governance,
        keeper,
        guardian,
        sequencer_feed,
        sequencer_grace,
    )
    index: uint256 = self.vault_count
    self.vaults[index] = vault
    self.vault_count = index + 1
    self.is_vault[vault] = True
    self._by_deployer[msg.sender].append(vault)
    extcall IVault(vault).transfer_ownership(msg.sender)
    log VaultDeployed(
        vault=vault, deployer=msg.sender, index=index, assets=assets, target_weights=target_weights
    )
    return vault


@external
@view
def vaults_by(deployer: address) -> DynArray[address, MAX_PER_DEPLOYER]:
    """@notice Every vault `deployer` deployed through this factory, oldest first."""
    return self._by_deployer[deployer]
