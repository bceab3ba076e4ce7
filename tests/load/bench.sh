#!/usr/bin/env bash
# `make bench` (issue #9, docs/BENCHMARKS.md): measures big-market next to baselines taken on
# this machine in this run, and prints our figure / baseline for each layer.
#
#  1. infrastructure (deploy/local/infra.sh), release build;
#  2. its own databases (bmbench_<pid>_*), Redis key prefix, NATS subject and stream prefix,
#     and its own four services on 53050-53053 (never the 50050-50053 of `make up`);
#  3. baselines: redis-benchmark of the stock take Lua script (the exact text of
#     shared/stock/src/lib.rs) and pgbench of the SQL each operation runs
#     (tests/load/pgbench/*.sql) against a scratch database with the services' migrations;
#  4. bm-bench per layer: strategy-draw (recorded and debug), partake, record-award, draw
#     flat out, then draw paced at 10, 30, 50 and 70 % of the measured peak for its latency;
#  5. the table; then everything it started is stopped and dropped (also on failure).
#
# Environment (optional; not BM_*, which the services would refuse as unknown keys): BENCH_DURATION (15s), BENCH_WARMUP (2s), BENCH_USERS (64),
# BENCH_CONNECTIONS (2), BENCH_PG_CLIENTS (16), BENCH_PORT_BASE (53050; metrics on +1000),
# BENCH_OUT (target/bench: reports and service logs), BENCH_LOG_LEVEL (info),
# BENCH_MODES (all: "strategy-draw strategy-debug partake record-award award-latency draw draw10 draw30
#   draw50 draw70"; drawNN, after draw, is the draw paced at NN % of its throughput: the latency curve),
# BENCH_BIN_DIR (target/release: where the four services and bm-bench are),
# BENCH_SKIP_BUILD (unset: set to 1 to measure binaries built before, e.g. a copy),
# BENCH_SERVICE_ENV (extra VAR=VALUE words for all four services, e.g. BM_METRICS__ENABLED=false),
# BENCH_ENV_STRATEGY / BENCH_ENV_ACTIVITY / BENCH_ENV_AWARD / BENCH_ENV_RAFFLE (extra words for
# that service only, e.g. BENCH_ENV_AWARD=BM_DATABASE__MAX_CONNECTIONS=32),
# BENCH_AWARD_LATENCY_RATE (award-latency at this many RecordAward/s instead of 25 % of the
# record-award peak, e.g. to compare two builds at the same rate).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-2s}
USERS=${BENCH_USERS:-64}
CONNECTIONS=${BENCH_CONNECTIONS:-2}
PG_CLIENTS=${BENCH_PG_CLIENTS:-16}
PORT_BASE=${BENCH_PORT_BASE:-53050}
OUT=${BENCH_OUT:-target/bench}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
read -r -a SERVICE_ENV <<<"${BENCH_SERVICE_ENV:-}"
MODES=${BENCH_MODES:-"strategy-draw strategy-debug partake record-award award-latency draw draw10 draw30 draw50 draw70"}
SECONDS_PG=${DURATION%s}; [[ "$SECONDS_PG" =~ ^[0-9]+$ ]] || SECONDS_PG=15

RUN=bmbench$$
PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=bigmarket PG_PASSWORD=bigmarket
PG_BASE="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT"
REDIS_PREFIX="$RUN:"
STREAM_PREFIX=${RUN^^}
BIN=${BENCH_BIN_DIR:-./target/release}
BENCH=$BIN/bm-bench
declare -A PORT=([raffle]=$PORT_BASE [strategy]=$((PORT_BASE + 1)) [activity]=$((PORT_BASE + 2)) [award]=$((PORT_BASE + 3)))
declare -A DB=([strategy]=${RUN}_strategy [activity]=${RUN}_activity [award]=${RUN}_award)
PGBENCH_DB=${RUN}_pgbench
PIDS=()

