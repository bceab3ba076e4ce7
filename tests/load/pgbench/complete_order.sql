-- activity: CompleteOrder (ActivityStore::complete_order): create -> used.
UPDATE user_raffle_order SET order_state = 'used', updated_at = now()
  WHERE user_id = 'pgb-' || :client_id AND order_id = 'o' || :client_id || '-' || :r AND order_state = 'create';
