-- Credit trades (CreditTrade, spec §7.2, issue #14): every ledger row keeps the balances
-- right after it, so a repeated trade answers exactly what the first one did, and the ledger
-- reads as a running balance. NULL on award rows written before this migration.
ALTER TABLE user_credit_order
    ADD COLUMN total_after     NUMERIC(24, 6),
    ADD COLUMN available_after NUMERIC(24, 6);

-- The sign follows the direction (spec §2.2: reverse rows are negative). Award credits are
-- forward and may be 0 (a range like 0,0.5); a caller's trade is always > 0.
ALTER TABLE user_credit_order
    ADD CONSTRAINT ck_credit_order_signed_amount
    CHECK ((trade_type = 'forward' AND trade_amount >= 0) OR (trade_type = 'reverse' AND trade_amount < 0));

-- user_credit_account keeps CHECK (available_amount >= 0) from 0001: the last line of
-- defence behind the account row lock every trade takes.
