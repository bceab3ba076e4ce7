-- `award reset-demo` (docs/operations.md, "Resetting the demo"): runs before demo.sql, in one
-- transaction with it. Refuses a database with award records of an activity that is not the
-- demo's, then deletes every award record, outbox task, credit account, credit ledger row and
-- parked message: the award service's demo state is empty.

DO $$
DECLARE
    other BIGINT;
BEGIN
    SELECT activity_id INTO other FROM user_award_record WHERE activity_id NOT IN (100301, 100401) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reset-demo refuses: award records of activity % are not demo data, '
                        'so this is not a demo database', other;
    END IF;
END $$;

DELETE FROM outbox_task;
DELETE FROM user_credit_order;
DELETE FROM user_credit_account;
DELETE FROM user_award_record;
DELETE FROM parked_message;
