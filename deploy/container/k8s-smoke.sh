#!/usr/bin/env bash
# `make k8s-smoke`: plays the rendered dev overlay with `podman kube play` against the built
# bigmarket/* images and the host's Postgres, Redis and NATS (deploy/local/infra.sh makes sure
# they run): first the migration Jobs (as Pods; they must exit 0), then the four
# Deployments. Checks every pod: SERVING on grpc.health.v1 ("" and its own service) from the
# host, the image's own grpc-health-probe inside the container, user 10001 and a read-only
# root file system; then one draw through the orchestrator. Tears everything down, also on
# failure: the pods, this run's databases, Redis keys and JetStream streams.
#
# What kube play (podman 4.3) does not do is covered elsewhere: Services, NetworkPolicies,
# PDBs, HPAs, StatefulSets and probes are validated by `make k8s-check`; kube_smoke.py
# explains the adaptations (hostNetwork, replicas 1, Secrets inlined, ports moved).
# Ports: 127.0.0.1:15150-15153 (BM_SMOKE_PORT_BASE).
set -euo pipefail
BM_STEP=k8s-smoke
# shellcheck source=deploy/container/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BM_ROOT"
ensure_engine
ensure_venv pyyaml kubectl
ensure_grpcurl
"$BM_ROOT/deploy/local/infra.sh" >/dev/null
TAG=${BM_IMAGE_TAG:-dev}
for svc in raffle strategy activity award; do
  podman image exists "bigmarket/$svc:$TAG" || { say "bigmarket/$svc:$TAG is missing; building the images"; "$BM_ROOT/deploy/container/images.sh"; break; }
done

BASE=${BM_SMOKE_PORT_BASE:-15150}
PG_HOSTPORT=${BM_SMOKE_PG:-127.0.0.1:5432}
PG_USER=bigmarket PG_PASSWORD=${BM_SMOKE_PG_PASSWORD:-bigmarket}
REDIS_HOSTPORT=${BM_SMOKE_REDIS:-127.0.0.1:6379}
NATS_HOSTPORT=${BM_SMOKE_NATS:-127.0.0.1:4222}
RUN_ID=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
WORK=$BM_TOOLS/k8s-smoke-$RUN_ID
mkdir -p "$WORK"
for port in $BASE $((BASE + 1)) $((BASE + 2)) $((BASE + 3)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "127.0.0.1:$port is taken; set BM_SMOKE_PORT_BASE"; fi
done
PY=$BM_VENV/bin/python
psql_admin() { PGPASSWORD=$PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h "${PG_HOSTPORT%:*}" -p "${PG_HOSTPORT#*:}" -U "$PG_USER" -d postgres "$@"; }
nats_delete_streams() { # JetStream API requests over the plain NATS protocol
  "$PY" - "$NATS_HOSTPORT" "$@" <<'PYEOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.bmsmoke 1\r\n')
for name in sys.argv[2:]:
    s.sendall(f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.bmsmoke 0\r\n\r\nPING\r\n".encode())
    while True:
        line = f.readline()
        if line.startswith(b"MSG"):
            f.readline()
            break
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
s.close()
PYEOF
}

cleanup() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ]; then
    say "FAILED; the last log lines of each container:"
    for name in $(podman ps -a --format '{{.Names}}' | grep -E '^(raffle|strategy|activity|award)(-migrate)?-' ); do
      echo "--- $name"; podman logs --tail 15 "$name" 2>&1 | grep -v 'Error validating CNI'
    done
  fi
  say "tearing down (run $RUN_ID)"
  for f in services jobs; do [ -f "$WORK/$f.yaml" ] && podman kube down "$WORK/$f.yaml" >/dev/null 2>&1; done
  # kube play materialises ConfigMap volumes as podman volumes (if any) and creates
  # its default network; kube down keeps both.
  for v in $VOLUMES; do podman volume rm -f "$v" >/dev/null 2>&1; done
  [ -n "$NEW_NETWORK" ] && podman network rm -f "$NEW_NETWORK" >/dev/null 2>&1
  for svc in strategy activity award; do
    psql_admin -c "DROP DATABASE IF EXISTS bmsmoke_${RUN_ID}_$svc WITH (FORCE)" >/dev/null 2>&1
  done
  redis-cli -h "${REDIS_HOSTPORT%:*}" -p "${REDIS_HOSTPORT#*:}" --scan --pattern "bmsmoke:$RUN_ID:*" 2>/dev/null \
    | xargs -r redis-cli -h "${REDIS_HOSTPORT%:*}" -p "${REDIS_HOSTPORT#*:}" del >/dev/null 2>&1
  local prefix; prefix=BMSMOKE_$(tr '[:lower:]' '[:upper:]' <<<"$RUN_ID")
  nats_delete_streams "${prefix}_STRATEGY" "${prefix}_ACTIVITY" "${prefix}_AWARD" "${prefix}_CONTROL" >/dev/null 2>&1
  left=$(podman pod ps -q --filter name='^(raffle|strategy|activity|award)')
  [ -z "$left" ] && say "no pods left; databases, Redis keys and streams of $RUN_ID removed" || say "WARNING: pods left: $left"
  rm -rf "$WORK"
  exit $rc
}
VOLUMES="" NEW_NETWORK=""
podman network exists podman-default-kube-network || NEW_NETWORK=podman-default-kube-network
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
"$BM_VENV/bin/kubectl" kustomize k8s/overlays/dev >"$WORK/rendered.yaml"
"$PY" deploy/container/kube_smoke.py "$WORK/rendered.yaml" "$WORK" "$RUN_ID" "$BASE" \
  "postgres://$PG_USER:$PG_PASSWORD@$PG_HOSTPORT" "redis://$REDIS_HOSTPORT" "nats://$NATS_HOSTPORT" >"$WORK/ports"
