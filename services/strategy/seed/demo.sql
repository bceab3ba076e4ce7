-- Demo data of strategy-draw (spec §2, §17). Idempotent: ON CONFLICT DO NOTHING, so a
-- re-run never resets stock or overwrites an operator's change.

INSERT INTO award (award_id, award_key, award_config, award_desc) VALUES
    (100, 'user_credit_blacklist', '1', '黑名单积分'),
    (101, 'user_credit_random', '1,100', '用户积分【优先透彻规则范围，如果没有则走配置】'),
    (102, 'openai_use_count', '5', ''),
    (103, 'openai_use_count', '10', ''),
    (104, 'openai_use_count', '20', ''),
    (105, 'openai_model', 'gpt-4', ''),
    (106, 'openai_model', 'dall-e-2', ''),
    (107, 'openai_model', 'dall-e-3', ''),
    (108, 'openai_use_count', '100', ''),
    (109, 'openai_model', 'gpt-4,dall-e-2,dall-e-3', ''),
    (110, 'openai_use_count', '1', ''),
    (111, 'openai_use_count', '5', ''),
    (112, 'openai_use_count', '10', ''),
    (113, 'openai_use_count', '15', ''),
    (114, 'openai_use_count', '20', ''),
    (115, 'openai_use_count', '25', ''),
    (116, 'openai_use_count', '50', ''),
    (117, 'openai_use_count', '100', '')
ON CONFLICT (award_id) DO NOTHING;

INSERT INTO strategy (strategy_id, strategy_desc, rule_models) VALUES
    (100001, '抽奖策略', 'rule_blacklist,rule_weight'),
    (100006, '抽奖策略-规则树', 'rule_blacklist,rule_weight'),
    (10007, '抽奖策略-规则树', NULL)
ON CONFLICT (strategy_id) DO NOTHING;

INSERT INTO rule_tree (tree_id, tree_name, tree_desc, tree_node_rule_key) VALUES
    ('tree_lock_1', '规则树', '规则树', 'rule_lock'),
    ('tree_lock_2', '规则树', '规则树', 'rule_lock'),
    ('tree_lock_3', '规则树', '规则树', 'rule_lock'),
    ('tree_luck_award', '规则树-兜底奖励', '规则树-兜底奖励', 'rule_stock')
ON CONFLICT (tree_id) DO NOTHING;

INSERT INTO rule_tree_node (tree_id, rule_key, rule_desc, rule_value) VALUES
    ('tree_lock_1', 'rule_lock', '限定用户已完成N次抽奖后解锁', '1'),
    ('tree_lock_1', 'rule_luck_award', '兜底奖品随机积分', '101:1,100'),
    ('tree_lock_1', 'rule_stock', '库存扣减规则', NULL),
    ('tree_lock_2', 'rule_lock', '限定用户已完成N次抽奖后解锁', '2'),
    ('tree_lock_2', 'rule_luck_award', '兜底奖品随机积分', '101:1,100'),
    ('tree_lock_2', 'rule_stock', '库存扣减规则', NULL),
    ('tree_lock_3', 'rule_lock', '限定用户已完成N次抽奖后解锁', '3'),
    ('tree_lock_3', 'rule_luck_award', '兜底奖品随机积分', '101:1,100'),
    ('tree_lock_3', 'rule_stock', '库存扣减规则', NULL),
    ('tree_luck_award', 'rule_stock', '库存扣减规则', NULL),
    ('tree_luck_award', 'rule_luck_award', '兜底奖品随机积分', '101:1,100')
ON CONFLICT (tree_id, rule_key) DO NOTHING;

INSERT INTO rule_tree_node_line (tree_id, rule_node_from, rule_node_to, rule_limit_type, rule_limit_value) VALUES
    ('tree_lock_1', 'rule_lock', 'rule_stock', 'EQUAL', 'ALLOW'),
    ('tree_lock_1', 'rule_lock', 'rule_luck_award', 'EQUAL', 'TAKE_OVER'),
    ('tree_lock_1', 'rule_stock', 'rule_luck_award', 'EQUAL', 'ALLOW'),
    ('tree_lock_2', 'rule_lock', 'rule_stock', 'EQUAL', 'ALLOW'),
    ('tree_lock_2', 'rule_lock', 'rule_luck_award', 'EQUAL', 'TAKE_OVER'),
    ('tree_lock_2', 'rule_stock', 'rule_luck_award', 'EQUAL', 'ALLOW'),
    -- tree_lock_3 as changed on 2024-04-27: both lock outcomes lead to the luck award.
    ('tree_lock_3', 'rule_lock', 'rule_luck_award', 'EQUAL', 'ALLOW'),
    ('tree_lock_3', 'rule_lock', 'rule_luck_award', 'EQUAL', 'TAKE_OVER'),
    ('tree_lock_3', 'rule_stock', 'rule_luck_award', 'EQUAL', 'ALLOW'),
    ('tree_luck_award', 'rule_stock', 'rule_luck_award', 'EQUAL', 'ALLOW')
