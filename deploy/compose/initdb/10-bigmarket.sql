-- First start of the compose Postgres: one database per service, owned by the login role
-- the services use (POSTGRES_USER), like deploy/local/infra.sh does for `make up`.
CREATE DATABASE bm_strategy;
CREATE DATABASE bm_activity;
CREATE DATABASE bm_award;
