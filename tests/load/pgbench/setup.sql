-- One account per pgbench client with quota that never runs out, and the month and day
-- rows a steady-state partake decrements (psql -v clients=N). search_path: act, str, awd.
INSERT INTO raffle_activity_account (user_id, activity_id, total_count, total_count_surplus, day_count,
                                     day_count_surplus, month_count, month_count_surplus)
SELECT 'pgb-' || c, 100301, 1000000000, 1000000000, 1000000000, 1000000000, 1000000000, 1000000000
FROM generate_series(0, :clients - 1) AS c;
INSERT INTO raffle_activity_account_month (user_id, activity_id, month, month_count, month_count_surplus)
SELECT 'pgb-' || c, 100301, '2099-01', 1000000000, 1000000000 FROM generate_series(0, :clients - 1) AS c;
INSERT INTO raffle_activity_account_day (user_id, activity_id, day, day_count, day_count_surplus)
SELECT 'pgb-' || c, 100301, '2099-01-01', 1000000000, 1000000000 FROM generate_series(0, :clients - 1) AS c;
