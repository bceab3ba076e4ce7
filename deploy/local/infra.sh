#!/usr/bin/env bash
# Makes sure Postgres, Redis and NATS (with JetStream) run on 127.0.0.1 with their
# standard ports, installing them from Debian packages and starting them when absent, and
# creates the big-market role and per-service databases. Idempotent: on a machine where
# everything runs it only checks. Fails loudly, naming what is missing and why.
#
# Environment (all optional):
#   BM_INFRA_DATABASES   databases to create (default: "bm_strategy bm_activity bm_award")
#   BM_INFRA_STATE_DIR   where NATS keeps JetStream data when this script starts it
#                        (default: /var/lib/nats-server)
set -euo pipefail

PG_PORT=5432 REDIS_PORT=6379 NATS_PORT=4222
DATABASES=${BM_INFRA_DATABASES:-"bm_strategy bm_activity bm_award"}
STATE_DIR=${BM_INFRA_STATE_DIR:-/var/lib/nats-server}
ROLE=bigmarket PASSWORD=bigmarket

say()  { printf '[infra] %s\n' "$*"; }
fail() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds
  for _ in $(seq 1 $(( $3 * 5 ))); do port_open "$1" && return 0; sleep 0.2; done
  fail "$2 did not open 127.0.0.1:$1 within $3 s"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else fail "need root (or sudo) to run: $*"; fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: install $* by hand (this script knows Debian/Ubuntu)"
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || fail "apt-get update failed"
    APT_UPDATED=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || fail "apt-get install $* failed"
}

# --- PostgreSQL ----------------------------------------------------------------------
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_postgres() {
  if port_open "$PG_PORT"; then say "postgres: running on 127.0.0.1:$PG_PORT"; return; fi
  [ -n "$(pg_bin_dir)" ] || apt_install postgresql postgresql-client
  command -v pg_lsclusters >/dev/null 2>&1 || apt_install postgresql-common
  local version; version=$(basename "$(dirname "$(pg_bin_dir)")")
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version main"; then
    say "postgres: creating cluster $version/main"
    as_root pg_createcluster "$version" main -p "$PG_PORT" >/dev/null || fail "pg_createcluster $version main failed"
  fi
  say "postgres: starting cluster $version/main"
  # pg_ctlcluster runs the server as the postgres user (postgres refuses to run as root).
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || fail "postgres $version/main did not start; see /var/log/postgresql/postgresql-$version-main.log"
  wait_port "$PG_PORT" postgres 30
}

psql_admin() {
  # Through the local socket as the postgres OS user: works with Debian's default peer
  # auth, where TCP logins need a password nobody has set yet.
  if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"
  else
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
  fi
}

ensure_databases() {
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
  psql_admin -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
      ELSE
        ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
      END IF;
    END \$\$;" || fail "cannot create the role $ROLE (is the postgres OS user there, or trust auth on 127.0.0.1?)"
  for db in $DATABASES; do
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
      psql_admin -c "CREATE DATABASE $db OWNER $ROLE" || fail "cannot create database $db"
      say "postgres: created database $db"
    fi
  done
  PGPASSWORD=$PASSWORD psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$ROLE" -d postgres -c 'SELECT 1' >/dev/null \
    || fail "role $ROLE cannot log in over TCP on 127.0.0.1:$PG_PORT (check pg_hba.conf)"
  say "postgres: role $ROLE and databases ready ($DATABASES)"
}

# --- Redis ---------------------------------------------------------------------------
ensure_redis() {
  if port_open "$REDIS_PORT"; then say "redis: running on 127.0.0.1:$REDIS_PORT"; return; fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  say "redis: starting"
  local dir=/var/lib/redis; [ -w "$dir" ] || dir=$(mktemp -d)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/bigmarket-redis.log" >/dev/null || fail "redis-server did not start"
  wait_port "$REDIS_PORT" redis 15
}

# --- NATS with JetStream -------------------------------------------------------------
ensure_nats() {
  if port_open "$NATS_PORT"; then say "nats: running on 127.0.0.1:$NATS_PORT"; return; fi
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  local bin; bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  as_root mkdir -p "$STATE_DIR"
  say "nats: starting with JetStream (data in $STATE_DIR)"
  as_root bash -c "nohup '$bin' -a 127.0.0.1 -p $NATS_PORT -js -sd '$STATE_DIR' >'$STATE_DIR/bigmarket-nats.log' 2>&1 &" \
    || fail "nats-server did not start"
  wait_port "$NATS_PORT" nats 15
}

ensure_postgres
ensure_databases
ensure_redis
ensure_nats
say "ready: postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT, nats 127.0.0.1:$NATS_PORT (JetStream)"
