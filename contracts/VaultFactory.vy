#pragma version 0.4.3
#pragma optimize codesize
"""
@title ballast VaultFactory
@license MIT
@notice Deploys RebalancingVaults from an EIP-5202 blueprint and keeps a registry of them
        (all vaults, vaults by deployer, membership). Anyone may deploy a vault.
@dev    `create_from_blueprint` runs the vault's constructor with this factory as `msg.sender`,
        so the factory starts as the vault's owner and immediately starts the vault's two-step
        ownership transfer to the caller; the caller completes it with `accept_ownership()` on
        the vault (`scripts/deploy.py` does). Until then the factory can do nothing with the
        vault: it has no other function that calls it.
        The blueprint is fixed at construction: every vault in the registry runs the same code.
"""

interface IVault:
    def transfer_ownership(new_owner: address): nonpayable

MAX_ASSETS: constant(uint256) = 8
MAX_PER_DEPLOYER: constant(uint256) = 1_000

# The EIP-5202 blueprint holding the RebalancingVault initcode.
VAULT_BLUEPRINT: public(immutable(address))

# Every vault this factory deployed, in order; `vault_count` is its length.
vaults: public(HashMap[uint256, address])
vault_count: public(uint256)
# True for vaults deployed here: lets anyone check a vault runs the blueprint's code.
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
def __init__(vault_blueprint: address):
    """@param vault_blueprint EIP-5202 blueprint of RebalancingVault (preamble 0xFE7100)."""
    assert vault_blueprint.codesize > 3, "factory: no blueprint"
    VAULT_BLUEPRINT = vault_blueprint


@external
@nonreentrant
def deploy_vault(
    name: String[64],
    symbol: String[32],
    assets: DynArray[address, MAX_ASSETS],
    feeds: DynArray[address, MAX_ASSETS],
    target_weights: DynArray[uint256, MAX_ASSETS],
    router: address,
    keeper: address,
    guardian: address,
) -> address:
    """
    @notice Deploy a vault (arguments exactly as RebalancingVault's constructor) and start its
            ownership transfer to the caller, who must call `accept_ownership()` on it.
    @return vault The new vault's address.
    """
    vault: address = create_from_blueprint(
        VAULT_BLUEPRINT, name, symbol, assets, feeds, target_weights, router, keeper, guardian
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
