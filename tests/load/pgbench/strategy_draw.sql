-- strategy: Draw with an order id (StrategyUseCases::draw): the exactly-once record of the
-- order's result (the Redis stock take is measured by redis-benchmark separately).
INSERT INTO strategy_draw_result (strategy_id, order_id, user_id, award_id, award_config, rule_model, stock_award_id)
  VALUES (100006, 'o' || :client_id || '-' || :r, 'pgb-' || :client_id, 101, '1,100', 'rule_luck_award', NULL)
  ON CONFLICT (strategy_id, order_id) DO NOTHING;
