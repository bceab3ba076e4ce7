//! Black-box gRPC tests of activity-quota against real Postgres, Redis and NATS (spec §17
//! scenario 2, quota codes 006/007/008, order reuse, idempotent recharge, stock-zero event,
//! races, bad input).

#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::collections::HashSet;

use bm_api::activity::{
    ArmoryActivityRequest, CompleteOrderRequest, GetActivityRequest, ListSkusRequest, PartakeRequest, PartakeResponse,
    QueryAccountRequest, QueryAccountResponse, RechargeSkuRequest, activity_service_client::ActivityServiceClient,
};
use bm_testkit::{ServiceProcess, TestInfra, eventually, lifecycle::with_env};
use deadpool_redis::redis;
use tonic::{Code, Status, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_activity");

struct App {
    infra: TestInfra,
    process: ServiceProcess,
    client: ActivityServiceClient<Channel>,
    pool: sqlx::PgPool,
    env: Vec<(String, String)>,
}

impl App {
    async fn spawn() -> Self {
        Self::spawn_syncing_every("200").await
    }

    async fn spawn_syncing_every(interval_ms: &str) -> Self {
        let infra = TestInfra::new(Some(&bm_activity::MIGRATOR)).await;
        let pool = infra.pool().await;
        sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&pool).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO raffle_activity (activity_id, activity_name, begin_date_time, end_date_time, strategy_id, state) VALUES
                 (700001, 'closed', '2024-01-01 00:00:00+08', '2034-01-01 00:00:00+08', 700001, 'close');
             INSERT INTO raffle_activity_count (activity_count_id, total_count, day_count, month_count) VALUES
                 (70001, 10, 5, 2), (70002, 10, 1, 5), (70003, 30, 30, 30), (70004, 1, 1, 1);
             INSERT INTO raffle_activity_sku (sku, activity_id, activity_count_id, stock_count, stock_count_surplus, stock_opening) VALUES
                 (7001, 100301, 70001, 100, 100, 100), (7002, 100301, 70002, 100, 100, 100),
                 (7003, 100301, 70003, 100, 100, 100), (7004, 100301, 70004, 2, 2, 2), (7005, 700001, 70004, 10, 10, 10);",
        )
        .execute(&pool)
        .await
        .unwrap();
        let env = with_env(&infra.service_env(), "BM_SERVICE__STOCK_SYNC_INTERVAL_MS", interval_ms);
        let env = with_env(&env, "BM_SERVICE__STOCK_REBUILD_SETTLE_MS", "300");
        let process = ServiceProcess::spawn(BINARY, &env).await;
        let client = ActivityServiceClient::new(process.channel().await);
        client.clone().armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
        Self { infra, process, client, pool, env }
    }

    async fn recharge(&self, user: &str, sku: i64, out_business_no: &str) -> Result<String, Status> {
        let request = RechargeSkuRequest { user_id: user.into(), sku, out_business_no: out_business_no.into() };
        self.client.clone().recharge_sku(request).await.map(|r| r.into_inner().order_id)
    }

    async fn partake(&self, user: &str, activity_id: i64, request_id: &str) -> Result<PartakeResponse, Status> {
        let request = PartakeRequest { user_id: user.into(), activity_id, request_id: request_id.into() };
        self.client.clone().partake(request).await.map(tonic::Response::into_inner)
    }

    async fn complete(&self, user: &str, order_id: &str) -> Result<bool, Status> {
        let request = CompleteOrderRequest { user_id: user.into(), order_id: order_id.into() };
        self.client.clone().complete_order(request).await.map(|r| r.into_inner().changed)
    }

    /// Partake and complete: one spent draw.
    async fn draw(&self, user: &str) -> Result<PartakeResponse, Status> {
        let order = self.partake(user, 100_301, "").await?;
        self.complete(user, &order.order_id).await?;
        Ok(order)
    }

    async fn account(&self, user: &str) -> QueryAccountResponse {
        let request = QueryAccountRequest { user_id: user.into(), activity_id: 100_301 };
        self.client.clone().query_account(request).await.unwrap().into_inner()
    }

    async fn sku_counter(&self, sku: i64) -> Option<i64> {
        let key = format!("{}activity:{{{sku}}}:stock", self.infra.redis_prefix);
        redis::cmd("GET").arg(key).query_async(&mut self.infra.redis().get().await.unwrap()).await.unwrap()
    }

    async fn db_stock(&self, sku: i64) -> i32 {
        sqlx::query_as::<_, (i32,)>("SELECT stock_count_surplus FROM raffle_activity_sku WHERE sku = $1")
            .bind(sku)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .0
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool).await.unwrap().0
    }
}

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

