//! Group commit of draw records (issue #9) against a real Postgres: many records in one
//! statement, each exactly once, an earlier record winning, retired epochs refused, one bad
//! record failing alone, and records that waited too long refused unwritten.
//!
//! Batches are made deterministic by a blocker: a test transaction holds the key of the
//! writer's first record, so that statement waits (with the only in-flight permit) while the
//! next records queue up behind it.

#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::time::Duration;

use bm_strategy::storage::{BatchSettings, DrawRecord, MAX_QUEUE_WAIT, Recorded, ResultWriter, StrategyStore};
use bm_testkit::TestInfra;
use sqlx::{Connection, PgConnection, PgPool};

const STRATEGY: i64 = 100_006;

fn record(order: &str, award_id: i32, epoch: Option<i32>) -> DrawRecord {
    DrawRecord {
        strategy_id: STRATEGY,
        order_id: order.to_owned(),
        user_id: format!("user-{order}"),
        award_id,
        award_config: String::new(),
        rule_model: "rule_default".to_owned(),
        stock_award_id: None,
        epoch,
        total_partake_count: Some(1),
        day_partake_count: Some(1),
        chain_model: Some("rule_default".to_owned()),
        chain_award_id: Some(award_id),
        stock_outcome: Some("none".to_owned()),
    }
}

fn stored(answer: &Recorded) -> &DrawRecord {
    match answer {
        Recorded::Stored(record) => record,
        Recorded::EpochRetired => panic!("expected a stored record, got {answer:?}"),
    }
}

async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM strategy_draw_result").fetch_one(pool).await.unwrap().0
}

/// How many transactions wrote the rows of `orders` (rows of one statement share `xmin`).
async fn transactions(pool: &PgPool, orders: &[String]) -> i64 {
    sqlx::query_as::<_, (i64,)>("SELECT count(DISTINCT xmin::TEXT) FROM strategy_draw_result WHERE order_id = ANY($1)")
        .bind(orders)
        .fetch_one(pool)
        .await
        .unwrap()
        .0
}

/// A seed epoch row of `STRATEGY` (retired or not).
async fn epoch(pool: &PgPool, epoch: i32, retired: bool) {
    sqlx::query(
        "INSERT INTO strategy_seed (strategy_id, epoch, sealed_seed, commitment, sheet, sheet_sha256, retired_at) \
         VALUES ($1, $2, '\\x00', repeat('0', 64), '{}', repeat('0', 64), CASE WHEN $3 THEN now() END)",
    )
    .bind(STRATEGY)
    .bind(epoch)
    .bind(retired)
    .execute(pool)
    .await
    .unwrap();
}

