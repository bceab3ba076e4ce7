#!/bin/bash
# First start of the dev Postgres: one role and one database per service; a role can
# connect only to its own database. The passwords come from the postgres-credentials Secret.
set -euo pipefail
for svc in strategy activity award; do
  var="${svc^^}_DB_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" <<SQL
CREATE ROLE $svc LOGIN PASSWORD '${!var}';
CREATE DATABASE bm_$svc OWNER $svc;
REVOKE ALL ON DATABASE bm_$svc FROM PUBLIC;
SQL
done
