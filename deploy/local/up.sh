#!/usr/bin/env bash
# Brings the whole system up on this machine: infrastructure, release build, migrations,
# demo data, the four services in the background (pid and log files under .run/), waits
# until every health check is SERVING, warms the demo activity and prints grpcurl
# examples. Running it again while the services run is harmless.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUN_DIR=${BM_RUN_DIR:-.run}
GRPCURL=${GRPCURL:-.tools/venv/bin/grpcurl}
declare -A PORT=([raffle]=50050 [strategy]=50051 [activity]=50052 [award]=50053)
DB_SERVICES="strategy activity award"
ALL_SERVICES="strategy activity award raffle"

say()  { printf '[up] %s\n' "$*"; }
fail() { printf '[up] ERROR: %s\n' "$*" >&2; exit 1; }

./deploy/local/infra.sh
[ -x "$GRPCURL" ] || ./deploy/local/grpcurl.sh

say "building release binaries (first build takes several minutes)"
cargo build --release --locked --bins

mkdir -p "$RUN_DIR"
for svc in $DB_SERVICES; do
  say "$svc: migrations + demo data"
  env -u BM_AUTH__CALLERS_FILE -u BM_REBATE__APPS_FILE "./target/release/$svc" seed >>"$RUN_DIR/$svc.log" 2>&1 || { tail -n 20 "$RUN_DIR/$svc.log" >&2; fail "$svc seed failed (log: $RUN_DIR/$svc.log)"; }
done

running() { [ -f "$RUN_DIR/$1.pid" ] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }

for svc in $ALL_SERVICES; do
  if running "$svc"; then say "$svc: already running (pid $(cat "$RUN_DIR/$svc.pid"))"; continue; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$svc]}") 2>/dev/null; then
    fail "port ${PORT[$svc]} is taken by another process; stop it or run 'make down'"
  fi
  # Only the orchestrator has callers and rebate apps (docs/security.md); the others refuse
  # the keys. The demo's rebate app (chatgpt-data) is deploy/local/rebate-apps.yaml.
  extra=(-u BM_AUTH__CALLERS_FILE -u BM_REBATE__APPS_FILE)
  if [ "$svc" = raffle ]; then extra=("BM_REBATE__APPS_FILE=${BM_REBATE__APPS_FILE:-$PWD/deploy/local/rebate-apps.yaml}"); fi
  env "${extra[@]}" "BM_GRPC__PORT=${PORT[$svc]}" nohup "./target/release/$svc" serve >>"$RUN_DIR/$svc.log" 2>&1 &
  echo $! >"$RUN_DIR/$svc.pid"
  say "$svc: started (pid $!, port ${PORT[$svc]}, log $RUN_DIR/$svc.log)"
done

for svc in $ALL_SERVICES; do
  for _ in $(seq 1 150); do
    if "$GRPCURL" -plaintext -max-time 2 -d '{"service":""}' "127.0.0.1:${PORT[$svc]}" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; then
      say "$svc: SERVING on 127.0.0.1:${PORT[$svc]}"; continue 2
    fi
    running "$svc" || { tail -n 20 "$RUN_DIR/$svc.log" >&2; fail "$svc exited (log: $RUN_DIR/$svc.log)"; }
    sleep 0.2
  done
  fail "$svc did not become SERVING within 30 s (log: $RUN_DIR/$svc.log)"
done

./deploy/local/warm.sh "$GRPCURL"

cat <<EOT

big-market is up. Try (grpcurl is at $GRPCURL; 'make grpcurl' puts it there):

  $GRPCURL -plaintext 127.0.0.1:50050 list
  $GRPCURL -plaintext 127.0.0.1:50051 describe bigmarket.strategy.v1.StrategyService
  $GRPCURL -plaintext -d '{"strategy_id":100006}' 127.0.0.1:50051 bigmarket.strategy.v1.StrategyService/ArmoryStrategy
  $GRPCURL -plaintext -d '{"user_id":"xiaofuge","strategy_id":100006}' 127.0.0.1:50051 bigmarket.strategy.v1.StrategyService/Draw

More in README.md. 'make status' shows the services, 'make logs' their logs, 'make down' stops them.
EOT