/// Holds `order`'s key in an open transaction until the returned connection commits.
async fn blocker(infra: &TestInfra, order: &str) -> PgConnection {
    let mut connection = PgConnection::connect(&infra.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
    sqlx::query(
        "INSERT INTO strategy_draw_result (strategy_id, order_id, user_id, award_id, rule_model) \
         VALUES ($1, $2, 'blocker', 101, 'rule_default')",
    )
    .bind(STRATEGY)
    .bind(order)
    .execute(&mut connection)
    .await
    .unwrap();
    connection
}

/// A writer with one statement in flight, blocked on o-0 by an open transaction (`holder`),
/// so what is recorded next queues up behind it.
struct Blocked {
    _infra: TestInfra,
    pool: PgPool,
    writer: ResultWriter,
    holder: PgConnection,
    first: tokio::task::JoinHandle<Result<Recorded, bm_strategy::usecase::StrategyError>>,
}

impl Blocked {
    async fn start() -> Self {
        let infra = TestInfra::new(Some(&bm_strategy::MIGRATOR)).await;
        let pool = infra.pool().await;
        let writer =
            ResultWriter::start(StrategyStore::new(pool.clone()), BatchSettings { max_batch: 128, in_flight: 1 });
        let holder = blocker(&infra, "o-0").await;
        let first = tokio::spawn({
            let writer = writer.clone();
            async move { writer.record(record("o-0", 102, None)).await }
        });
        bm_testkit::blocked_on_a_lock(&pool).await;
        Self { _infra: infra, pool, writer, holder, first }
    }
}

#[tokio::test]
async fn one_statement_records_each_order_once_and_the_first_record_of_an_order_wins() {
    let infra = TestInfra::new(Some(&bm_strategy::MIGRATOR)).await;
    let pool = infra.pool().await;
    let store = StrategyStore::new(pool.clone());
    epoch(&pool, 1, true).await;
    epoch(&pool, 2, false).await;
    let earlier = record("o-earlier", 101, Some(2));
    assert_eq!(
        store.insert_results(std::slice::from_ref(&earlier)).await.unwrap(),
        [Recorded::Stored(Box::new(earlier.clone()))]
    );

    let batch = [
        record("o-3", 103, Some(2)),
        record("o-earlier", 105, Some(2)), // an earlier attempt of the order is recorded
        record("o-1", 101, None),          // recorded before verifiable draws: no epoch to check
        record("o-dup", 102, Some(2)),
        record("o-retired", 104, Some(1)), // its epoch was retired meanwhile
        record("o-dup", 106, Some(2)),     // a concurrent attempt of o-dup in the same batch
    ];
    let answers = store.insert_results(&batch).await.unwrap();

    assert_eq!(answers.len(), batch.len(), "one answer per record, in order");
    assert_eq!(stored(&answers[0]), &batch[0]);
    assert_eq!(stored(&answers[1]), &earlier, "the earlier record of the order wins");
    assert_eq!(stored(&answers[2]), &batch[2]);
    assert_eq!(stored(&answers[3]), &batch[3], "the first of two attempts in one batch wins");
    assert_eq!(answers[4], Recorded::EpochRetired, "never recorded in a retired epoch");
    assert_eq!(stored(&answers[5]), &batch[3], "the second attempt gets the first one's record");
    assert_eq!(rows(&pool).await, 4, "o-earlier, o-3, o-1, o-dup");
    let written: Vec<String> = ["o-3", "o-1", "o-dup"].map(str::to_owned).to_vec();
    assert_eq!(transactions(&pool, &written).await, 1, "one statement, one commit");
}

#[tokio::test]
async fn the_writer_groups_what_queued_behind_a_running_batch() {
    let Blocked { _infra, pool, writer, mut holder, first } = Blocked::start().await;
    let orders: Vec<String> = (1..=40).map(|n| format!("o-{n}")).collect();
    let queued: Vec<_> = orders
        .iter()
        .map(|order| {
            let writer = writer.clone();
            let record = record(order, 101, None);
            tokio::spawn(async move { (writer.record(record.clone()).await, record) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();

    let first = first.await.unwrap().unwrap();
    assert_eq!(stored(&first).user_id, "blocker", "the blocker recorded o-0 first");
    for task in queued {
        let (answer, record) = task.await.unwrap();
        assert_eq!(stored(&answer.unwrap()), &record);
    }
    assert_eq!(rows(&pool).await, 41);
    assert_eq!(transactions(&pool, &orders).await, 1, "the 40 queued records were written by one statement");
}

#[tokio::test]
async fn a_record_the_database_refuses_fails_alone() {
    let Blocked { _infra, pool, writer, mut holder, first } = Blocked::start().await;
    let mut bad = record("o-bad", 101, None);
    bad.award_config = "x".repeat(65); // longer than the column
    let records: Vec<DrawRecord> =
        (1..=9).map(|n| record(&format!("o-{n}"), 101, None)).chain(std::iter::once(bad)).collect();
    let queued: Vec<_> = records
        .iter()
        .map(|record| {
            let writer = writer.clone();
            let record = record.clone();
            tokio::spawn(async move { (writer.record(record.clone()).await, record) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    first.await.unwrap().unwrap();

    for task in queued {
        let (answer, record) = task.await.unwrap();
        if record.order_id == "o-bad" {
            let error = answer.unwrap_err().to_string();
            assert!(error.contains("database"), "the bad record's own error: {error}");
        } else {
            assert_eq!(stored(&answer.unwrap()), &record, "a good record of the failed batch is still written");
        }
    }
    assert_eq!(rows(&pool).await, 10, "o-0 and the nine good records");
}

#[tokio::test]
async fn records_that_waited_too_long_are_refused_unwritten() {
    let Blocked { _infra, pool, writer, mut holder, first } = Blocked::start().await;
    let late = tokio::spawn({
        let writer = writer.clone();
        async move { writer.record(record("o-late", 101, None)).await }
    });
    tokio::time::sleep(MAX_QUEUE_WAIT + Duration::from_millis(300)).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    first.await.unwrap().unwrap();

    let refused = late.await.unwrap();
    assert!(
        matches!(refused, Err(bm_strategy::usecase::StrategyError::Database(sqlx::Error::PoolTimedOut))),
        "refused as an unavailable database (retryable): {refused:?}"
    );
    assert_eq!(rows(&pool).await, 1, "only the blocker's o-0: the late record was not written");
    let on_time = writer.record(record("o-next", 101, None)).await.unwrap();
    assert_eq!(stored(&on_time).order_id, "o-next", "the writer goes on");
}
