#!/usr/bin/env bash
# Stops exactly the processes 'make up' started (by their pid files): SIGTERM, then up to
# 15 s for a graceful exit, then SIGKILL. Infrastructure (Postgres, Redis, NATS) is left
# running.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN_DIR=${BM_RUN_DIR:-.run}
for pidfile in "$RUN_DIR"/*.pid; do
  [ -e "$pidfile" ] || { echo "[down] nothing to stop"; exit 0; }
  svc=$(basename "$pidfile" .pid); pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$svc" ]; then
    kill -TERM "$pid"
    for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "[down] $svc: killed (pid $pid)"; else echo "[down] $svc: stopped (pid $pid)"; fi
  else
    echo "[down] $svc: not running"
  fi
  rm -f "$pidfile"
done
