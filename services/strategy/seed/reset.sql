-- `strategy reset-demo` (docs/operations.md, "Resetting the demo"): runs before demo.sql, in
-- one transaction with it. Refuses a database that holds more than the demo strategies, then
-- deletes every draw record and parked message and puts stock back to its opening (with no
-- draw recorded, the live counter is stock_opening: ARCHITECTURE.md §8.7). Seed epochs stay:
-- their commitments are published, and a revealed seed must stay verifiable.

DO $$
DECLARE
    other BIGINT;
BEGIN
    SELECT strategy_id INTO other FROM strategy WHERE strategy_id NOT IN (100001, 100006, 10007) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reset-demo refuses: strategy % is not demo data, so this is not a demo database', other;
    END IF;
END $$;

DELETE FROM strategy_draw_result;
DELETE FROM parked_message;
UPDATE strategy_award SET award_count_surplus = stock_opening, updated_at = now()
 WHERE award_count_surplus <> stock_opening;
