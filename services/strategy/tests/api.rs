//! Black-box gRPC tests of strategy-draw against real Postgres, Redis and NATS (spec §17
//! scenarios 1, 3, 4, 5; exactly-once; concurrency; bad input).

#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use bm_api::strategy::{
    ArmoryStrategyRequest, DrawRequest, DrawResponse, QueryAwardListRequest, QueryRuleWeightRequest,
    strategy_service_client::StrategyServiceClient,
};
use bm_testkit::{ServiceProcess, TestInfra, eventually};
use deadpool_redis::redis;
use tonic::{Code, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_strategy");

struct App {
    infra: TestInfra,
    process: ServiceProcess,
    client: StrategyServiceClient<Channel>,
    pool: sqlx::PgPool,
}

impl App {
    async fn spawn() -> Self {
        Self::spawn_syncing_every("200").await
    }

    async fn spawn_syncing_every(interval_ms: &str) -> Self {
        let infra = TestInfra::new(Some(&bm_strategy::MIGRATOR)).await;
        let pool = infra.pool().await;
        sqlx::raw_sql(bm_strategy::DEMO_DATA).execute(&pool).await.unwrap();
        let env =
            bm_testkit::lifecycle::with_env(&infra.service_env(), "BM_SERVICE__STOCK_SYNC_INTERVAL_MS", interval_ms);
        let env = bm_testkit::lifecycle::with_env(&env, "BM_SERVICE__STOCK_REBUILD_SETTLE_MS", "300");
        let process = ServiceProcess::spawn(BINARY, &env).await;
        let client = StrategyServiceClient::new(process.channel().await);
        Self { infra, process, client, pool }
    }

    async fn armory(&self, strategy_id: i64) {
        self.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id }).await.unwrap();
    }

    async fn draw(
        &self,
        user: &str,
        strategy_id: i64,
        order: &str,
        total: i64,
        day: i64,
    ) -> Result<DrawResponse, tonic::Status> {
        self.draw_hinted(user, strategy_id, order, (total, day), false).await
    }

    /// A draw with the caller's `first_attempt` hint.
    async fn draw_hinted(
        &self,
        user: &str,
        strategy_id: i64,
        order: &str,
        (total, day): (i64, i64),
        first_attempt: bool,
    ) -> Result<DrawResponse, tonic::Status> {
        let request = DrawRequest {
            user_id: user.into(),
            strategy_id,
            order_id: order.into(),
            user_total_partake_count: total,
            user_day_partake_count: day,
            first_attempt,
        };
        self.client.clone().draw(request).await.map(tonic::Response::into_inner)
    }

    async fn counter(&self, strategy_id: i64, award_id: i32) -> Option<i64> {
        let key = format!("{}strategy:{{{strategy_id}}}:stock:{award_id}", self.infra.redis_prefix);
        redis::cmd("GET").arg(key).query_async(&mut self.infra.redis().get().await.unwrap()).await.unwrap()
    }

    async fn delete_counter(&self, strategy_id: i64, award_id: i32) {
        let key = format!("{}strategy:{{{strategy_id}}}:stock:{award_id}", self.infra.redis_prefix);
        redis::cmd("DEL").arg(key).query_async::<i64>(&mut self.infra.redis().get().await.unwrap()).await.unwrap();
    }

    async fn db_surplus(&self, strategy_id: i64, award_id: i32) -> i32 {
        sqlx::query_as::<_, (i32,)>(
            "SELECT award_count_surplus FROM strategy_award WHERE strategy_id = $1 AND award_id = $2",
        )
        .bind(strategy_id)
        .bind(award_id)
        .fetch_one(&self.pool)
        .await
        .unwrap()
        .0
    }

    /// A strategy with one drawable award (rate 1) under `tree` and the luck award 101 at
    /// rate 0 (present for its title, never drawn).
    async fn single_award_strategy(&self, strategy_id: i64, award_id: i32, tree: &str, stock: i32) {
        let sql = format!(
            "INSERT INTO strategy (strategy_id, strategy_desc, rule_models) VALUES ({strategy_id}, 'test', NULL);
             INSERT INTO strategy_award (strategy_id, award_id, award_title, award_count, award_count_surplus, stock_opening, award_rate, rule_models, sort)
             VALUES ({strategy_id}, {award_id}, 'prize', {stock}, {stock}, {stock}, 1.0000, '{tree}', 1),
                    ({strategy_id}, 101, '随机积分', 100000, 100000, 100000, 0, 'tree_luck_award', 2);"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await.unwrap();
    }
}