fn counters(account: &QueryAccountResponse) -> [i32; 6] {
    [
        account.total_count,
        account.total_count_surplus,
        account.month_count,
        account.month_count_surplus,
        account.day_count,
        account.day_count_surplus,
    ]
}

#[tokio::test]
async fn scenario_2_recharge_adds_150_to_every_counter() {
    let app = App::spawn().await;
    assert_eq!(counters(&app.account("xiaofuge").await), [0; 6], "no account: zeros");
    app.recharge("xiaofuge", 9011, "xiaofuge_sku_20240503").await.unwrap();
    assert_eq!(counters(&app.account("xiaofuge").await), [150; 6]);
    // A draw creates this month's and today's rows; a second recharge adds to them too.
    let order = app.draw("xiaofuge").await.unwrap();
    assert_eq!((order.total_partake_count, order.day_partake_count, order.strategy_id), (1, 1, 100_006));
    assert_eq!(counters(&app.account("xiaofuge").await), [150, 149, 150, 149, 150, 149]);
    app.recharge("xiaofuge", 9011, "xiaofuge_sku_20240504").await.unwrap();
    let account = app.account("xiaofuge").await;
    assert_eq!(counters(&account), [300, 299, 300, 299, 300, 299]);
    assert_eq!((account.total_partake_count, account.day_partake_count), (1, 1));
    assert_eq!(app.sku_counter(9011).await, Some(99_887 - 2), "two units of sku stock");
}

