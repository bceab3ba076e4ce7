#!/usr/bin/env bash
# Puts the demo of a running `make up` system back to its initial state, so a demo or a test
# run starts clean (docs/operations.md, "Resetting the demo").
#
# WIPES DATA: in the databases the services are configured with (the same BM_* environment /
# BM_CONFIG as `make up`; by default bm_strategy, bm_activity, bm_award on 127.0.0.1) it deletes
# every user's rows — draw records, quota accounts, recharge and raffle orders, award records,
# outbox tasks, credit accounts and ledger, parked messages — and puts stock back to its
# opening; in Redis it deletes the keys <redis.key_prefix>strategy:* and activity:*. Each binary
# refuses a database that holds more than the demo configuration. Then it re-armories activity
# 100301 and strategy 100006 and gives xiaofuge his 150 draws again (warm.sh), as `make up` does.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUN_DIR=${BM_RUN_DIR:-.run}
BIN_DIR=${BM_BIN_DIR:-target/release}
GRPCURL=${GRPCURL:-.tools/venv/bin/grpcurl}
declare -A PORT=([raffle]=50050 [strategy]=50051 [activity]=50052 [award]=50053)
DB_SERVICES="strategy activity award"
ALL_SERVICES="strategy activity award raffle"

say()  { printf '[reset-demo] %s\n' "$*"; }
fail() { printf '[reset-demo] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$GRPCURL" ] || fail "grpcurl is missing at $GRPCURL: run 'make grpcurl' (or 'make up')"

# Only a running system: every service SERVING before anything is touched.
serving() {
  local out
  out=$("$GRPCURL" -plaintext -max-time 2 -d '{"service":""}' "127.0.0.1:${PORT[$1]}" \
    grpc.health.v1.Health/Check 2>/dev/null) && [[ $out == *'"SERVING"'* ]]
}
for svc in $ALL_SERVICES; do
  serving "$svc" || fail "$svc is not SERVING on 127.0.0.1:${PORT[$svc]}: reset-demo resets a running system;" \
    "run 'make up' first ('make status' shows what runs)"
done
for svc in $DB_SERVICES; do
  [ -x "$BIN_DIR/$svc" ] || fail "$BIN_DIR/$svc is missing: run 'make up' (or cargo build --release --locked --bins)"
done

mkdir -p "$RUN_DIR"
for svc in $DB_SERVICES; do
  # The report goes to stdout; the log lines to the service's log, as for `seed` in up.sh.
  if ! report=$(env -u BM_AUTH__CALLERS_FILE -u BM_REBATE__APPS_FILE "$BIN_DIR/$svc" reset-demo 2>>"$RUN_DIR/$svc.log"); then
    tail -n 5 "$RUN_DIR/$svc.log" >&2
    fail "$svc reset-demo failed (log: $RUN_DIR/$svc.log). A binary built before reset-demo existed says" \
      "'unknown argument': rebuild with 'cargo build --release --locked --bins'"
  fi
  say "$svc: $report"
done

say "re-armory and the demo quota (deploy/local/warm.sh)"
./deploy/local/warm.sh "$GRPCURL"

# With caller authentication on, BM_TOKEN is a caller token allowed this method (docs/security.md).
auth=()
[ -n "${BM_TOKEN:-}" ] && auth=(-H "authorization: Bearer $BM_TOKEN")
account=$("$GRPCURL" -plaintext "${auth[@]}" -max-time 5 -d '{"user_id":"xiaofuge","activity_id":100301}' 127.0.0.1:50050 \
  bigmarket.raffle.v1.RaffleService/QueryUserActivityAccount | tr -d ' \n')
say "xiaofuge on activity 100301 now: $account"
say "done: stock, accounts and records are as after 'make up'"