ON CONFLICT (tree_id, rule_node_from, rule_node_to, rule_limit_value) DO NOTHING;

INSERT INTO strategy_award (strategy_id, award_id, award_title, award_subtitle, award_count, award_count_surplus, stock_opening, award_rate, rule_models, sort) VALUES
    (100006, 101, '随机积分', NULL, 10000, 9982, 9982, 0.7900, 'tree_luck_award', 1),
    (100006, 102, 'OpenAI会员卡', NULL, 100, 15, 15, 0.0300, 'tree_luck_award', 2),
    (100006, 103, '支付优惠券', NULL, 100, 38, 38, 0.0300, 'tree_luck_award', 3),
    (100006, 104, '小米台灯', NULL, 100, 28, 28, 0.0300, 'tree_luck_award', 4),
    (100006, 105, '小米su7周体验', '抽奖3次后解锁', 100, 37, 37, 0.0300, 'tree_lock_3', 5),
    (100006, 106, '轻奢办公椅', '抽奖2次后解锁', 100, 22, 22, 0.0300, 'tree_lock_2', 6),
    (100006, 107, '小霸王游戏机', '抽奖1次后解锁', 100, 21, 21, 0.0300, 'tree_lock_1', 7),
    (100006, 108, '暴走玩偶', NULL, 100, 25, 25, 0.0003, 'tree_luck_award', 8),
    (10007, 101, '随机积分', NULL, 1000000, 1000000, 1000000, 0.1000, 'tree_luck_award', 1),
    (10007, 110, '1次使用次数', NULL, 1000000, 1000000, 1000000, 0.8000, 'tree_luck_award', 2),
    (10007, 111, '5次使用次数', NULL, 1000000, 1000000, 1000000, 0.0800, 'tree_luck_award', 3),
    (10007, 112, '10次使用次数', NULL, 1000000, 1000000, 1000000, 0.0100, 'tree_luck_award', 4),
    (10007, 113, '50次使用次数', NULL, 1000000, 1000000, 1000000, 0.0002, 'tree_lock_3', 5),
    (10007, 114, '20次使用次数', NULL, 1000000, 1000000, 1000000, 0.0040, 'tree_lock_2', 6),
    (10007, 115, '25次使用次数', NULL, 1000000, 1000000, 1000000, 0.0008, 'tree_lock_1', 7),
    (10007, 116, '15次使用次数', NULL, 1000000, 1000000, 1000000, 0.0050, 'tree_luck_award', 8),
    (100001, 101, '随机积分', NULL, 10000, 10000, 10000, 0.3000, NULL, 1),
    (100001, 102, '5次使用', NULL, 10000, 10000, 10000, 0.2000, NULL, 2),
    (100001, 103, '10次使用', NULL, 10000, 10000, 10000, 0.2000, NULL, 3),
    (100001, 104, '20次使用', NULL, 10000, 10000, 10000, 0.1000, NULL, 4),
    (100001, 105, '增加gpt-4对话模型', NULL, 10000, 10000, 10000, 0.1000, NULL, 5),
    (100001, 106, '增加dall-e-2画图模型', NULL, 10000, 10000, 10000, 0.0500, NULL, 6),
    (100001, 107, '增加dall-e-3画图模型', NULL, 10000, 10000, 10000, 0.0400, NULL, 7),
    (100001, 108, '增加100次使用', NULL, 10000, 10000, 10000, 0.0099, NULL, 8),
    (100001, 109, '解锁全部模型', NULL, 10000, 10000, 10000, 0.0001, NULL, 9)
ON CONFLICT (strategy_id, award_id) DO NOTHING;

INSERT INTO strategy_rule (strategy_id, award_id, rule_type, rule_model, rule_value, rule_desc) VALUES
    (100001, NULL, 1, 'rule_weight', '60:102,103,104,105 200:106,107 1000:105', '消耗6000分，必中奖范围'),
    (100001, NULL, 1, 'rule_blacklist', '101:user001,user002,user003', '黑名单抽奖，积分兜底'),
    (100006, NULL, 1, 'rule_weight', '10:102,103 70:106,107 1000:104,105', '消耗6000分，必中奖范围'),
    (100006, NULL, 1, 'rule_blacklist', '101:user001,user002,user003', '黑名单抽奖，积分兜底')
ON CONFLICT (strategy_id, rule_model) DO NOTHING;
