-- Demo data of this service (idempotent: re-running it changes nothing).
-- The award service starts empty: award records, credit accounts and their ledger are
-- written by draws (RecordAward and the send_award distributor), never seeded.
SELECT 1;