#[tokio::test]
async fn partake_until_each_quota_code_fires() {
    let app = App::spawn().await;
    let none = app.partake("nobody", 100_301, "").await.unwrap_err();
    assert_eq!(code(&none), (Code::FailedPrecondition, Some("ERR_BIZ_006")), "no account");

    app.recharge("total", 9014, "t1").await.unwrap(); // 1 / 1 / 1
    app.draw("total").await.unwrap();
    assert_eq!(code(&app.draw("total").await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_006")));

    app.recharge("month", 7001, "m1").await.unwrap(); // total 10, day 5, month 2
    app.draw("month").await.unwrap();
    app.draw("month").await.unwrap();
    assert_eq!(code(&app.draw("month").await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_007")));

    app.recharge("day", 7002, "d1").await.unwrap(); // total 10, day 1, month 5
    app.draw("day").await.unwrap();
    assert_eq!(code(&app.draw("day").await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_008")));
    let account = app.account("day").await;
    assert_eq!((account.total_count_surplus, account.day_count_surplus, account.month_count_surplus), (9, 0, 4));
}

#[tokio::test]
async fn an_unused_order_is_reused_and_a_request_id_finds_its_order() {
    let app = App::spawn().await;
    app.recharge("u", 9013, "r1").await.unwrap(); // 5 / 5 / 5
    let first = app.partake("u", 100_301, "").await.unwrap();
    let again = app.partake("u", 100_301, "").await.unwrap();
    assert_eq!((again.order_id.as_str(), again.reused), (first.order_id.as_str(), true));
    assert_eq!(app.account("u").await.total_count_surplus, 4, "reuse spends nothing");

    assert!(app.complete("u", &first.order_id).await.unwrap());
    assert!(!app.complete("u", &first.order_id).await.unwrap(), "completing twice changes nothing");

    let with_request = app.partake("u", 100_301, "req-1").await.unwrap();
    assert!(!with_request.reused);
    app.complete("u", &with_request.order_id).await.unwrap();
    let retry = app.partake("u", 100_301, "req-1").await.unwrap();
    assert_eq!(
        (retry.order_id.as_str(), retry.reused),
        (with_request.order_id.as_str(), true),
        "a retry gets its order back"
    );
    assert_eq!(app.account("u").await.total_count_surplus, 3);
    let other = app.partake("u", 100_301, "req-2").await.unwrap();
    assert_ne!(other.order_id, with_request.order_id);
}

#[tokio::test]
async fn a_repeated_recharge_is_already_exists_and_credits_nothing() {
    let app = App::spawn().await;
    let before = app.sku_counter(9012).await.unwrap();
    app.recharge("u", 9012, "biz-1").await.unwrap();
    let duplicate = app.recharge("u", 9012, "biz-1").await.unwrap_err();
    assert_eq!(code(&duplicate), (Code::AlreadyExists, Some("0003")));
    assert_eq!(app.account("u").await.total_count, 50);
    assert_eq!(app.sku_counter(9012).await, Some(before - 1), "the repeat took no stock (spec §14 bug 10)");
    // Concurrent repeats of one key: one order, one unit.
    let attempts = (0..10).map(|_| app.recharge("v", 9012, "biz-2"));
    let results = futures_util::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(code(error), (Code::AlreadyExists, Some("0003")));
    }
    assert_eq!(app.account("v").await.total_count, 50);
    assert_eq!(app.sku_counter(9012).await, Some(before - 2));
}

#[tokio::test]
async fn the_last_unit_publishes_sku_stock_zero_which_zeroes_the_database() {
    // The batch sync is slowed to an hour: only the event can zero the row in time.
    let app = App::spawn_syncing_every("3600000").await;
    app.recharge("a", 7004, "z1").await.unwrap();
    app.recharge("b", 7004, "z2").await.unwrap();
    let empty = app.recharge("c", 7004, "z3").await.unwrap_err();
    assert_eq!(code(&empty), (Code::FailedPrecondition, Some("ERR_BIZ_005")));
    eventually("sku_stock_zero consumed", || async { app.db_stock(7004).await == 0 }).await;
    assert_eq!(app.account("c").await.total_count, 0);
}

#[tokio::test]
async fn a_restarted_instance_syncs_the_stock_it_moves_without_an_armory() {
    // Found by the fault suite: after a kill -9 the new process had no armory, so the batch
    // sync skipped every sku and the database view of stock stopped following Redis.
    let mut app = App::spawn().await;
    app.process.kill();
    app.process = ServiceProcess::spawn(BINARY, &app.env).await;
    app.client = ActivityServiceClient::new(app.process.channel().await);
    app.recharge("a", 7003, "r1").await.unwrap();
    assert_eq!(app.sku_counter(7003).await, Some(99));
    eventually("database stock follows", || async { app.db_stock(7003).await == 99 }).await;
}

#[tokio::test]
async fn a_lost_sku_counter_is_rebuilt_from_the_orders() {
    let app = App::spawn().await;
    app.recharge("a", 7004, "l1").await.unwrap();
    let key = format!("{}activity:{{7004}}:stock", app.infra.redis_prefix);
    redis::cmd("DEL").arg(key).query_async::<i64>(&mut app.infra.redis().get().await.unwrap()).await.unwrap();
    app.recharge("b", 7004, "l2").await.unwrap();
    assert_eq!(code(&app.recharge("c", 7004, "l3").await.unwrap_err()).1, Some("ERR_BIZ_005"), "2 units, never 3");
    eventually("database stock follows", || async { app.db_stock(7004).await == 0 }).await;
}

#[tokio::test]
async fn a_hundred_concurrent_partakes_with_quota_thirty_create_exactly_thirty_orders() {
    let app = App::spawn().await;
    app.recharge("racer", 7003, "q30").await.unwrap(); // 30 / 30 / 30
    // 100 callers, each drawing until the quota is gone: concurrent callers may share an
    // unused order (ARCHITECTURE.md §8.4), so count distinct orders, not successes.
    let caller = || async {
        let mut orders = Vec::new();
        loop {
            match app.draw("racer").await {
                Ok(order) => orders.push(order.order_id),
                Err(status) => {
                    assert_eq!(code(&status), (Code::FailedPrecondition, Some("ERR_BIZ_006")), "{status:?}");
                    return orders;
                }
            }
        }
    };
    let results = futures_util::future::join_all((0..100).map(|_| caller())).await;
    let orders: HashSet<String> = results.into_iter().flatten().collect();
    assert_eq!(orders.len(), 30);
    assert_eq!(app.count("SELECT count(*) FROM user_raffle_order WHERE user_id = 'racer'").await, 30);
    let account = app.account("racer").await;
    assert_eq!((account.total_count_surplus, account.day_count_surplus, account.month_count_surplus), (0, 0, 0));
    assert_eq!(account.total_partake_count, 30);
}

#[tokio::test]
async fn concurrent_recharges_of_one_user_all_count() {
    let app = App::spawn().await;
    let keys: Vec<String> = (0..20).map(|n| format!("multi-{n}")).collect();
    let results = futures_util::future::join_all(keys.iter().map(|k| app.recharge("multi", 9014, k))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(counters(&app.account("multi").await), [20; 6]);
}

#[tokio::test]
async fn activity_state_and_dates_are_checked() {
    let app = App::spawn().await;
    let closed = app.recharge("u", 7005, "c1").await.unwrap_err();
    assert_eq!(code(&closed), (Code::FailedPrecondition, Some("ERR_BIZ_003")));
    assert_eq!(code(&app.partake("u", 700_001, "").await.unwrap_err()).1, Some("ERR_BIZ_003"));
    // Activity 100401 of the demo ended on 2026-10-06.
    let ended = app.partake("u", 100_401, "").await.unwrap_err();
    assert_eq!(code(&ended), (Code::FailedPrecondition, Some("ERR_BIZ_004")));
}

#[tokio::test]
async fn queries_and_bad_input() {
    let app = App::spawn().await;
    let activity =
        app.client.clone().get_activity(GetActivityRequest { activity_id: 100_301 }).await.unwrap().into_inner();
    let activity = activity.activity.unwrap();
    assert_eq!(
        (activity.strategy_id, activity.state.as_str(), activity.activity_name.as_str()),
        (100_006, "open", "测试活动")
    );
    let skus = app.client.clone().list_skus(ListSkusRequest { activity_id: 100_301 }).await.unwrap().into_inner().skus;
    let sku_9011 = skus.iter().find(|s| s.sku == 9011).unwrap();
    assert_eq!((sku_9011.product_amount.as_str(), sku_9011.activity_count.unwrap().total_count), ("200.00", 150));
    let armory =
        app.client.clone().armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap().into_inner();
    assert_eq!(armory.strategy_id, 100_006);

    let invalid = [
        app.recharge("", 9011, "x").await.unwrap_err(),
        app.recharge("u", 0, "x").await.unwrap_err(),
        app.recharge("u", 9011, "").await.unwrap_err(),
        app.recharge("u", 9011, &"x".repeat(65)).await.unwrap_err(),
        app.partake("u\n", 100_301, "").await.unwrap_err(),
        app.partake("u", -1, "").await.unwrap_err(),
        app.complete("u", "").await.unwrap_err(),
    ];
    for status in invalid {
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{status:?}");
    }
    for status in [
        app.recharge("u", 123_456, "x").await.unwrap_err(),
        app.partake("u", 424_242, "").await.unwrap_err(),
        app.complete("u", "no-such-order").await.unwrap_err(),
        app.client.clone().get_activity(GetActivityRequest { activity_id: 424_242 }).await.unwrap_err(),
    ] {
        assert_eq!(code(&status), (Code::NotFound, Some("BM_NOT_FOUND")), "{status:?}");
    }
}
