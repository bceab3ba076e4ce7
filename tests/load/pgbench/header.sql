-- bm-bench pgbench baselines (docs/BENCHMARKS.md). tests/load/bench.sh composes a script as
-- this header + the steps of one operation, in the order the services run them, with the
-- same statements, the same transaction boundaries (one commit per service transaction)
-- and prepared statements (pgbench -M prepared; sqlx prepares and caches too). Each pgbench
-- client is one user ('pgb-<client_id>', quota set up by setup.sql); :r makes the order id.
\set r random(1, 999999999999999)
