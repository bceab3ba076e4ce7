//! Repository tests on fresh databases: the outbox claim (due only, each task to one relay,
//! lease) and the exactly-once credit of an award record.
#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::str::FromStr;

use bm_award::storage::{AwardStore, Completion, NewAwardRecord, NewTask, Recorded};
use bm_testkit::TestInfra;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_730_000_000 + seconds, 0).unwrap()
}

fn record(order_id: &str) -> NewAwardRecord {
    NewAwardRecord {
        user_id: "u1".into(),
        order_id: order_id.into(),
        activity_id: 100_301,
        strategy_id: 100_006,
        award_id: 101,
        award_key: "user_credit_random".into(),
        award_title: "随机积分".into(),
        award_config: "1,100".into(),
        award_time: at(0),
    }
}

fn task(id: &str, due: DateTime<Utc>) -> NewTask {
    NewTask {
        id: id.into(),
        user_id: "u1".into(),
        subject: "test.award.send_award".into(),
        payload: format!(r#"{{"id":"{id}"}}"#),
        next_attempt_at: due,
    }
}

async fn store() -> (TestInfra, AwardStore) {
    let infra = TestInfra::new(Some(&bm_award::MIGRATOR)).await;
    let store = AwardStore::new(infra.pool().await);
    (infra, store)
}

#[tokio::test]
async fn the_relay_claims_only_due_tasks_each_once_under_a_lease() {
    let (_infra, store) = store().await;
    for n in 0..20 {
        let recorded = store.record_award(&record(&format!("o{n}")), &task(&format!("t{n}"), at(n))).await.unwrap();
        assert_eq!(recorded, Recorded::New);
    }
    store.complete_task("t0").await.unwrap();
    // At t=9: t1..t9 are due (t0 is completed, t10.. are not due yet).
    let (a, b) = tokio::join!(
        store.claim_due_tasks(at(9), at(9) + Duration::seconds(30), 5),
        store.claim_due_tasks(at(9), at(9) + Duration::seconds(30), 5),
    );
    let mut claimed: Vec<String> = a.unwrap().into_iter().chain(b.unwrap()).map(|t| t.id).collect();
    claimed.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    assert_eq!(claimed, ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"], "each due task once, no other");
    // At t=20 t10..t19 are due; t1..t9 stay with their relay until the lease ends at t=39.
    let later = store.claim_due_tasks(at(20), at(50), 100).await.unwrap();
    assert_eq!(later.len(), 10);
    assert!(later.iter().all(|t| t.id[1..].parse::<u32>().unwrap() >= 10), "leased tasks are not claimed twice");
    // A failed task comes back at its retry time with its attempts counted.
    store.fail_task("t1", "nats down", at(100)).await.unwrap();
    let again = store.claim_due_tasks(at(100), at(130), 100).await.unwrap();
    let t1 = again.iter().find(|t| t.id == "t1").unwrap();
    assert_eq!(t1.attempts, 2);
}

#[tokio::test]
async fn a_record_and_its_task_are_written_once_per_order() {
    let (_infra, store) = store().await;
    assert_eq!(store.record_award(&record("o1"), &task("t1", at(0))).await.unwrap(), Recorded::New);
    assert_eq!(store.record_award(&record("o1"), &task("t2", at(0))).await.unwrap(), Recorded::Duplicate);
    let other_user = NewAwardRecord { user_id: "u2".into(), ..record("o1") };
    assert!(matches!(
        store.record_award(&other_user, &task("t3", at(0))).await,
        Err(bm_award::usecase::AwardError::OrderTaken { .. })
    ));
    let (tasks,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox_task").fetch_one(store.pool()).await.unwrap();
    assert_eq!(tasks, 1, "a duplicate writes no task");
}

#[tokio::test]
async fn an_award_is_credited_once_and_the_ledger_matches_the_account() {
    let (_infra, store) = store().await;
    store.record_award(&record("o1"), &task("t1", at(0))).await.unwrap();
    store.record_award(&record("o2"), &task("t2", at(0))).await.unwrap();
    let amount = Decimal::from_str("12.3").unwrap();
    let (first, second) =
        tokio::join!(store.credit_award("u1", "o1", "c1", amount), store.credit_award("u1", "o1", "c2", amount),);
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|c| *c != Completion::Completed);
    assert_eq!(outcomes, [Completion::Completed, Completion::AlreadyCompleted]);
    let small = Decimal::from_str("0.0523").unwrap();
    assert_eq!(store.credit_award("u1", "o2", "c3", small).await.unwrap(), Completion::Completed);
    let account = store.credit_account("u1").await.unwrap().unwrap();
    assert_eq!((account.total_amount, account.available_amount), (amount + small, amount + small));
    let (rows, sum): (i64, Decimal) =
        sqlx::query_as("SELECT count(*), sum(trade_amount) FROM user_credit_order WHERE user_id = 'u1'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((rows, sum), (2, amount + small));
    // A record an operator reset to `create` completes again, but its credit is in the
    // ledger already: nothing is credited twice.
    sqlx::query("UPDATE user_award_record SET award_state = 'create' WHERE order_id = 'o1'")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.credit_award("u1", "o1", "c5", amount).await.unwrap(), Completion::Completed);
    let again = store.credit_account("u1").await.unwrap().unwrap();
    assert_eq!((again.total_amount, again.available_amount), (amount + small, amount + small));
    assert_eq!(store.award_state("u1", "o1").await.unwrap(), Some(bm_award::domain::AwardState::Completed));
    assert!(matches!(
        store.credit_award("u1", "missing", "c4", amount).await,
        Err(bm_award::usecase::AwardError::RecordMissing { .. })
    ));
}

/// The one interleaving the credit statement's ledger check cannot see (its snapshot is
/// taken before it waits for the record's row lock): another transaction completes the
/// record, books its credit, resets the record to `create` and commits while the statement
/// waits. The ledger's unique key stops a second credit: the statement fails as a whole,
/// and the retry completes the record without crediting.
#[tokio::test]
async fn a_credit_committed_while_the_statement_waited_is_not_booked_twice() {
    let (_infra, store) = store().await;
    store.record_award(&record("o3"), &task("t3", at(0))).await.unwrap();
    let amount = Decimal::from_str("7").unwrap();
    let mut other = store.pool().begin().await.unwrap();
    sqlx::query("UPDATE user_award_record SET award_state = 'completed' WHERE order_id = 'o3'")
        .execute(&mut *other)
        .await
        .unwrap();
    let credit = tokio::spawn({
        let store = store.clone();
        async move { store.credit_award("u1", "o3", "c-late", amount).await }
    });
    bm_testkit::blocked_on_a_lock(store.pool()).await;
    sqlx::raw_sql(
        "INSERT INTO user_credit_account (user_id, total_amount, available_amount) VALUES ('u1', 7, 7); \
         INSERT INTO user_credit_order (user_id, order_id, trade_name, trade_type, trade_amount, out_business_no, \
                                        total_after, available_after) \
         VALUES ('u1', 'c-first', 'award', 'forward', 7, 'award:o3', 7, 7); \
         UPDATE user_award_record SET award_state = 'create' WHERE order_id = 'o3'",
    )
    .execute(&mut *other)
    .await
    .unwrap();
    other.commit().await.unwrap();
    assert!(credit.await.unwrap().is_err(), "the ledger's unique key refuses the second credit");
    let account = store.credit_account("u1").await.unwrap().unwrap();
    assert_eq!(account.available_amount, amount, "credited once");
    assert_eq!(store.award_state("u1", "o3").await.unwrap(), Some(bm_award::domain::AwardState::Create));
    assert_eq!(store.credit_award("u1", "o3", "c-retry", amount).await.unwrap(), Completion::Completed);
    let (rows, available): (i64, Decimal) = sqlx::query_as(
        "SELECT count(*), (SELECT available_amount FROM user_credit_account WHERE user_id = 'u1') \
         FROM user_credit_order WHERE user_id = 'u1'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((rows, available), (1, amount), "the retry completed the record and credited nothing");
    assert_eq!(store.award_state("u1", "o3").await.unwrap(), Some(bm_award::domain::AwardState::Completed));
}

/// The state of each task and how many transactions marked the completed ones (rows one
/// statement updated share `xmin`).
async fn completion_of(pool: &sqlx::PgPool, ids: &[String]) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'completed'), \
                count(DISTINCT xmin::TEXT) FILTER (WHERE state = 'completed') \
         FROM outbox_task WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn tasks_published_meanwhile_are_marked_completed_by_one_statement() {
    use bm_server::outbox::{Outbox, OutboxStore, RelaySettings};
    use sqlx::Connection;

    let (infra, store) = store().await;
    let pool = infra.pool().await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(bm_testkit::nats_url()).await.unwrap());
    let subject = format!("{}.award.send_award", infra.subject_prefix);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("{}_AWARD", infra.stream_prefix),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let outbox = Outbox::new(
        OutboxStore::new(pool.clone()),
        jetstream.clone(),
        std::sync::Arc::new(bm_kernel::SystemClock),
        RelaySettings::default().timing(),
    );
    let ids: Vec<String> = (0..21).map(|n| format!("t{n}")).collect();
    let tasks: Vec<NewTask> = ids.iter().map(|id| NewTask { subject: subject.clone(), ..task(id, at(0)) }).collect();
    for (n, task) in tasks.iter().enumerate() {
        store.record_award(&record(&format!("o{n}")), task).await.unwrap();
    }

    // An open transaction holds t0's row: the completer's statement for t0 waits for it,
    // and the twenty tasks published meanwhile queue up behind that statement.
    let mut holder = sqlx::PgConnection::connect(&infra.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM outbox_task WHERE id = 't0' FOR UPDATE").execute(&mut holder).await.unwrap();
    let first = tokio::spawn({
        let (outbox, task) = (outbox.clone(), tasks[0].clone());
        async move { outbox.publish_committed(&task).await }
    });
    bm_testkit::blocked_on_a_lock(&pool).await;
    let rest = tokio::spawn({
        let (outbox, tasks) = (outbox.clone(), tasks[1..].to_vec());
        async move { futures_util::future::join_all(tasks.iter().map(|task| outbox.publish_committed(task))).await }
    });
    // All twenty acknowledged by JetStream (so queued for marking, a moment later), none marked.
    let stream_name = format!("{}_AWARD", infra.stream_prefix);
    let messages = || async { jetstream.get_stream(&stream_name).await.unwrap().info().await.unwrap().state.messages };
    bm_testkit::eventually("all 21 tasks published", || async { messages().await == 21 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!rest.is_finished(), "the publishers wait for their marking");
    assert_eq!(completion_of(&pool, &ids).await, (0, 0), "nothing is marked while the first statement waits");

    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    assert!(first.await.unwrap(), "t0 was published");
    assert!(rest.await.unwrap().into_iter().all(|published| published), "all were published");
    assert_eq!(completion_of(&pool, &ids[..1]).await, (1, 1));
    assert_eq!(completion_of(&pool, &ids[1..]).await, (20, 1), "the twenty queued tasks: one statement, one commit");
}
