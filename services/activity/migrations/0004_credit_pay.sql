-- Credit exchange (spec §5.1 credit_pay_trade, §5.3; docs/activity.md "Credit exchange").
-- A credit-paid recharge order is written `wait_pay` (its sku unit taken, no quota yet) and
-- completed by award's credit_adjust_success. An unpaid order younger than a month is reused
-- by the next exchange of the same user and sku, but only when no exchange claimed it in the
-- last 30 s: claimed_at is that lease. Claiming it is one UPDATE over a
-- `FOR UPDATE SKIP LOCKED` pick, so two concurrent exchanges never share an order.

ALTER TABLE raffle_activity_order ADD COLUMN claimed_at TIMESTAMPTZ;
-- Existing orders: claimed when they were made (a month-old window makes the value moot
-- for all but the newest unpaid ones, which become reusable at once — as before).
UPDATE raffle_activity_order SET claimed_at = order_time WHERE claimed_at IS NULL;
ALTER TABLE raffle_activity_order
    ALTER COLUMN claimed_at SET DEFAULT now(),
    ALTER COLUMN claimed_at SET NOT NULL;

-- The unpaid lookup of CreateCreditPayOrder: a user's wait_pay orders of a sku by age.
CREATE INDEX idx_recharge_unpaid ON raffle_activity_order (user_id, sku, order_time) WHERE state = 'wait_pay';