fn bm_code(status: &tonic::Status) -> Option<&'static str> {
    bm_status::code_of(status).map(bm_status::ErrorCode::as_str)
}

#[tokio::test]
async fn scenario_1_armory_warms_stock_once_and_never_resets_it() {
    let app = App::spawn().await;
    app.armory(100_006).await;
    let expected = [(101, 9982), (102, 15), (103, 38), (104, 28), (105, 37), (106, 22), (107, 21), (108, 25)];
    for (award, stock) in expected {
        assert_eq!(app.counter(100_006, award).await, Some(stock), "award {award}");
    }
    // Take a unit of 102 through the weight tier (10th draw), then re-armory.
    let drawn = app.draw("xiaofuge", 100_006, "order-10", 10, 1).await.unwrap();
    let left = app.counter(100_006, drawn.award_id).await.unwrap();
    app.armory(100_006).await;
    assert_eq!(app.counter(100_006, drawn.award_id).await, Some(left), "re-armory keeps the counter");
}

#[tokio::test]
async fn scenario_3_tree_paths_lock_stock_and_luck_award() {
    let app = App::spawn().await;
    app.single_award_strategy(900_001, 107, "tree_lock_1", 2).await;
    app.single_award_strategy(900_002, 106, "tree_lock_2", 5).await;
    app.single_award_strategy(900_003, 105, "tree_lock_3", 5).await;
    for id in [900_001, 900_002, 900_003] {
        app.armory(id).await;
    }
    // tree_lock_1: locked with no draw today, open from the first.
    let locked = app.draw("u1", 900_001, "a1", 1, 0).await.unwrap();
    assert_eq!(
        (locked.award_id, locked.award_config.as_str(), locked.rule_model.as_str()),
        (101, "1,100", "rule_luck_award")
    );
    let open = app.draw("u1", 900_001, "a2", 1, 1).await.unwrap();
    assert_eq!(
        (open.award_id, open.award_key.as_str(), open.award_config.as_str(), open.rule_model.as_str()),
        (107, "openai_model", "dall-e-3", "rule_stock"),
        "no rule set a config: the award's default"
    );
    // Stock 2: one more unit, then the luck award.
    assert_eq!(app.draw("u1", 900_001, "a3", 2, 2).await.unwrap().award_id, 107);
    let empty = app.draw("u1", 900_001, "a4", 3, 3).await.unwrap();
    assert_eq!((empty.award_id, empty.rule_model.as_str()), (101, "rule_luck_award"));
    assert_eq!(app.counter(900_001, 107).await, Some(0));
    // tree_lock_2 needs two draws today.
    assert_eq!(app.draw("u2", 900_002, "b1", 1, 1).await.unwrap().award_id, 101);
    assert_eq!(app.draw("u2", 900_002, "b2", 2, 2).await.unwrap().award_id, 106);
    // tree_lock_3 of the demo always ends at the luck award (spec §2 quirk, kept).
    for (n, order) in ["c1", "c2", "c3"].iter().enumerate() {
        let day = i64::try_from(n).unwrap() + 3;
        assert_eq!(app.draw("u3", 900_003, order, day, day).await.unwrap().award_id, 101);
    }
    assert_eq!(app.counter(900_003, 105).await, Some(5), "tree_lock_3 never reaches its stock node");
}

