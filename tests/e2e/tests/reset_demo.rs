//! `make reset-demo` (issue #15) on a running system: after draws, each service's
//! `reset-demo` plus a re-armory put stock, accounts and records back to the spec §17 demo
//! numbers, the running services draw from them, and the books balance (bm-check).

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use bm_api::raffle::{
    ArmoryActivityRequest, DrawRequest, ListSkusRequest, ListUserAwardsRequest, QueryUserActivityAccountRequest,
    QueryUserActivityAccountResponse, QueryUserCreditRequest, RechargeSkuRequest,
};
use bm_e2e::{Cluster, Node};
use bm_invariants::{Sources, check};
use bm_testkit::{eventually, workspace_binary};
use deadpool_redis::redis;

const ACTIVITY: i64 = 100_301;
const USER: &str = "xiaofuge";
/// What deploy/local/warm.sh recharges the demo user with after `make up`.
const DEMO_RECHARGE: &str = "demo-xiaofuge-9011";
/// Spec §17 step 1: the award stock of strategy 100006 after the armory.
const AWARD_STOCK: [(i32, i64); 8] =
    [(101, 9982), (102, 15), (103, 38), (104, 28), (105, 37), (106, 22), (107, 21), (108, 25)];
/// Spec §17 step 1: the sku stock of activity 100301 after the armory.
const SKU_STOCK: [(i64, i64); 4] = [(9011, 99_887), (9012, 99_885), (9013, 99_884), (9014, 99_866)];

async fn account(cluster: &Cluster) -> QueryUserActivityAccountResponse {
    let request = QueryUserActivityAccountRequest { user_id: USER.into(), activity_id: ACTIVITY };
    cluster.client.clone().query_user_activity_account(request).await.unwrap().into_inner()
}

fn surplus(account: &QueryUserActivityAccountResponse) -> (i32, i32, i32) {
    (account.total_count_surplus, account.month_count_surplus, account.day_count_surplus)
}

async fn records(cluster: &Cluster) -> Vec<bm_api::raffle::UserAwardRecord> {
    let request = ListUserAwardsRequest { user_id: USER.into(), activity_id: ACTIVITY };
    cluster.client.clone().list_user_awards(request).await.unwrap().into_inner().records
}

async fn credit(cluster: &Cluster) -> String {
    let request = QueryUserCreditRequest { user_id: USER.into() };
    cluster.client.clone().query_user_credit(request).await.unwrap().into_inner().available_amount
}

async fn sku_left(cluster: &Cluster, sku: i64) -> i32 {
    let skus =
        cluster.client.clone().list_skus(ListSkusRequest { activity_id: ACTIVITY }).await.unwrap().into_inner().skus;
    skus.iter().find(|s| s.sku == sku).unwrap().stock_left
}

async fn draw(cluster: &Cluster) -> bm_api::raffle::DrawResponse {
    let request = DrawRequest { user_id: USER.into(), activity_id: ACTIVITY, request_id: String::new() };
    cluster.client.clone().draw(request).await.unwrap().into_inner()
}

async fn armory_and_recharge(cluster: &Cluster) {
    cluster.client.clone().armory_activity(ArmoryActivityRequest { activity_id: ACTIVITY }).await.unwrap();
    let request = RechargeSkuRequest { user_id: USER.into(), sku: 9011, out_business_no: DEMO_RECHARGE.into() };
    cluster.client.clone().recharge_sku(request).await.unwrap();
}

