-- award: the send_award consumer's distribution of a user_credit_random award
-- (AwardStore::credit_award; nearly every draw of strategy 100006 lands on award 101, or on
-- 101 as the luck award): one statement, its own transaction — the record completes, and,
-- when the ledger has no credit for the award yet, the user's credit account is created or
-- increased (the upsert locks the row) and the ledger row booked with the balances the
-- upsert returns. Without the consumer's JetStream pull and ack. ('award:' || 'o' … because
-- pgbench would read ':o' inside one literal as a variable.)
WITH completed AS (
    UPDATE user_award_record SET award_state = 'completed', updated_at = now()
    WHERE user_id = 'pgb-' || :client_id AND order_id = 'o' || :client_id || '-' || :r AND award_state = 'create'
    RETURNING 1),
  fresh AS (
    SELECT 1 FROM completed WHERE NOT EXISTS (
      SELECT 1 FROM user_credit_order
      WHERE user_id = 'pgb-' || :client_id AND out_business_no = 'award:' || 'o' || :client_id || '-' || :r)),
  credited AS (
    INSERT INTO user_credit_account (user_id, total_amount, available_amount) SELECT 'pgb-' || :client_id, 50, 50 FROM fresh
    ON CONFLICT (user_id) DO UPDATE SET
      total_amount = user_credit_account.total_amount + EXCLUDED.total_amount,
      available_amount = user_credit_account.available_amount + EXCLUDED.available_amount,
      updated_at = now()
    RETURNING total_amount, available_amount),
  booked AS (
    INSERT INTO user_credit_order (user_id, order_id, trade_name, trade_type, trade_amount, out_business_no,
                                   total_after, available_after)
    SELECT 'pgb-' || :client_id, 'c' || :client_id || '-' || :r, 'award', 'forward', 50,
           'award:' || 'o' || :client_id || '-' || :r, total_amount, available_amount FROM credited
    RETURNING 1)
SELECT (SELECT count(*) FROM completed), (SELECT count(*) FROM booked);