#[tokio::test]
async fn scenario_4_blacklisted_user_gets_the_consolation_credit_without_stock() {
    let app = App::spawn().await;
    app.armory(100_006).await;
    let drawn = app.draw("user001", 100_006, "bl-1", 10, 1).await.unwrap();
    assert_eq!(
        (drawn.award_id, drawn.award_config.as_str(), drawn.rule_model.as_str(), drawn.sort),
        (101, "0.01,1", "rule_blacklist", 1)
    );
    assert_eq!(app.counter(100_006, 101).await, Some(9982), "no stock taken");
}

#[tokio::test]
async fn scenario_5_the_tenth_draw_comes_from_the_first_weight_tier_and_takes_its_stock() {
    let app = App::spawn().await;
    app.armory(100_006).await;
    for n in 0..20 {
        let drawn = app.draw("xiaofuge", 100_006, &format!("w{n}"), 10, 1).await.unwrap();
        assert!([102, 103].contains(&drawn.award_id), "{drawn:?}");
        assert_eq!(drawn.rule_model, "rule_weight");
    }
    let left = app.counter(100_006, 102).await.unwrap() + app.counter(100_006, 103).await.unwrap();
    assert_eq!(left, 15 + 38 - 20, "each weight award took one unit (docs/differences.md)");
    // Not exactly 10: the default table.
    let other = app.draw("xiaofuge", 100_006, "w-11", 11, 1).await.unwrap();
    assert_ne!(other.rule_model, "rule_weight");
}

#[tokio::test]
async fn a_repeated_order_gets_the_same_award_and_takes_stock_at_most_once() {
    let app = App::spawn().await;
    app.single_award_strategy(900_004, 102, "tree_luck_award", 3).await;
    app.armory(900_004).await;
    let first = app.draw("u", 900_004, "same-order", 1, 1).await.unwrap();
    for _ in 0..5 {
        assert_eq!(app.draw("u", 900_004, "same-order", 1, 1).await.unwrap(), first);
    }
    assert_eq!(app.counter(900_004, 102).await, Some(2));
    // Concurrent repeats of one new order: one unit at most.
    let attempts = (0..20).map(|_| app.draw("u", 900_004, "racing-order", 2, 2));
    let results = futures_util::future::join_all(attempts).await;
    let awards: std::collections::HashSet<i32> = results.into_iter().map(|r| r.unwrap().award_id).collect();
    assert_eq!(awards.len(), 1, "every attempt of the order sees one award");
    assert_eq!(app.counter(900_004, 102).await, Some(1));
    // A debug draw (no order) never takes stock.
    app.draw("u", 900_004, "", 1, 1).await.unwrap();
    assert_eq!(app.counter(900_004, 102).await, Some(1));
}

#[tokio::test]
async fn a_wrong_first_attempt_hint_still_draws_an_order_once() {
    let app = App::spawn().await;
    app.single_award_strategy(900_009, 102, "tree_luck_award", 3).await;
    app.armory(900_009).await;
    let first = app.draw_hinted("u", 900_009, "hinted", (1, 1), true).await.unwrap();
    // Every repeat claims to be a first attempt: the lookup is skipped, the record is not.
    for _ in 0..3 {
        assert_eq!(app.draw_hinted("u", 900_009, "hinted", (1, 1), true).await.unwrap(), first);
    }
    assert_eq!(app.counter(900_009, 102).await, Some(2), "one unit for the order");
    let attempts = (0..20).map(|_| app.draw_hinted("u", 900_009, "hinted-race", (2, 2), true));
    let results = futures_util::future::join_all(attempts).await;
    let awards: std::collections::HashSet<i32> = results.into_iter().map(|r| r.unwrap().award_id).collect();
    assert_eq!(awards.len(), 1, "every attempt of the order sees one award");
    assert_eq!(app.counter(900_009, 102).await, Some(1));
}

