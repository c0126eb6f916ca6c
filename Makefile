# Kohtaamo — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: run test test-fast setup rabbitmq redis crd-schemas oidc-provider contract-tools chromium lint format bench fault docs clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install -q "uv==$(UV_VERSION)"

setup: $(UV)
	$(UV) sync --frozen

rabbitmq:
	@scripts/ensure-rabbitmq.sh

# Redis from Debian for the tests of rate limits shared between replicas.
redis:
	@scripts/ensure-redis.sh

# The schemas of KEDA's and the Prometheus operator's custom resources (npm), for the
# manifest tests.
crd-schemas:
	@test -d tests/deploy/crd/node_modules || npm ci --prefix tests/deploy/crd \
	  --ignore-scripts --no-audit --no-fund --loglevel=error

# A real OpenID Connect provider (oidc-provider on Node.js) for identity's city login tests.
oidc-provider:
	@test -d services/identity/tests/provider/node_modules || npm ci \
	  --prefix services/identity/tests/provider --ignore-scripts --no-audit --no-fund \
	  --loglevel=error

# Spectral, openapi-typescript and TypeScript (npm, pinned by the lockfile), for the API
# contract's tests (tests/contracts/test_openapi_tools.py).
contract-tools:
	@test -d tests/contracts/tools/node_modules || SCARF_ANALYTICS=false npm ci \
	  --prefix tests/contracts/tools --ignore-scripts --no-audit --no-fund --loglevel=error

# Chromium from Debian for the web UI's browser tests.
chromium:
	@scripts/ensure-chromium.sh

## run: everything on one machine, with demo data for Helsinki and Kouvola
run: setup rabbitmq
	$(UV) run --frozen kohtaamo run-all

## test: the whole suite against the real broker and the embedded store
test: setup rabbitmq redis crd-schemas oidc-provider contract-tools chromium
	$(UV) run --frozen pytest $(PYTEST_ARGS)

## test-fast: the tests that need neither broker nor store (no infrastructure). Services
## built there never connect, so they are told the store's kind instead of asking it.
test-fast: setup crd-schemas contract-tools
	KOHTAAMO_MONGO_KIND=mongodb $(UV) run --frozen pytest -m "not broker and not store and not build" $(PYTEST_ARGS)

TYPED_STRICT = contracts/src/contracts services/kit/src/kit
TYPED = $(foreach s,analytics bookings events gateway identity notifications,services/$(s)/src/$(s))

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy --strict $(TYPED_STRICT)
	$(UV) run --frozen mypy $(TYPED)

format: setup
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: setup rabbitmq
	$(UV) run --frozen python bench/run.py

docs: setup
	$(UV) run --frozen kohtaamo asyncapi --out docs/asyncapi

## fault: the long form of the fault suite (ten times the message streams)
fault: setup rabbitmq
	KOHTAAMO_FAULT_SCALE=10 $(UV) run --frozen pytest tests/faults $(PYTEST_ARGS)

clean:
	rm -rf var .tools bench/results test-artifacts
