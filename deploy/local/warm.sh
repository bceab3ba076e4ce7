#!/usr/bin/env bash
# Warms the demo after the services are up: armories activity 100301 (sku stock) and its
# strategy 100006 (rate tables, award stock), and gives the demo user xiaofuge quota with
# sku 9011 (+150 draws). Idempotent: a re-armory never resets stock, and the recharge uses a
# fixed out_business_no, so a second run answers ALREADY_EXISTS and credits nothing.
set -uo pipefail
GRPCURL=${1:-.tools/venv/bin/grpcurl}
# The internal services, called directly here, want the internal token when one is set
# (docs/security.md).
auth=()
[ -n "${BM_AUTH__INTERNAL_TOKEN:-}" ] && auth=(-H "authorization: Bearer $BM_AUTH__INTERNAL_TOKEN")
call() { # port method json
  "$GRPCURL" -plaintext "${auth[@]}" -d "$3" "127.0.0.1:$1" "$2" 2>&1
}
if out=$(call 50052 bigmarket.activity.v1.ActivityService/ArmoryActivity '{"activity_id":100301}'); then
  echo "[up] activity 100301 armoried"
else
  echo "[up] ERROR: ArmoryActivity failed: $out" >&2; exit 1
fi
if out=$(call 50051 bigmarket.strategy.v1.StrategyService/ArmoryStrategy '{"strategy_id":100006}'); then
  echo "[up] strategy 100006 armoried"
else
  echo "[up] ERROR: ArmoryStrategy failed: $out" >&2; exit 1
fi
out=$(call 50052 bigmarket.activity.v1.ActivityService/RechargeSku '{"user_id":"xiaofuge","sku":9011,"out_business_no":"demo-xiaofuge-9011"}')
case "$out" in
  *orderId*) echo "[up] xiaofuge recharged with sku 9011 (+150 draws on activity 100301)" ;;
  *AlreadyExists*) echo "[up] xiaofuge already has the demo quota" ;;
  *) echo "[up] ERROR: demo recharge failed: $out" >&2; exit 1 ;;
esac