say()  { printf '[bench] %s\n' "$*" >&2; }
fail() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
psql_bm() { PGPASSWORD=$PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for db in "${DB[@]}" "$PGBENCH_DB"; do
    psql_bm -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || say "could not drop $db"
  done
  redis-cli -h 127.0.0.1 --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null | xargs -r -n 1000 redis-cli -h 127.0.0.1 DEL >/dev/null || true
  [ -x "$BENCH" ] && { "$BENCH" cleanup-nats --stream-prefix "$STREAM_PREFIX" || say "could not delete the $STREAM_PREFIX streams"; }
  say "stopped the bench services, dropped ${RUN}_* databases, ${REDIS_PREFIX}* keys and ${STREAM_PREFIX}_* streams"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in pgbench redis-benchmark redis-cli psql; do
  command -v "$tool" >/dev/null 2>&1 && continue
  say "$tool missing: installing postgresql-contrib postgresql-client redis-tools"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql-contrib postgresql-client redis-tools >/dev/null || fail "cannot install $tool"
done

./deploy/local/infra.sh
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  say "release build"
  cargo build --release --locked --bins
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log

for port in "${PORT[@]}"; do
  for taken in "$port" $((port + 1000)); do  # gRPC and metrics
    if (exec 3<>"/dev/tcp/127.0.0.1/$taken") 2>/dev/null; then fail "port $taken is taken; set BENCH_PORT_BASE"; fi
  done
done

# --- the services under test -------------------------------------------------------------
own_env() { # service: its BENCH_ENV_<SERVICE> words, one per line
  local var="BENCH_ENV_${1^^}" words
  read -r -a words <<<"${!var:-}"
  [ "${#words[@]}" = 0 ] || printf '%s\n' "${words[@]}"
}
stateful_env() { # service
  own_env "$1"
  printf '%s\n' "BM_GRPC__PORT=${PORT[$1]}" "BM_LOG__LEVEL=$LOG_LEVEL" ${SERVICE_ENV[@]+"${SERVICE_ENV[@]}"} \
    "BM_DATABASE__URL=$PG_BASE/${DB[$1]}" "BM_REDIS__KEY_PREFIX=$REDIS_PREFIX" \
    "BM_NATS__SUBJECT_PREFIX=$RUN" "BM_NATS__STREAM_PREFIX=$STREAM_PREFIX"
}
for svc in strategy activity award; do
  psql_bm -d postgres -c "CREATE DATABASE ${DB[$svc]}"
  mapfile -t vars < <(stateful_env "$svc")
  env "${vars[@]}" "$BIN/$svc" seed >>"$OUT/$svc.log" 2>&1 || { tail -n 20 "$OUT/$svc.log" >&2; fail "$svc seed failed"; }
done
for svc in strategy activity award; do
  mapfile -t vars < <(stateful_env "$svc")
  env "${vars[@]}" "$BIN/$svc" serve >>"$OUT/$svc.log" 2>&1 &
  PIDS+=($!)
done
mapfile -t vars < <(own_env raffle)
env ${vars[@]+"${vars[@]}"} "BM_GRPC__PORT=${PORT[raffle]}" "BM_LOG__LEVEL=$LOG_LEVEL" ${SERVICE_ENV[@]+"${SERVICE_ENV[@]}"} \
  "BM_DOWNSTREAM__STRATEGY_URL=http://127.0.0.1:${PORT[strategy]}" \
  "BM_DOWNSTREAM__ACTIVITY_URL=http://127.0.0.1:${PORT[activity]}" \
  "BM_DOWNSTREAM__AWARD_URL=http://127.0.0.1:${PORT[award]}" \
  "BM_REDIS__KEY_PREFIX=$REDIS_PREFIX" "BM_NATS__SUBJECT_PREFIX=$RUN" "BM_NATS__STREAM_PREFIX=$STREAM_PREFIX" \
  "$BIN/raffle" serve >>"$OUT/raffle.log" 2>&1 &
PIDS+=($!)
say "services started on ${PORT[raffle]}-${PORT[award]} (pids ${PIDS[*]}; logs in $OUT)"
"$BENCH" armory --target "127.0.0.1:${PORT[raffle]}" --activity 100301 --wait 60s

# --- baselines --------------------------------------------------------------------------
# The stock take exactly as the services run it: the TAKE script of shared/stock.
TAKE=$(awk '/^const TAKE: &str = r"$/{on=1; next} on && /^";$/{exit} on' shared/stock/src/lib.rs)
[ -n "$TAKE" ] || fail "cannot read the TAKE script from shared/stock/src/lib.rs"
SHA=$(redis-cli -h 127.0.0.1 SCRIPT LOAD "$TAKE")
redis-cli -h 127.0.0.1 SET "${REDIS_PREFIX}base:stock" 1000000000000 >/dev/null
say "baseline: redis-benchmark EVALSHA take (50 clients, no pipelining)"
REDIS_OPS=$(redis-benchmark -h 127.0.0.1 -c 50 -n 200000 -r 100000000 --csv \
  EVALSHA "$SHA" 2 "${REDIS_PREFIX}base:stock" "${REDIS_PREFIX}base:order:__rand_int__" 101 604800 \
  | awk -F'"' 'NR == 2 {print $4}')
say "redis take script: $REDIS_OPS ops/s"
# A debug draw (no order) only peeks at the counter: a plain GET since 2026-11-30.
say "baseline: redis-benchmark GET of the counter (50 clients, no pipelining)"
REDIS_GET_OPS=$(redis-benchmark -h 127.0.0.1 -c 50 -n 200000 --csv GET "${REDIS_PREFIX}base:stock" \
  | awk -F'"' 'NR == 2 {print $4}')
say "redis GET: $REDIS_GET_OPS ops/s"

psql_bm -d postgres -c "CREATE DATABASE $PGBENCH_DB"
for pair in act:activity str:strategy awd:award; do
  schema=${pair%%:*} svc=${pair#*:}
  psql_bm -d "$PGBENCH_DB" -c "CREATE SCHEMA $schema"
  for migration in services/"$svc"/migrations/*.sql; do
    PGOPTIONS="-c search_path=$schema" psql_bm -d "$PGBENCH_DB" -f "$migration" >/dev/null
  done
done
PGOPTIONS="-c search_path=act" psql_bm -d "$PGBENCH_DB" -v clients="$PG_CLIENTS" -f tests/load/pgbench/setup.sql

compose() { # script-name step...
  local file="$OUT/pgbench-$1.sql"; shift
  { cat tests/load/pgbench/header.sql; for step in "$@"; do cat "tests/load/pgbench/$step.sql"; done; } >"$file"
  echo "$file"
}
declare -A PG_OPS
pgbench_run() { # name step...
  local name=$1; shift
  local script; script=$(compose "$name" "$@")
  say "baseline: pgbench $name ($PG_CLIENTS clients, ${SECONDS_PG}s, prepared)"
  PG_OPS[$name]=$(PGPASSWORD=$PG_PASSWORD PGOPTIONS="-c search_path=act,str,awd" \
    pgbench -n -M prepared -c "$PG_CLIENTS" -j 2 -T "$SECONDS_PG" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" \
      -f "$script" "$PGBENCH_DB" 2>"$OUT/pgbench-$name.log" | awk '/^tps = /{print $3}')
  [ -n "${PG_OPS[$name]}" ] || { cat "$OUT/pgbench-$name.log" >&2; fail "pgbench $name failed"; }
  say "pgbench $name: ${PG_OPS[$name]} tps"
}
pgbench_run strategy_draw strategy_draw
pgbench_run partake partake complete_order
pgbench_run record_award record_award
# A draw's SQL: the four calls of the orchestrator and the distribution of its award that
# the send_award consumer runs meanwhile (draw_calls: the four calls alone, as reported
# before the distribution step was added).
pgbench_run draw partake strategy_draw record_award complete_order distribute_award
pgbench_run draw_calls partake strategy_draw record_award complete_order

# --- our figures --------------------------------------------------------------------------
# Whose CPU time per operation every report gives (item 19 of docs/BENCHMARKS.md): where a
# run's work lands, and how a draw's cost changes with the rate.
CPU_OF=postgres,nats-server,redis-server,strategy,activity,award,raffle,bm-bench
load() { # json-name mode [bm-bench options...]
  local name=$1 mode=$2; shift 2
  say "bm-bench $name"
  "$BENCH" run --mode "$mode" --target "127.0.0.1:${PORT_OF_MODE[$mode]}" --users "$USERS" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --run-id "$RUN-$name" \
    --json "$OUT/$name.json" --cpu-of "$CPU_OF" "$@"
}
declare -A PORT_OF_MODE=([draw]=${PORT[raffle]} [strategy-draw]=${PORT[strategy]} [partake]=${PORT[activity]} [record-award]=${PORT[award]})
# Awards a run recorded faster than the send_award consumer delivers them are delivered
# after it: each mode starts only once the earlier runs' records are all delivered (at most
# 120 s), or the next run would be measured while it also works off that backlog. How long
# the drain took after a run is in the summary: work the run's own figure did not include.
SETTLE_NOTES=()
undelivered() { # [user id prefix]: award records not delivered yet (of those users)
  psql_bm -d "${DB[award]}" -At -c \
    "SELECT count(*) FROM user_award_record WHERE award_state = 'create'${1:+ AND user_id LIKE '$1%'}"
}
share_of() { # report percent: that share of the report's operations/s, whole
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["ops_per_sec"] * int(sys.argv[2]) / 100))' "$1" "$2"
}
settle() { # name of the run before
  local backlog started=$EPOCHREALTIME first
  first=$(undelivered)
  backlog=$first
  for _ in $(seq 1 240); do
    [ "$backlog" = 0 ] && break
    sleep 0.5
    backlog=$(undelivered)
  done
  if [ "$first" != 0 ]; then
    local left=""
    [ "$backlog" = 0 ] || left=" ($backlog still undelivered after 120 s)"
    SETTLE_NOTES+=("after $1: $first awards undelivered at its end, delivered in $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s$left")
    say "${SETTLE_NOTES[-1]}"
  fi
}
# End-to-end award latency (issue #6): once the records of earlier runs are all delivered,
# RecordAward at a quarter of the measured record-award peak (below what the send_award
# consumer delivers, so the figure is latency, not backlog), then, from the award database, committed record (created_at) → record completed by the
# send_award consumer (updated_at); both stamps are Postgres' now(), so one clock. Baseline:
# the same run's RecordAward call latency (what a caller waits for) — the ratio says how many
# call-times the asynchronous delivery adds.
AWARD_LATENCY=""
award_latency() { # name of the run
  local name=$1 rate
  if [ -n "${BENCH_AWARD_LATENCY_RATE:-}" ]; then
    rate=$BENCH_AWARD_LATENCY_RATE
  else
    [ -n "$LAST_RECORD" ] || fail "award-latency needs a record-award run before it (or BENCH_AWARD_LATENCY_RATE)"
    rate=$(share_of "$LAST_RECORD" 25)
  fi
  [ "$rate" -gt 0 ] || fail "no rate for award-latency"
  load "$name" record-award --rate "$rate" --label "record-award at $rate/s ($name)"
  local pending=1
  for _ in $(seq 1 120); do  # every record of the run delivered (or parked), at most 60 s
    pending=$(undelivered "$RUN-$name-u")
    [ "$pending" = 0 ] && break
    sleep 0.5
  done
  [ "$pending" = 0 ] || say "award-latency: $pending records still not completed after 60 s (counted as not delivered)"
  AWARD_LATENCY=$(psql_bm -d "${DB[award]}" -At -F ' ' -c "
    WITH d AS (SELECT extract(epoch FROM updated_at - created_at) * 1000 AS ms FROM user_award_record
               WHERE user_id LIKE '$RUN-$name-u%' AND award_state = 'completed')
    SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
           round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 2),
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2), round(max(ms)::numeric, 2) FROM d")
  read -r n p50 p90 p99 max <<<"$AWARD_LATENCY"
  local call_p50
  call_p50=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["latency_ms"]["p50"])' "$OUT/$name.json")
  AWARD_LATENCY="award delivery latency (RecordAward commit → record completed, $n records at ${rate}/s): p50 ${p50} ms, p90 ${p90} ms, p99 ${p99} ms, max ${max} ms; not delivered: $pending; p50 / RecordAward call p50 (${call_p50} ms) = $(python3 -c "print(round($p50 / max($call_p50, 0.001), 2))")"
  say "$AWARD_LATENCY"
}
REPORTS=()
previous="the set-up"
declare -A SEEN=()
LAST_DRAW="" LAST_RECORD=""
for m in $MODES; do
  settle "$previous"
  previous=$m
  # A mode named again (e.g. "draw draw70 draw70") runs again under its own name: its own
  # report, user ids and business numbers.
  SEEN[$m]=$((${SEEN[$m]:-0} + 1))
  name=$m; [ "${SEEN[$m]}" = 1 ] || name="$m-${SEEN[$m]}"
  case $m in
    strategy-draw)  load "$name" strategy-draw --baseline "pgbench strategy_draw.sql=${PG_OPS[strategy_draw]}" ;;
    strategy-debug) load "$name" strategy-draw --order-ids empty --baseline "redis GET (the peek)=$REDIS_GET_OPS" ;;
    partake)        load "$name" partake --baseline "pgbench partake.sql+complete_order.sql=${PG_OPS[partake]}" ;;
    record-award)   load "$name" record-award --baseline "pgbench record_award.sql=${PG_OPS[record_award]}"
                    LAST_RECORD="$OUT/$name.json" ;;
    award-latency)  award_latency "$name" ;;
    draw)           load "$name" draw --baseline "pgbench draw (all steps + distribution)=${PG_OPS[draw]}"
                    LAST_DRAW="$OUT/$name.json" ;;
    draw[1-9]|draw[1-9][0-9])  # drawNN: paced at NN % of the flat-out draw's throughput
      percent=${m#draw}
      [ -n "$LAST_DRAW" ] || fail "$m needs a draw run before it"
      rate=$(share_of "$LAST_DRAW" "$percent")
      [ "$rate" -gt 0 ] || fail "no draw throughput to take $percent % of"
      load "$name" draw --rate "$rate" --label "draw at $percent% of peak ($rate/s)" ;;
    *) fail "unknown mode $m in BENCH_MODES" ;;
  esac
  REPORTS+=("$OUT/$name.json")
done

{
  echo
  echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}'), $(free -g | awk '/Mem:/{print $2}') GiB; load average before the table: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "baselines: redis take script $REDIS_OPS ops/s, redis GET $REDIS_GET_OPS ops/s; pgbench (tps, $PG_CLIENTS clients): strategy_draw ${PG_OPS[strategy_draw]}, partake ${PG_OPS[partake]}, record_award ${PG_OPS[record_award]}, draw ${PG_OPS[draw]} (the four calls alone: ${PG_OPS[draw_calls]})"
  echo
  "$BENCH" table "${REPORTS[@]}"
  [ -z "$AWARD_LATENCY" ] || { echo; echo "$AWARD_LATENCY"; }
  settle "$previous"
  [ "${#SETTLE_NOTES[@]}" = 0 ] || { echo; printf 'backlog: %s\n' "${SETTLE_NOTES[@]}"; }
} | tee "$OUT/summary.md"
