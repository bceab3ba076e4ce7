-- award: RecordAward (AwardStore::record_award + complete_task after the JetStream ack): the
-- record and its outbox task in one statement (a data-modifying CTE: atomic, one round
-- trip, one commit), then the task marked completed.
WITH record AS (
  INSERT INTO user_award_record (user_id, order_id, activity_id, strategy_id, award_id, award_key, award_title, award_config, award_time)
  VALUES ('pgb-' || :client_id, 'o' || :client_id || '-' || :r, 100301, 100006, 101, 'user_credit_random', 'bench', '1,100', now())
  ON CONFLICT DO NOTHING RETURNING order_id)
INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at)
SELECT 't' || :client_id || '-' || :r, 'pgb-' || :client_id, 'bmbench.award.send_award',
       '{"id":"t","timestamp":0,"data":{"user_id":"pgb","order_id":"o","award_id":101,"award_key":"user_credit_random","award_title":"bench","award_config":"1,100"}}'::json,
       now() + interval '10 seconds'
FROM record;
UPDATE outbox_task SET state = 'completed', updated_at = now() WHERE id = 't' || :client_id || '-' || :r AND state <> 'completed';