declare -A PORT
while read -r svc port; do PORT[$svc]=$port; done <"$WORK/ports"
# ConfigMaps mounted as volumes become podman volumes of the same name: start from fresh ones.
VOLUMES=$("$PY" -c 'import sys, yaml
names = set()
for d in yaml.safe_load_all(open(sys.argv[1])):
    for v in ((d or {}).get("spec", {}).get("template", {}).get("spec", {}).get("volumes") or []):
        if "configMap" in v:
            names.add(v["configMap"]["name"])
print(" ".join(sorted(names)))' "$WORK/services.yaml")
for v in $VOLUMES; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
for svc in strategy activity award; do psql_admin -c "CREATE DATABASE bmsmoke_${RUN_ID}_$svc"; done
say "databases bmsmoke_${RUN_ID}_{strategy,activity,award} created on $PG_HOSTPORT"

# 1. The migration Jobs (dev: `seed`), as Pods.
podman kube play "$WORK/jobs.yaml" >"$WORK/play-jobs.log" 2>&1 || { cat "$WORK/play-jobs.log" >&2; fail "kube play of the migration Jobs failed"; }
for svc in strategy activity award; do
  ctr=$(podman ps -a --filter "pod=$svc-migrate" --format '{{.Names}}' | grep -v -- '-infra$' | head -n 1)
  [ -n "$ctr" ] || fail "no container for the $svc-migrate Job"
  code=$(podman wait "$ctr" 2>/dev/null | tail -n 1)
  [ "$code" = 0 ] || { podman logs "$ctr" 2>&1 | tail -n 20 >&2; fail "$svc-migrate exited with $code"; }
  say "Job $svc-migrate ($ctr): seed exited 0"
done

# 2. The Deployments.
podman kube play "$WORK/services.yaml" >"$WORK/play-services.log" 2>&1 || { cat "$WORK/play-services.log" >&2; fail "kube play of the Deployments failed"; }
declare -A GRPC=([raffle]=bigmarket.raffle.v1.RaffleService [strategy]=bigmarket.strategy.v1.StrategyService
                 [activity]=bigmarket.activity.v1.ActivityService [award]=bigmarket.award.v1.AwardService)
for svc in strategy activity award raffle; do
  pod=$(podman pod ps --format '{{.Name}}' --filter "name=^$svc-pod" | head -n 1)
  [ -n "$pod" ] || fail "no pod for Deployment $svc"
  ctr=$(podman ps -a --filter "pod=$pod" --format '{{.Names}}' | grep -v -- '-infra$' | head -n 1)
  ok=""
  for _ in $(seq 1 120); do
    if "$GRPCURL" -plaintext -max-time 2 -d "{\"service\":\"${GRPC[$svc]}\"}" "127.0.0.1:${PORT[$svc]}" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"'; then ok=1; break; fi
    [ "$(podman inspect --format '{{.State.Status}}' "$ctr" 2>/dev/null)" = running ] || { podman logs --tail 20 "$ctr" >&2; fail "$svc exited"; }
    sleep 0.5
  done
  [ -n "$ok" ] || fail "pod $pod never answered SERVING on 127.0.0.1:${PORT[$svc]}"
  "$GRPCURL" -plaintext -max-time 2 -d '{"service":""}' "127.0.0.1:${PORT[$svc]}" grpc.health.v1.Health/Check | grep -q '"SERVING"' \
    || fail "$svc: overall health not SERVING"
  podman exec "$ctr" /usr/local/bin/grpc-health-probe >/dev/null || fail "$svc: the image's grpc-health-probe failed inside the pod"
  user=$(podman exec "$ctr" id -u); ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$ctr")
  [ "$user" = 10001 ] && [ "$ro" = true ] || fail "$svc: runs as uid $user, read-only root $ro (want 10001, true)"
  say "pod $pod: SERVING on 127.0.0.1:${PORT[$svc]} (\"\" and ${GRPC[$svc]}), probe inside OK, uid 10001, read-only root"
done

# 3. One draw through the orchestrator: the ConfigMaps wire the pods together.
R=127.0.0.1:${PORT[raffle]}
call() { "$GRPCURL" -plaintext -max-time 10 -d "$2" "$R" "bigmarket.raffle.v1.RaffleService/$1"; }
call ArmoryActivity '{"activity_id":100301}' >/dev/null || fail "ArmoryActivity through the raffle pod failed"
call RechargeSku '{"user_id":"smoke","sku":9011,"out_business_no":"smoke-1"}' >/dev/null || fail "RechargeSku failed"
out=$(call Draw '{"user_id":"smoke","activity_id":100301}') || fail "Draw through the raffle pod failed: $out"
say "draw through the pods: $(tr -d ' \n' <<<"$out")"
say "PASS in $((SECONDS - t0)) s"
