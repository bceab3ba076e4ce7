#!/usr/bin/env bash
# Warms the demo data after the services are up: armories strategy 100006 (the strategy of
# demo activity 100301). Idempotent: a re-armory never resets stock.
set -euo pipefail
GRPCURL=${1:-.tools/venv/bin/grpcurl}
"$GRPCURL" -plaintext -d '{"strategy_id":100006}' 127.0.0.1:50051 bigmarket.strategy.v1.StrategyService/ArmoryStrategy >/dev/null \
  && echo "[up] strategy 100006 armoried" \
  || echo "[up] note: ArmoryStrategy is not available yet; see docs/status.md" >&2
