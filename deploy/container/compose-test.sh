#!/usr/bin/env bash
# `make compose-test`: runs deploy/compose.yaml for real with podman-compose, waits until
# every container is healthy, performs the demo flow through the orchestrator's published
# port with grpcurl (armory, recharge, draw, award list, award delivered over NATS), checks
# that SIGTERM stops every service with exit code 0, and removes everything it created
# (containers, pod, network, volumes), also when a step fails.
#
# Host ports: 15050-15053 on 127.0.0.1 by default (BM_COMPOSE_PORT_BASE=15050); the
# infrastructure publishes none, so a host Postgres/Redis/NATS is not disturbed.
set -euo pipefail
BM_STEP=compose-test
# shellcheck source=deploy/container/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BM_ROOT"
ensure_engine
ensure_venv podman-compose
ensure_grpcurl
"$BM_ROOT/deploy/container/local-images.sh" infra
TAG=${BM_IMAGE_TAG:-dev}
for svc in raffle strategy activity award; do
  podman image exists "bigmarket/$svc:$TAG" || { say "bigmarket/$svc:$TAG is missing; building the images"; "$BM_ROOT/deploy/container/images.sh"; break; }
done

BASE=${BM_COMPOSE_PORT_BASE:-15050}
PROJECT=bmct$$
export BM_IMAGE_TAG=$TAG BM_PUBLISH_HOST=127.0.0.1
export BM_PUBLISH_RAFFLE=$BASE BM_PUBLISH_STRATEGY=$((BASE + 1)) BM_PUBLISH_ACTIVITY=$((BASE + 2)) BM_PUBLISH_AWARD=$((BASE + 3))
for port in $BASE $((BASE + 1)) $((BASE + 2)) $((BASE + 3)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "127.0.0.1:$port is taken; set BM_COMPOSE_PORT_BASE"; fi
done
COMPOSE=("$BM_VENV/bin/podman-compose" -p "$PROJECT" -f deploy/compose.yaml)
LOGS=$BM_TOOLS/compose-test-$PROJECT.log
SEEDS=(strategy-seed activity-seed award-seed)

ctr() { podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1; }

cleanup() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ]; then
    say "FAILED; the last log lines of each container:"
    for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
      echo "--- $name"; podman logs --tail 15 "$name" 2>&1 | grep -v 'Error validating CNI'
    done
  fi
  say "tearing down project $PROJECT"
  # Containers first, with -v: that also removes their anonymous volumes (an image's VOLUME
  # without a compose volume), which `compose down -v` leaves behind.
  podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman rm -f -v -t 5 >/dev/null 2>&1
  "${COMPOSE[@]}" down -v -t 5 >>"$LOGS" 2>&1
  # Belt and braces: anything of the project that compose left behind.
  podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman rm -f -t 0 >/dev/null 2>&1
  podman pod ls -q --filter "name=pod_$PROJECT" | xargs -r podman pod rm -f >/dev/null 2>&1
  podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null 2>&1
  podman network ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman network rm -f >/dev/null 2>&1
  left=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT"; podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"; podman network ls -q --filter "label=io.podman.compose.project=$PROJECT")
  [ -z "$left" ] && say "nothing of $PROJECT is left" || say "WARNING: left behind: $left"
  [ $rc -eq 0 ] && rm -f "$LOGS"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Health: podman without systemd does not schedule health checks by itself, so run them
