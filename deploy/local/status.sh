#!/usr/bin/env bash
# One line per service: pid, port and health.
set -uo pipefail
cd "$(dirname "$0")/../.."
RUN_DIR=${BM_RUN_DIR:-.run}
GRPCURL=${GRPCURL:-.tools/venv/bin/grpcurl}
declare -A PORT=([raffle]=50050 [strategy]=50051 [activity]=50052 [award]=50053)
for svc in raffle strategy activity award; do
  pid=$(cat "$RUN_DIR/$svc.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then state="running pid $pid"; else state="stopped"; fi
  health=$("$GRPCURL" -plaintext -max-time 2 -d '{"service":""}' "127.0.0.1:${PORT[$svc]}" grpc.health.v1.Health/Check 2>/dev/null | grep -o '"[A-Z_]*"' | tr -d '"')
  printf '%-9s %-20s port %s  health %s\n' "$svc" "$state" "${PORT[$svc]}" "${health:-unreachable}"
done