#[tokio::test]
async fn two_hundred_concurrent_draws_hand_out_a_stock_of_fifteen_exactly_fifteen_times() {
    let app = App::spawn().await;
    app.single_award_strategy(900_005, 102, "tree_luck_award", 15).await;
    app.armory(900_005).await;
    let ids: Vec<(String, String)> = (0..200).map(|n| (format!("user{n}"), format!("order-{n}"))).collect();
    let draws = ids.iter().map(|(user, order)| app.draw(user, 900_005, order, 1, 1));
    let results = futures_util::future::join_all(draws).await;
    let won = results.iter().filter(|r| r.as_ref().unwrap().award_id == 102).count();
    let consoled = results.iter().filter(|r| r.as_ref().unwrap().award_id == 101).count();
    assert_eq!((won, consoled), (15, 185));
    assert_eq!(app.counter(900_005, 102).await, Some(0));
    let recorded: (i64,) =
        sqlx::query_as("SELECT count(*) FROM strategy_draw_result WHERE strategy_id = 900005 AND stock_award_id = 102")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded.0, 15, "every unit has a durable record");
    // award_stock_zero (and the batch sync) bring the database view to zero.
    eventually("database stock zeroed", || async { app.db_surplus(900_005, 102).await == 0 }).await;
}

#[tokio::test]
async fn award_stock_zero_event_zeroes_the_database_stock() {
    // The batch sync is slowed to an hour: only the event can zero the row in time.
    let app = App::spawn_syncing_every("3600000").await;
    app.single_award_strategy(900_008, 102, "tree_luck_award", 2).await;
    app.armory(900_008).await;
    app.draw("u", 900_008, "z1", 1, 1).await.unwrap();
    app.draw("u", 900_008, "z2", 1, 1).await.unwrap();
    eventually("award_stock_zero consumed", || async { app.db_surplus(900_008, 102).await == 0 }).await;
}

#[tokio::test]
async fn a_lost_counter_is_rebuilt_from_the_durable_records() {
    let app = App::spawn().await;
    app.single_award_strategy(900_006, 102, "tree_luck_award", 4).await;
    app.armory(900_006).await;
    for n in 0..3 {
        assert_eq!(app.draw("u", 900_006, &format!("r{n}"), 1, 1).await.unwrap().award_id, 102);
    }
    app.delete_counter(900_006, 102).await; // as if Redis lost it
    assert_eq!(app.draw("u", 900_006, "r3", 1, 1).await.unwrap().award_id, 102, "the fourth unit is still there");
    assert_eq!(app.draw("u", 900_006, "r4", 1, 1).await.unwrap().award_id, 101, "and there is no fifth");
    assert_eq!(app.counter(900_006, 102).await, Some(0));
    // A replay of an earlier order after the loss still gets its award and takes nothing.
    assert_eq!(app.draw("u", 900_006, "r0", 1, 1).await.unwrap().award_id, 102);
}

#[tokio::test]
async fn stock_counters_are_synced_to_the_database_in_batches() {
    let app = App::spawn().await;
    app.single_award_strategy(900_007, 102, "tree_luck_award", 10).await;
    app.armory(900_007).await;
    for n in 0..4 {
        app.draw("u", 900_007, &format!("s{n}"), 1, 1).await.unwrap();
    }
    eventually("database surplus follows Redis", || async { app.db_surplus(900_007, 102).await == 6 }).await;
}