# here (`podman healthcheck run` executes exactly the `healthcheck.test` of compose.yaml
# inside the container); with systemd or Docker the engine runs them on its own.
wait_healthy() { # service...
  local svc name state deadline=$((SECONDS + 180)) pending=("$@") next
  while [ ${#pending[@]} -gt 0 ]; do
    [ $SECONDS -lt $deadline ] || fail "not healthy within 180 s: ${pending[*]}"
    next=()
    for svc in "${pending[@]}"; do
      name=$(ctr "$svc"); state=$(podman inspect --format '{{.State.Status}}' "$name" 2>/dev/null || true)
      if [ "$state" = exited ]; then podman logs --tail 20 "$name" >&2; fail "$svc exited"; fi
      if [ "$state" = running ] && podman healthcheck run "$name" >/dev/null 2>&1; then
        say "$svc: healthy ($((SECONDS - t0)) s)"
      else
        next+=("$svc")
      fi
    done
    pending=("${next[@]}")
    [ ${#pending[@]} -eq 0 ] || sleep 1
  done
}
up() { "${COMPOSE[@]}" up -d "$@" >>"$LOGS" 2>&1 || { tail -n 30 "$LOGS" >&2; fail "podman-compose up $* failed"; }; }

# The order of compose.yaml's depends_on, step by step: podman-compose 1.6 with podman 4.3
# ignores `service_healthy` (it needs podman >= 4.6), and a container whose dependency has
# exited (the seeds) cannot be started through podman's --requires. So: infrastructure and
# seeds; seeds exit 0; services (--no-deps); healthy; orchestrator; healthy. Docker Compose
# or a newer podman follow the same order from the file alone.
t0=$SECONDS
say "podman-compose up (project $PROJECT; raffle on 127.0.0.1:$BASE; log $LOGS)"
up postgres redis nats
wait_healthy postgres redis nats
up "${SEEDS[@]}"
for seed in "${SEEDS[@]}"; do
  name=$(ctr "$seed"); [ -n "$name" ] || fail "no container for $seed"
  podman wait "$name" >/dev/null 2>&1 || true
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name" 2>/dev/null)
  [ "$code" = 0 ] || { podman logs "$name" 2>&1 | tail -n 20 >&2; fail "$seed exited with $code"; }
  say "$seed: migrations + demo data done (exit 0)"
done
up --no-deps strategy activity award
wait_healthy strategy activity award
up --no-deps raffle
wait_healthy raffle

G=("$GRPCURL" -plaintext -max-time 10)
RAFFLE=127.0.0.1:$BASE
call() { "${G[@]}" -d "$2" "$RAFFLE" "bigmarket.raffle.v1.RaffleService/$1"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

say "gRPC health through every published port"
for port in $BASE $((BASE + 1)) $((BASE + 2)) $((BASE + 3)); do
  "${G[@]}" -d '{"service":""}' "127.0.0.1:$port" grpc.health.v1.Health/Check | grep -q '"SERVING"' \
    || fail "127.0.0.1:$port is not SERVING"
done

USER_ID=compose-$PROJECT
say "demo flow through the orchestrator at $RAFFLE as $USER_ID"
call ArmoryActivity '{"activity_id":100301}' | grep -q '"ok": true' || fail "ArmoryActivity did not answer ok"
say "  ArmoryActivity 100301: ok"
order=$(call RechargeSku "{\"user_id\":\"$USER_ID\",\"sku\":9011,\"out_business_no\":\"$USER_ID-9011\"}" | field "['orderId']")
say "  RechargeSku 9011: order $order"
drawn=$(call Draw "{\"user_id\":\"$USER_ID\",\"activity_id\":100301}")
award_id=$(field "['awardId']" <<<"$drawn"); draw_order=$(field "['orderId']" <<<"$drawn"); title=$(field "['awardTitle']" <<<"$drawn")
say "  Draw: award $award_id ($title), order $draw_order"
[ "$award_id" -ge 101 ] && [ "$award_id" -le 108 ] || fail "award $award_id is not one of the demo awards 101-108"
state=""
for _ in $(seq 1 60); do
  records=$(call ListUserAwards "{\"user_id\":\"$USER_ID\",\"activity_id\":100301}")
  state=$(python3 -c "
import json,sys
recs=json.load(sys.stdin).get('records',[])
assert len(recs)==1, recs
r=recs[0]
assert r['orderId']=='$draw_order' and r['awardId']==$award_id, r
print(r.get('awardState',''))" <<<"$records") || fail "ListUserAwards does not show exactly the drawn award: $records"
  [ "$state" = completed ] && break
  sleep 1
done
[ "$state" = completed ] || fail "the award record stayed '$state' (send_award over NATS never delivered)"
say "  ListUserAwards: one record, order $draw_order, award $award_id, state completed (delivered over NATS)"
account=$(call QueryUserActivityAccount "{\"user_id\":\"$USER_ID\",\"activity_id\":100301}")
say "  account after one draw: $(tr -d ' \n' <<<"$account")"

say "graceful stop: SIGTERM to every service, expecting exit code 0"
for svc in raffle strategy activity award; do
  name=$(ctr "$svc")
  podman stop -t 15 "$name" >/dev/null 2>&1
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ "$code" = 0 ] || { podman logs --tail 10 "$name" >&2; fail "$svc exited with $code after SIGTERM"; }
done
say "all four exited 0 after SIGTERM"
say "PASS in $((SECONDS - t0)) s"
