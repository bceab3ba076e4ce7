//! Black-box: `activity reset-demo` (docs/operations.md, "Resetting the demo") deletes every
//! user's rows, puts sku stock back to its opening and the activity stage back to the seed,
//! and deletes this service's Redis keys, and nothing else; it refuses a database that is
//! not a demo's without touching anything.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::process::Output;

use bm_testkit::TestInfra;
use deadpool_redis::redis;

const BINARY: &str = env!("CARGO_BIN_EXE_activity");

/// A demo database in use: xiaofuge recharged 9011 and drew once; the stock sync and a
/// stock-zero event moved the database view of two skus; an operator replaced the seed's
/// stage on c01/s01 and staged c02/s01.
async fn demo_in_use() -> TestInfra {
    let infra = TestInfra::new(Some(&bm_activity::MIGRATOR)).await;
    let pool = infra.pool().await;
    sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO raffle_activity_order (user_id, order_id, sku, activity_id, activity_name, strategy_id,
                                            order_time, total_count, day_count, month_count, state, out_business_no)
             VALUES ('xiaofuge', 'r1', 9011, 100301, '测试活动', 100006,
                     now(), 150, 150, 150, 'completed', 'demo-xiaofuge-9011');
         INSERT INTO raffle_activity_account VALUES ('xiaofuge', 100301, 150, 149, 150, 149, 150, 149);
         INSERT INTO raffle_activity_account_month VALUES ('xiaofuge', 100301, '2026-01', 150, 149);
         INSERT INTO raffle_activity_account_day VALUES ('xiaofuge', 100301, '2026-01-01', 150, 149);
         INSERT INTO user_raffle_order (user_id, order_id, activity_id, activity_name, strategy_id, order_time,
                                        order_state, end_date_time)
             VALUES ('xiaofuge', 'o1', 100301, '测试活动', 100006, now(), 'used', now());
         INSERT INTO raffle_request VALUES ('xiaofuge', 100301, 'req-1', 'o1');
         INSERT INTO parked_message (subject, payload, error, deliveries) VALUES ('s', '{}', 'e', 5);
         INSERT INTO user_behavior_rebate_order (user_id, order_id, behavior_type, rebate_desc, rebate_type,
                                                 rebate_config, out_business_no, biz_id)
             VALUES ('xiaofuge', 'b1', 'sign', '签到返利-sku额度', 'sku', '9901', '20261130',
                     'xiaofuge_sku_20261130');
         INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at)
             VALUES ('t1', 'xiaofuge', 'bigmarket.activity.send_rebate', '{}', now());
         UPDATE raffle_activity_sku SET stock_count_surplus = 99886 WHERE sku = 9011;
         UPDATE raffle_activity_sku SET stock_count_surplus = 0 WHERE sku = 9014;
         UPDATE raffle_activity_stage SET state = 'expire' WHERE channel = 'c01' AND source = 's01';
         INSERT INTO raffle_activity_stage (channel, source, activity_id, state)
             VALUES ('c01', 's01', 100301, 'active'), ('c02', 's01', 100301, 'active');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut redis = infra.redis().get().await.unwrap();
    for (key, value) in [
        ("activity:{9011}:stock", "99886"),
        ("activity:{9011}:recharge:xiaofuge:demo-xiaofuge-9011", "9011"),
        ("strategy:{100006}:stock:101", "9981"),
    ] {
        redis::cmd("SET")
            .arg(format!("{}{key}", infra.redis_prefix))
            .arg(value)
            .query_async::<()>(&mut redis)
            .await
            .unwrap();
    }
    infra
}

fn reset_demo(infra: &TestInfra) -> Output {
    std::process::Command::new(BINARY)
        .arg("reset-demo")
        .envs(infra.service_env())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

async fn exists(infra: &TestInfra, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(format!("{}{key}", infra.redis_prefix))
        .query_async(&mut infra.redis().get().await.unwrap())
        .await
        .unwrap()
}

const USER_TABLES: [&str; 9] = [
    "raffle_activity_order",
    "raffle_activity_account",
    "raffle_activity_account_month",
    "raffle_activity_account_day",
    "user_raffle_order",
    "raffle_request",
    "parked_message",
    "user_behavior_rebate_order",
    "outbox_task",
];

async fn user_rows(pool: &sqlx::PgPool) -> i64 {
    let mut rows = 0;
    for table in USER_TABLES {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(pool)
            .await
            .unwrap();
        rows += count;
    }
    rows
}

#[tokio::test]
async fn reset_demo_wipes_user_rows_restores_sku_stock_and_deletes_only_its_keys() {
    let infra = demo_in_use().await;
    let output = reset_demo(&infra);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("14 rows deleted or restored"), "9 user rows, 2 skus and 3 stages: {stdout}");
    assert!(stdout.contains(&format!("2 redis keys under {}activity:", infra.redis_prefix)), "{stdout}");

    let pool = infra.pool().await;
    assert_eq!(user_rows(&pool).await, 0);
    let skus: Vec<(i64, i32)> = sqlx::query_as("SELECT sku, stock_count_surplus FROM raffle_activity_sku ORDER BY sku")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        skus,
        [
            (9011, 99_887),
            (9012, 99_885),
            (9013, 99_884),
            (9014, 99_866),
            (9901, 100_000),
            (9902, 100_000),
            (9903, 100_000)
        ],
        "sku stock as seeded (spec §17)"
    );
    let stages: Vec<(String, String, i64, String)> =
        sqlx::query_as("SELECT channel, source, activity_id, state FROM raffle_activity_stage")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stages, [("c01".into(), "s01".into(), 100_401, "active".into())], "the stage as seeded (spec §5)");
    assert!(!exists(&infra, "activity:{9011}:stock").await);
    assert!(!exists(&infra, "activity:{9011}:recharge:xiaofuge:demo-xiaofuge-9011").await);
    assert!(exists(&infra, "strategy:{100006}:stock:101").await, "another service's key under the same prefix stays");

    // Again: nothing left to do.
    let again = reset_demo(&infra);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 rows deleted or restored"));
}

#[tokio::test]
async fn reset_demo_refuses_a_database_that_is_not_a_demo_and_touches_nothing() {
    let infra = demo_in_use().await;
    let pool = infra.pool().await;
    sqlx::raw_sql(
        "INSERT INTO raffle_activity (activity_id, activity_name, begin_date_time, end_date_time, strategy_id, state)
             VALUES (200001, 'live', '2024-01-01 00:00:00+08', '2034-01-01 00:00:00+08', 200001, 'open')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let output = reset_demo(&infra);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("resetting the demo data failed"), "{stderr}");
    assert!(stderr.contains("activity 200001 is not demo data"), "{stderr}");
    assert_eq!(user_rows(&pool).await, 9, "no row deleted");
    assert!(exists(&infra, "activity:{9011}:stock").await, "no key deleted");
}

#[tokio::test]
async fn reset_demo_refuses_a_database_with_a_behaviour_rebate_that_is_not_the_demo_s() {
    let infra = demo_in_use().await;
    let pool = infra.pool().await;
    sqlx::raw_sql(
        "INSERT INTO daily_behavior_rebate (behavior_type, rebate_desc, rebate_type, rebate_config)
             VALUES ('sign', 'live rebate', 'integral', '50')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let output = reset_demo(&infra);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("behaviour rebate 6 is not demo data"), "the seed moved the id sequence past 5: {stderr}");
    assert_eq!(user_rows(&pool).await, 9, "no row deleted");
}
