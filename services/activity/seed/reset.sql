-- `activity reset-demo` (docs/operations.md, "Resetting the demo"): runs before demo.sql, in
-- one transaction with it. Refuses a database that holds more than the demo activities, skus
-- and behaviour rebates, then deletes every user's quota accounts, recharge orders, raffle
-- orders, request ids, rebate orders, outbox tasks and parked messages, puts sku stock back to its opening (with no recharge order, the
-- live counter is stock_opening: ARCHITECTURE.md §8.7), and puts the activity stage back to
-- the seed's one active row (demo.sql adds it again if an operator replaced it).

DO $$
DECLARE
    other BIGINT;
BEGIN
    SELECT activity_id INTO other FROM raffle_activity WHERE activity_id NOT IN (100301, 100401) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reset-demo refuses: activity % is not demo data, so this is not a demo database', other;
    END IF;
    SELECT sku INTO other FROM raffle_activity_sku
     WHERE sku NOT IN (9011, 9012, 9013, 9014, 9901, 9902, 9903) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reset-demo refuses: sku % is not demo data, so this is not a demo database', other;
    END IF;
    SELECT id INTO other FROM daily_behavior_rebate WHERE id NOT IN (2, 3, 4, 5) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reset-demo refuses: behaviour rebate % is not demo data, so this is not a demo database', other;
    END IF;
END $$;

DELETE FROM raffle_request;
DELETE FROM user_raffle_order;
DELETE FROM raffle_activity_account_day;
DELETE FROM raffle_activity_account_month;
DELETE FROM raffle_activity_account;
DELETE FROM raffle_activity_order;
DELETE FROM user_behavior_rebate_order;
DELETE FROM outbox_task;
DELETE FROM parked_message;
UPDATE raffle_activity_sku SET stock_count_surplus = stock_opening, updated_at = now()
 WHERE stock_count_surplus <> stock_opening;
DELETE FROM raffle_activity_stage
 WHERE NOT (channel = 'c01' AND source = 's01' AND activity_id = 100401 AND state = 'active');
