-- award: the send_award consumer's distribution of a user_credit_random award
-- (AwardStore::credit_award; nearly every draw of strategy 100006 lands on award 101, or on
-- 101 as the luck award): one transaction that completes the record, locks (creating when
-- absent) the user's credit account, books the ledger row with the balances after it, and
-- credits the account. Without the consumer's JetStream pull and ack. (The service computes
-- the ledger row's balances from the locked row the upsert returns; here two sub-selects of
-- the same locked row do. 'award:' || 'o' … because pgbench would read ':o' inside one
-- literal as a variable.)
BEGIN;
UPDATE user_award_record SET award_state = 'completed', updated_at = now()
  WHERE user_id = 'pgb-' || :client_id AND order_id = 'o' || :client_id || '-' || :r AND award_state = 'create';
INSERT INTO user_credit_account (user_id) VALUES ('pgb-' || :client_id)
  ON CONFLICT (user_id) DO UPDATE SET updated_at = user_credit_account.updated_at
  RETURNING total_amount, available_amount;
INSERT INTO user_credit_order (user_id, order_id, trade_name, trade_type, trade_amount, out_business_no, total_after, available_after)
  VALUES ('pgb-' || :client_id, 'c' || :client_id || '-' || :r, 'award', 'forward', 50, 'award:' || 'o' || :client_id || '-' || :r,
          (SELECT total_amount + 50 FROM user_credit_account WHERE user_id = 'pgb-' || :client_id),
          (SELECT available_amount + 50 FROM user_credit_account WHERE user_id = 'pgb-' || :client_id))
  ON CONFLICT (user_id, out_business_no) DO NOTHING;
UPDATE user_credit_account SET total_amount = total_amount + 50, available_amount = available_amount + 50, updated_at = now()
  WHERE user_id = 'pgb-' || :client_id RETURNING total_amount, available_amount;
COMMIT;
