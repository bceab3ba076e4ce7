-- Demo data of activity-quota (spec §2.1, §17). Idempotent: ON CONFLICT DO NOTHING.
-- Times are in Asia/Shanghai, as the original's server (TZ=PRC).

INSERT INTO raffle_activity (activity_id, activity_name, activity_desc, begin_date_time, end_date_time, strategy_id, state) VALUES
    (100301, '测试活动', '测试活动', '2024-03-09 10:15:10+08', '2034-03-09 10:15:10+08', 100006, 'open'),
    (100401, 'OpenAi抽奖活动', '签到&支付有奖返利', '2024-10-06 12:09:34+08', '2026-10-06 12:09:34+08', 10007, 'open')
ON CONFLICT (activity_id) DO NOTHING;

INSERT INTO raffle_activity_count (activity_count_id, total_count, day_count, month_count) VALUES
    (11101, 150, 150, 150),
    (11102, 50, 50, 50),
    (11103, 5, 5, 5),
    (11104, 1, 1, 1),
    (22201, 1, 1, 1),
    (22202, 5, 5, 5),
    (22203, 10, 10, 10)
ON CONFLICT (activity_count_id) DO NOTHING;

INSERT INTO raffle_activity_sku (sku, activity_id, activity_count_id, stock_count, stock_count_surplus, stock_opening, product_amount) VALUES
    (9011, 100301, 11101, 100000, 99887, 99887, 200.00),
    (9012, 100301, 11102, 100000, 99885, 99885, 100.00),
    (9013, 100301, 11103, 100000, 99884, 99884, 20.00),
    (9014, 100301, 11104, 100000, 99866, 99866, 5.00),
    (9901, 100401, 22201, 100000, 100000, 100000, 5.00),
    (9902, 100401, 22202, 100000, 100000, 100000, 10.00),
    (9903, 100401, 22203, 100000, 100000, 100000, 20.00)
ON CONFLICT (sku) DO NOTHING;

-- The stage of spec §5: channel c01 / source s01 shows 100401. Added only while c01/s01 has
-- no active stage, so an operator's choice is never overwritten.
INSERT INTO raffle_activity_stage (channel, source, activity_id, state) VALUES
    ('c01', 's01', 100401, 'active')
ON CONFLICT (channel, source) WHERE state = 'active' DO NOTHING;

-- Behaviour rebates of spec §2 (ids 2-5). Rows 4 and 5 carry the descriptions that match
-- their types: the original's seed had them swapped (spec §14 bug 13, docs/differences.md).
INSERT INTO daily_behavior_rebate (id, behavior_type, rebate_desc, rebate_type, rebate_config, state) VALUES
    (2, 'sign', '签到返利-积分', 'integral', '10', 'open'),
    (3, 'sign', '签到返利-sku额度', 'sku', '9901', 'open'),
    (4, 'openai_pay', '支付返利-sku额度', 'sku', '9901', 'open'),
    (5, 'openai_pay', '支付返利-积分', 'integral', '10', 'open')
ON CONFLICT (id) DO NOTHING;
SELECT setval(pg_get_serial_sequence('daily_behavior_rebate', 'id'), GREATEST(5, (SELECT max(id) FROM daily_behavior_rebate)));