#[tokio::test]
async fn queries_show_locks_and_weight_tiers() {
    let app = App::spawn().await;
    let awards = app
        .client
        .clone()
        .query_award_list(QueryAwardListRequest { strategy_id: 100_006, user_day_partake_count: 1 })
        .await
        .unwrap()
        .into_inner()
        .awards;
    assert_eq!(awards.iter().map(|a| a.award_id).collect::<Vec<_>>(), (101..=108).collect::<Vec<_>>());
    let view = |id: i32| awards.iter().find(|a| a.award_id == id).unwrap();
    assert_eq!(
        (view(107).award_rule_lock_count, view(107).is_award_unlock, view(107).wait_unlock_count),
        (Some(1), true, 0)
    );
    assert_eq!(
        (view(105).award_rule_lock_count, view(105).is_award_unlock, view(105).wait_unlock_count),
        (Some(3), false, 2)
    );
    assert_eq!(view(105).award_subtitle, "抽奖3次后解锁");
    assert_eq!(view(101).award_rule_lock_count, None);
    let weights = app
        .client
        .clone()
        .query_rule_weight(QueryRuleWeightRequest { strategy_id: 100_006, user_total_partake_count: 7 })
        .await
        .unwrap()
        .into_inner()
        .weights;
    assert_eq!(weights.iter().map(|w| w.rule_weight_count).collect::<Vec<_>>(), vec![10, 70, 1000]);
    assert_eq!(weights[0].user_activity_account_total_use_count, 7);
    assert_eq!(
        weights[0].awards.iter().map(|a| a.award_title.as_str()).collect::<Vec<_>>(),
        vec!["OpenAI会员卡", "支付优惠券"]
    );
}

#[tokio::test]
async fn bad_input_and_bad_configuration_get_clear_codes() {
    let app = App::spawn().await;
    let invalid = [
        app.draw("", 100_006, "o", 1, 1).await.unwrap_err(),
        app.draw(&"x".repeat(65), 100_006, "o", 1, 1).await.unwrap_err(),
        app.draw("u", 0, "o", 1, 1).await.unwrap_err(),
        app.draw("u", 100_006, "o", -1, 1).await.unwrap_err(),
        app.draw("u", 100_006, &"o".repeat(65), 1, 1).await.unwrap_err(),
        app.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: -3 }).await.unwrap_err(),
    ];
    for status in invalid {
        assert_eq!((status.code(), bm_code(&status)), (Code::InvalidArgument, Some("0002")), "{status:?}");
    }
    let unknown = app.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: 4242 }).await.unwrap_err();
    assert_eq!((unknown.code(), bm_code(&unknown)), (Code::NotFound, Some("BM_NOT_FOUND")));
    let unknown_draw = app.draw("u", 4242, "o", 1, 1).await.unwrap_err();
    assert_eq!(unknown_draw.code(), Code::NotFound);
    let not_armoried = app.draw("u", 100_006, "o", 1, 1).await.unwrap_err();
    assert_eq!((not_armoried.code(), bm_code(&not_armoried)), (Code::FailedPrecondition, Some("ERR_BIZ_002")));

    sqlx::raw_sql(
        "INSERT INTO strategy (strategy_id, rule_models) VALUES (800001, 'rule_weight'), (800002, 'rule_blacklist');
         INSERT INTO strategy_award (strategy_id, award_id, award_title, award_rate, rule_models, sort)
         VALUES (800001, 102, 'p', 1, NULL, 1), (800002, 102, 'p', 1, NULL, 1);
         INSERT INTO strategy_rule (strategy_id, rule_model, rule_value) VALUES (800002, 'rule_blacklist', '101-user001');",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let missing = app.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: 800_001 }).await.unwrap_err();
    assert_eq!((missing.code(), bm_code(&missing)), (Code::FailedPrecondition, Some("ERR_BIZ_001")));
    let malformed =
        app.client.clone().armory_strategy(ArmoryStrategyRequest { strategy_id: 800_002 }).await.unwrap_err();
    assert_eq!((malformed.code(), bm_code(&malformed)), (Code::FailedPrecondition, Some("ERR_CONFIG_001")));
    assert!(malformed.message().contains("rule_blacklist"), "{}", malformed.message());
    assert!(app.process.health().await.is_some(), "still serving after bad input");
}
