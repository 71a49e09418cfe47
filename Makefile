# ballast: `make demo` runs the product on a local chain; `make test` runs every test.
# Both install what they need (a .venv with pinned Python deps, Anvil via npm ci).
SHELL := /bin/bash
PY_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
BROWNIE := $(VENV)/bin/brownie
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# pytest-xdist workers for `make test` (brownie gives worker N the port 8545+N; scheduling is by file,
# slowest files first: tests/conftest.py SLOW_FILES).
TEST_WORKERS ?= 2
# CI sets CI=true: use a fixed hypothesis profile there (see tests/conftest.py).
export BALLAST_HYPOTHESIS_PROFILE ?= $(if $(CI),ci,dev)

# brownie compiles for brownie-config.yaml's evm_version but does not notice when only that changed:
# drop a build made for another EVM version first (offchain.chain.node.drop_stale_build).
COMPILE = $(PY) -c "from offchain.chain.node import drop_stale_build; drop_stale_build()" && $(BROWNIE) compile

.PHONY: networks help install demo test test-ganache test-contracts test-offchain lint bench bench-gas bench-optimize bench-backtest bench-keeper bench-audit bench-loss-budget bench-cli bench-soak clean

help:
	@echo "make demo   - a year on Anvil: daily prices + arbitrage, the keeper rebalancing, table + HTML report"
	@echo "make test   - lint + the whole test suite on Anvil (installs everything)"
	@echo "make test-ganache - the contract, audit, factory and devnet suites on Ganache 7.9.2"
	@echo "make bench  - gas, optimiser, backtest, keeper, audit and loss-budget benchmarks (figures go into README.md)"

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY_BOOT) -m venv $(VENV)
	$(PIP) install pip==26.3 setuptools==84.2.1 wheel==0.47.0
	BROWNIE_NOCOMPILE=1 $(PIP) install -c constraints.txt --no-binary eth-brownie eth-brownie==1.22.2
	$(PIP) install -c constraints.txt -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	anvil --version | head -n 1
	touch $@

# `make demo CHAIN=ganache`: the same year on Ganache 7.9.2, contracts built for shanghai
CHAIN ?= anvil
demo: export BALLAST_CHAIN = $(CHAIN)
demo: export BALLAST_EVM_VERSION := $(if $(filter ganache,$(CHAIN)),shanghai,$(BALLAST_EVM_VERSION))
demo: install
	$(COMPILE)
	$(PY) scripts/demo.py

test: install lint
	$(COMPILE)
	$(BROWNIE) test tests/ -n $(TEST_WORKERS) --no-loadscope-reorder -p no:cacheprovider

# Ganache 7.9.2 (npm, pinned): contracts built for shanghai (its newest fork), a gas price above its
# base fee, and scripts/ganache-cli (Ganache without its per-request log) first on PATH for brownie.
# The contract suites, then the audit, factory, chain and devnet suites (local_node starts Ganache).
# Not yet the keeper suite: 4 of its tests fail on Ganache (README, Tests: On Ganache).
test-ganache: export BALLAST_EVM_VERSION = shanghai
test-ganache: export BALLAST_GAS_PRICE = 2 gwei
test-ganache: export BALLAST_CHAIN = ganache
test-ganache: export PATH := $(CURDIR)/scripts:$(PATH)
test-ganache: install
	$(COMPILE)
	$(BROWNIE) test tests/contracts --network ganache-cli -n $(TEST_WORKERS) --no-loadscope-reorder -p no:cacheprovider
	$(PY) -m pytest tests/audit tests/deploy/test_factory.py tests/chain tests/devnet \
	  -p no:pytest-brownie -p no:cacheprovider -n $(TEST_WORKERS) -q

test-contracts: install
	$(BROWNIE) test tests/contracts

test-offchain: install
	$(PY) -m pytest tests/core tests/quant tests/chain -q -p no:pytest-brownie

lint: install
	$(VENV)/bin/ruff check offchain scripts tests bench
	$(VENV)/bin/ruff format --check offchain scripts tests bench
	$(VENV)/bin/lint-imports

bench: bench-gas bench-optimize bench-backtest bench-keeper bench-audit bench-loss-budget bench-cli bench-soak

bench-gas: install
	$(COMPILE)
	$(PY) bench/bench_gas.py

bench-optimize: install
	$(PY) bench/bench_optimize.py

bench-backtest: install
	$(PY) bench/bench_backtest.py

bench-keeper: install
	$(COMPILE)
	$(PY) bench/bench_keeper.py

bench-loss-budget: install
	$(PY) bench/bench_loss_budget.py

bench-soak: install
	$(COMPILE)
	$(PY) bench/bench_soak.py

bench-cli: install
	$(PY) bench/bench_cli.py

bench-audit: install
	$(COMPILE)
	$(PY) bench/bench_audit.py --rebalances 1000

# Registers brownie network `sepolia-rpc` whose RPC URL is read from $$SEPOLIA_RPC_URL at connect time
# (brownie's own `sepolia` wants an Infura id in $$WEB3_INFURA_PROJECT_ID).
networks: install
	$(BROWNIE) networks modify sepolia-rpc host='$$SEPOLIA_RPC_URL' chainid=11155111 >/dev/null 2>&1 \
	  || $(BROWNIE) networks add Ethereum sepolia-rpc host='$$SEPOLIA_RPC_URL' chainid=11155111 \
	     explorer=https://api-sepolia.etherscan.io/api
	@echo "brownie network sepolia-rpc -> \$$SEPOLIA_RPC_URL"

clean:
	rm -rf build reports .hypothesis