/// Award stock units consumed by recorded draws of strategy 100006.
async fn units_drawn(cluster: &Cluster) -> i64 {
    let pool = cluster.strategy.infra.pool().await;
    sqlx::query_scalar("SELECT count(*) FROM strategy_draw_result WHERE stock_award_id IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// Runs `<service> reset-demo` with the node's settings, as deploy/local/reset-demo.sh does;
/// returns its report.
fn reset_demo(service: &str, node: &Node) -> String {
    let output = std::process::Command::new(workspace_binary(service))
        .arg("reset-demo")
        .envs(node.env().iter().cloned())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{service} reset-demo failed: {stdout}\n{stderr}");
    assert!(stdout.contains("demo data reset"), "{service}: {stdout}");
    stdout.into_owned()
}

/// The node's Redis keys, by SCAN.
async fn keys_under(node: &Node) -> Vec<String> {
    let mut connection = node.infra.redis().get().await.unwrap();
    let (mut cursor, mut keys) = (0_u64, Vec::new());
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", node.infra.redis_prefix))
            .query_async(&mut connection)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

async fn counter(node: &Node, key: &str) -> Option<i64> {
    let mut connection = node.infra.redis().get().await.unwrap();
    redis::cmd("GET").arg(format!("{}{key}", node.infra.redis_prefix)).query_async(&mut connection).await.unwrap()
}

async fn count(node: &Node, table: &str) -> i64 {
    let pool = node.infra.pool().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"))).fetch_one(&pool).await.unwrap()
}

fn sources(cluster: &Cluster) -> Sources {
    cluster.invariant_sources(bm_testkit::redis_url(), 60)
}

#[tokio::test]
async fn reset_demo_restores_the_demo_numbers_on_a_running_system() {
    let cluster = Cluster::start(&[]).await;
    // The state `make up` leaves, then a demo: draws until at least one took award stock.
    armory_and_recharge(&cluster).await;
    let mut drawn = 0;
    while drawn < 3 || units_drawn(&cluster).await == 0 {
        draw(&cluster).await;
        drawn += 1;
        assert!(drawn <= 30, "no draw took award stock");
    }
    assert_eq!(surplus(&account(&cluster).await), (150 - drawn, 150 - drawn, 150 - drawn));
    eventually("every award delivered", || async {
        let list = records(&cluster).await;
        list.len() == usize::try_from(drawn).unwrap() && list.iter().all(|r| r.award_state == "completed")
    })
    .await;
    // The stock sync has moved the database view of stock down.
    eventually("the sku stock synced", || async { sku_left(&cluster, 9011).await == 99_886 }).await;
    let strategy_pool = cluster.strategy.infra.pool().await;
    eventually("the award stock synced", || async {
        let below: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM strategy_award WHERE strategy_id = 100006 AND award_count_surplus < stock_opening",
        )
        .fetch_one(&strategy_pool)
        .await
        .unwrap();
        below > 0
    })
    .await;

    // make reset-demo: each service's binary, with the settings the running service has.
    for (service, node) in [("strategy", &cluster.strategy), ("activity", &cluster.activity)] {
        let report = reset_demo(service, node);
        assert!(report.contains(&format!("under {}{service}:", node.infra.redis_prefix)), "{report}");
        assert_eq!(keys_under(node).await, Vec::<String>::new(), "{service}'s Redis keys are gone");
    }
    let report = reset_demo("award", &cluster.award);
    assert!(report.contains("no redis keys"), "{report}");

    // The per-user rows are gone, the configuration is as seeded.
    for table in ["strategy_draw_result", "parked_message"] {
        assert_eq!(count(&cluster.strategy, table).await, 0, "{table}");
    }
    for table in [
        "raffle_request",
        "user_raffle_order",
        "raffle_activity_account",
        "raffle_activity_account_month",
        "raffle_activity_account_day",
        "raffle_activity_order",
        "parked_message",
    ] {
        assert_eq!(count(&cluster.activity, table).await, 0, "{table}");
    }
    for table in ["user_award_record", "outbox_task", "user_credit_account", "user_credit_order", "parked_message"] {
        assert_eq!(count(&cluster.award, table).await, 0, "{table}");
    }
    assert_eq!(count(&cluster.strategy, "strategy_award").await, 25, "every demo award is still there");
    let award_surplus: Vec<(i32, i32)> = sqlx::query_as(
        "SELECT award_id, award_count_surplus FROM strategy_award WHERE strategy_id = 100006 ORDER BY award_id",
    )
    .fetch_all(&strategy_pool)
    .await
    .unwrap();
    let expected: Vec<(i32, i32)> = AWARD_STOCK.iter().map(|&(id, n)| (id, i32::try_from(n).unwrap())).collect();
    assert_eq!(award_surplus, expected, "award stock back to spec §17");
    for (sku, left) in SKU_STOCK {
        assert_eq!(i64::from(sku_left(&cluster, sku).await), left, "sku {sku} back to spec §17");
    }
    // Through the API, the demo user has nothing.
    assert_eq!(surplus(&account(&cluster).await), (0, 0, 0));
    assert!(records(&cluster).await.is_empty());
    assert_eq!(credit(&cluster).await, "0");

    // The re-armory (deploy/local/warm.sh) rebuilds every counter from the restored rows,
    // and the demo recharge, with the same business number as before, credits 150 again.
    armory_and_recharge(&cluster).await;
    for (award_id, left) in AWARD_STOCK {
        assert_eq!(counter(&cluster.strategy, &format!("strategy:{{100006}}:stock:{award_id}")).await, Some(left));
    }
    for (sku, left) in SKU_STOCK {
        let expected = if sku == 9011 { left - 1 } else { left };
        assert_eq!(counter(&cluster.activity, &format!("activity:{{{sku}}}:stock")).await, Some(expected), "{sku}");
    }
    assert_eq!(surplus(&account(&cluster).await), (150, 150, 150), "the demo user's quota as after make up");

    // The running services draw from the restored numbers.
    let drawn = draw(&cluster).await;
    assert!((101..=108).contains(&drawn.award_id), "{drawn:?}");
    assert_eq!(surplus(&account(&cluster).await), (149, 149, 149));
    let list = records(&cluster).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].order_id, drawn.order_id);
    eventually("the award is delivered", || async { records(&cluster).await[0].award_state == "completed" }).await;
    // The stock sync moves the restored database view only by the new recharge.
    eventually("the sku stock synced", || async { sku_left(&cluster, 9011).await == 99_886 }).await;
    let sources = sources(&cluster);
    eventually("the invariants hold after the reset", || async { check(&sources).await.unwrap().holds() }).await;
}
