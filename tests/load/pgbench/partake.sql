-- activity: Partake (ActivityStore::partake, steady state: today's month and day rows exist,
-- no unused order, no request id). One transaction, the account row locked first, then the
-- period rows and the newest unused order in one statement.
BEGIN;
SELECT total_count, total_count_surplus, day_count, day_count_surplus, month_count, month_count_surplus
  FROM raffle_activity_account WHERE user_id = 'pgb-' || :client_id AND activity_id = 100301 FOR UPDATE;
SELECT m.month_count, m.month_count_surplus, d.day_count, d.day_count_surplus, u.order_id
  FROM (SELECT 1) AS one
  LEFT JOIN raffle_activity_account_month m
         ON m.user_id = 'pgb-' || :client_id AND m.activity_id = 100301 AND m.month = '2099-01'
  LEFT JOIN raffle_activity_account_day d
         ON d.user_id = 'pgb-' || :client_id AND d.activity_id = 100301 AND d.day = '2099-01-01'
  LEFT JOIN LATERAL (SELECT order_id FROM user_raffle_order
                      WHERE user_id = 'pgb-' || :client_id AND activity_id = 100301 AND order_state = 'create'
                      ORDER BY created_at DESC LIMIT 1) AS u ON true;
UPDATE raffle_activity_account SET total_count_surplus = total_count_surplus - 1,
       month_count_surplus = month_count_surplus - 1, day_count_surplus = day_count_surplus - 1, updated_at = now()
  WHERE user_id = 'pgb-' || :client_id AND activity_id = 100301 AND total_count_surplus > 0;
UPDATE raffle_activity_account_month SET month_count_surplus = month_count_surplus - 1, updated_at = now()
  WHERE user_id = 'pgb-' || :client_id AND activity_id = 100301 AND month = '2099-01' AND month_count_surplus > 0;
UPDATE raffle_activity_account_day SET day_count_surplus = day_count_surplus - 1, updated_at = now()
  WHERE user_id = 'pgb-' || :client_id AND activity_id = 100301 AND day = '2099-01-01' AND day_count_surplus > 0;
INSERT INTO user_raffle_order (user_id, order_id, activity_id, activity_name, strategy_id, order_time, order_state, end_date_time)
  VALUES ('pgb-' || :client_id, 'o' || :client_id || '-' || :r, 100301, 'bench', 100006, now(), 'create', '2034-03-09 10:15:10+08')
  RETURNING user_id, order_id, activity_id, strategy_id, end_date_time, order_state;
COMMIT;
