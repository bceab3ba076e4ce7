//! The activity stage (活动展台, spec §5 `raffle_activity_stage`) against real Postgres and
//! Redis: the use cases in process with a mock clock (one active stage per channel and
//! source, replacing expires, repeats change nothing, refusals write nothing, concurrent
//! puts), the schema's own guards, the demo seed, and the gRPC edge of the binary.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::{sync::Arc, time::Duration};

use bm_activity::{
    domain::{ActivityRuleError, StageKey, StageState},
    events::SkuEvents,
    storage::{ActivityStore, SkuStock},
    usecase::{ActivityError, ActivityUseCases},
};
use bm_api::activity::{
    GetStageActivityRequest, ListActivityStagesRequest, PutActivityOnStageRequest,
    activity_service_client::ActivityServiceClient,
};
use bm_kernel::{MockClock, StageCode};
use bm_testkit::{ServiceProcess, TestInfra};
use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use sqlx::PgPool;
use tonic::{Code, Status};

/// Activities beside the demo's: closed, not opened yet (`create`), ended, and a second open one.
const EXTRA_ACTIVITIES: &str = "
    INSERT INTO raffle_activity (activity_id, activity_name, begin_date_time, end_date_time, strategy_id, state) VALUES
        (700001, 'closed', '2024-01-01 00:00:00+08', '2034-01-01 00:00:00+08', 700001, 'close'),
        (700002, 'configured', '2024-01-01 00:00:00+08', '2034-01-01 00:00:00+08', 700002, 'create'),
        (700003, 'ended', '2024-01-01 00:00:00+08', '2025-01-01 00:00:00+08', 700003, 'open');";

struct Fixture {
    infra: TestInfra,
    pool: PgPool,
    clock: Arc<MockClock>,
    use_cases: ActivityUseCases,
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

/// The demo data plus [`EXTRA_ACTIVITIES`]; the clock stands where both demo activities run
/// (100401 ends 2026-10-06).
async fn fixture() -> Fixture {
    let infra = TestInfra::new(Some(&bm_activity::MIGRATOR)).await;
    let pool = infra.pool().await;
    sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&pool).await.unwrap();
    sqlx::raw_sql(EXTRA_ACTIVITIES).execute(&pool).await.unwrap();
    let clock = Arc::new(MockClock::new(at("2026-06-01T12:00:00+08:00")));
    let use_cases = ActivityUseCases::new(
        ActivityStore::new(pool.clone()),
        SkuStock::new(infra.redis(), &infra.redis_prefix, Duration::from_millis(300)),
        SkuEvents::new(None, format!("{}.activity.sku_stock_zero", infra.subject_prefix), clock.clone()),
        clock.clone(),
        chrono_tz::Asia::Shanghai,
        Duration::from_secs(5),
    );
    Fixture { infra, pool, clock, use_cases }
}

fn key(channel: &str, source: &str) -> StageKey {
    StageKey { channel: StageCode::parse(channel).unwrap(), source: StageCode::parse(source).unwrap() }
}

/// (channel, source, activity_id, state) of every row, by id.
async fn rows(pool: &PgPool) -> Vec<(String, String, i64, String)> {
    sqlx::query_as("SELECT channel, source, activity_id, state FROM raffle_activity_stage ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn row(channel: &str, source: &str, activity_id: i64, state: &str) -> (String, String, i64, String) {
    (channel.into(), source.into(), activity_id, state.into())
}

#[tokio::test]
async fn the_demo_seed_shows_100401_on_c01_s01_and_is_idempotent() {
    let f = fixture().await;
    assert_eq!(rows(&f.pool).await, [row("c01", "s01", 100_401, "active")]);
    assert_eq!(f.use_cases.stage_activity(&key("c01", "s01")).await.unwrap(), 100_401);
    sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&f.pool).await.unwrap();
    assert_eq!(rows(&f.pool).await.len(), 1, "seeding again adds nothing");
    // An operator's choice survives a re-seed.
    f.use_cases.put_on_stage(&key("c01", "s01"), 100_301).await.unwrap();
    sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&f.pool).await.unwrap();
    assert_eq!(rows(&f.pool).await, [row("c01", "s01", 100_401, "expire"), row("c01", "s01", 100_301, "active")]);
}

#[tokio::test]
async fn putting_an_activity_on_a_fresh_stage_shows_it_and_armories_its_skus() {
    let f = fixture().await;
    let (put, strategy_id) = f.use_cases.put_on_stage(&key("c02", "s01"), 100_301).await.unwrap();
    assert!(put.changed);
    assert_eq!(put.replaced, None);
    assert_eq!(strategy_id, 100_006);
    assert_eq!(
        (put.stage.channel.as_str(), put.stage.source.as_str(), put.stage.activity_id, put.stage.state),
        ("c02", "s01", 100_301, StageState::Active)
    );
    assert_eq!(f.use_cases.stage_activity(&key("c02", "s01")).await.unwrap(), 100_301);
    assert_eq!(f.use_cases.stage_activity(&key("c01", "s01")).await.unwrap(), 100_401, "other stages untouched");
    // The sku stock is armoried, as the original's update_stage_activity_2_active did.
    let mut redis = f.infra.redis().get().await.unwrap();
    for (sku, left) in [(9011, 99_887), (9014, 99_866)] {
        let key = format!("{}activity:{{{sku}}}:stock", f.infra.redis_prefix);
        let counter: Option<i64> = redis::cmd("GET").arg(key).query_async(&mut redis).await.unwrap();
        assert_eq!(counter, Some(left), "sku {sku}");
    }
    assert!(f.use_cases.armoried_skus().contains(&9011), "the sku joins the batch sync");
}

#[tokio::test]
async fn replacing_expires_the_previous_stage_and_keeps_one_active() {
    let f = fixture().await;
    let (put, _) = f.use_cases.put_on_stage(&key("c01", "s01"), 100_301).await.unwrap();
    let replaced = put.replaced.unwrap();
    assert_eq!((replaced.activity_id, replaced.state), (100_401, StageState::Expire));
    assert!(replaced.updated_at >= replaced.created_at);
    assert_eq!(f.use_cases.stage_activity(&key("c01", "s01")).await.unwrap(), 100_301);
    // And back: a new row, the previous one expired; the history stays.
    let (back, _) = f.use_cases.put_on_stage(&key("c01", "s01"), 100_401).await.unwrap();
    assert_eq!(back.replaced.map(|r| (r.id, r.activity_id)), Some((put.stage.id, 100_301)));
    assert!(back.stage.id > put.stage.id);
    assert_eq!(
        rows(&f.pool).await,
        [
            row("c01", "s01", 100_401, "expire"),
            row("c01", "s01", 100_301, "expire"),
            row("c01", "s01", 100_401, "active")
        ]
    );
}

#[tokio::test]
async fn a_repeated_put_changes_nothing() {
    let f = fixture().await;
    let (first, _) = f.use_cases.put_on_stage(&key("c02", "s01"), 100_301).await.unwrap();
    let (again, strategy_id) = f.use_cases.put_on_stage(&key("c02", "s01"), 100_301).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.replaced, None);
    assert_eq!(again.stage, first.stage, "the same row, untouched");
    assert_eq!(strategy_id, 100_006);
    // The seed's stage too.
    let (seeded, _) = f.use_cases.put_on_stage(&key("c01", "s01"), 100_401).await.unwrap();
    assert!(!seeded.changed);
    assert_eq!(rows(&f.pool).await, [row("c01", "s01", 100_401, "active"), row("c02", "s01", 100_301, "active")]);
}

#[tokio::test]
async fn an_unknown_activity_is_not_found_and_writes_nothing() {
    let f = fixture().await;
    let error = f.use_cases.put_on_stage(&key("c01", "s01"), 999_999).await.unwrap_err();
    assert!(matches!(error, ActivityError::ActivityNotFound(999_999)), "{error:?}");
    assert_eq!(rows(&f.pool).await, [row("c01", "s01", 100_401, "active")]);
    let missing = f.use_cases.stage_activity(&key("c09", "s09")).await.unwrap_err();
    assert!(matches!(&missing, ActivityError::StageNotFound(stage) if stage == "c09/s09"), "{missing:?}");
}

#[tokio::test]
async fn a_closed_unopened_or_ended_activity_is_refused_and_the_stage_kept() {
    let f = fixture().await;
    for activity_id in [700_001, 700_002] {
        let error = f.use_cases.put_on_stage(&key("c01", "s01"), activity_id).await.unwrap_err();
        assert!(matches!(error, ActivityError::Rule(ActivityRuleError::NotOpen { .. })), "{activity_id}: {error:?}");
    }
    let error = f.use_cases.put_on_stage(&key("c01", "s01"), 700_003).await.unwrap_err();
    assert!(matches!(error, ActivityError::Rule(ActivityRuleError::OutOfDate { .. })), "{error:?}");
    // 100401 ends 2026-10-06 12:09:34 (+08): a second later it can no longer be staged.
    f.clock.set(at("2026-10-06T12:09:35+08:00"));
    let error = f.use_cases.put_on_stage(&key("c02", "s01"), 100_401).await.unwrap_err();
    assert!(matches!(error, ActivityError::Rule(ActivityRuleError::OutOfDate { .. })), "{error:?}");
    assert_eq!(rows(&f.pool).await, [row("c01", "s01", 100_401, "active")], "nothing written");
    // The activity is read fresh: opening the closed one makes it stageable at once.
    sqlx::query("UPDATE raffle_activity SET state = 'open' WHERE activity_id = 700001").execute(&f.pool).await.unwrap();
    f.use_cases.put_on_stage(&key("c01", "s01"), 700_001).await.unwrap();
    assert_eq!(f.use_cases.stage_activity(&key("c01", "s01")).await.unwrap(), 700_001);
}

#[tokio::test]
async fn concurrent_puts_on_one_stage_all_succeed_and_leave_one_active() {
    let f = fixture().await;
    let puts = (0..16).map(|i| {
        let use_cases = f.use_cases.clone();
        tokio::spawn(async move {
            let activity_id = if i % 2 == 0 { 100_301 } else { 100_401 };
            use_cases.put_on_stage(&key("c03", "s03"), activity_id).await
        })
    });
    for put in futures_util::future::join_all(puts).await {
        put.unwrap().unwrap();
    }
    let active: Vec<(i64,)> = sqlx::query_as(
        "SELECT activity_id FROM raffle_activity_stage WHERE channel = 'c03' AND source = 's03' AND state = 'active'",
    )
    .fetch_all(&f.pool)
    .await
    .unwrap();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(f.use_cases.stage_activity(&key("c03", "s03")).await.unwrap(), active[0].0);
    let states: Vec<String> = rows(&f.pool).await.into_iter().filter(|r| r.0 == "c03").map(|r| r.3).collect::<Vec<_>>();
    assert!(states.iter().all(|s| s == "active" || s == "expire"), "{states:?}");
}

#[tokio::test]
async fn the_schema_allows_one_active_stage_per_channel_and_source_and_no_null_state() {
    let f = fixture().await;
    let second = sqlx::query(
        "INSERT INTO raffle_activity_stage (channel, source, activity_id, state) VALUES ('c01', 's01', 100301, 'active')",
    )
    .execute(&f.pool)
    .await
    .unwrap_err();
    let database = second.as_database_error().unwrap();
    assert!(database.is_unique_violation(), "{second}");
    assert_eq!(database.constraint(), Some("uq_stage_active"));
    // Other states may repeat; the state is never NULL (the original's appendStageActivity
    // inserted NULL) and defaults to create.
    sqlx::raw_sql(
        "INSERT INTO raffle_activity_stage (channel, source, activity_id, state) VALUES
             ('c01', 's01', 100301, 'expire'), ('c01', 's01', 100301, 'expire');
         INSERT INTO raffle_activity_stage (channel, source, activity_id) VALUES ('c01', 's01', 100301);",
    )
    .execute(&f.pool)
    .await
    .unwrap();
    for bad in [
        "INSERT INTO raffle_activity_stage (channel, source, activity_id, state) VALUES ('c01', 's01', 100301, NULL)",
        "INSERT INTO raffle_activity_stage (channel, source, activity_id, state) VALUES ('c01', 's01', 100301, 'open')",
        "INSERT INTO raffle_activity_stage (channel, source, activity_id) VALUES ('c 1', 's01', 100301)",
        "INSERT INTO raffle_activity_stage (channel, source, activity_id) VALUES ('c01', 's01', 999999)",
    ] {
        assert!(sqlx::query(bad).execute(&f.pool).await.is_err(), "{bad}");
    }
    let listed = f.use_cases.list_stages(Some(StageState::Create), 100).await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn stages_are_listed_newest_first_by_state_and_limited() {
    let f = fixture().await;
    f.use_cases.put_on_stage(&key("c02", "s01"), 100_301).await.unwrap();
    f.use_cases.put_on_stage(&key("c01", "s01"), 100_301).await.unwrap();
    let all = f.use_cases.list_stages(None, 100).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|s| s.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let summary: Vec<(&str, i64, StageState)> =
        all.iter().map(|s| (s.channel.as_str(), s.activity_id, s.state)).collect();
    assert_eq!(
        summary,
        [
            ("c01", 100_301, StageState::Active),
            ("c02", 100_301, StageState::Active),
            ("c01", 100_401, StageState::Expire)
        ]
    );
    let active = f.use_cases.list_stages(Some(StageState::Active), 100).await.unwrap();
    assert_eq!(active.len(), 2);
    let expired = f.use_cases.list_stages(Some(StageState::Expire), 100).await.unwrap();
    assert_eq!(expired.iter().map(|s| s.activity_id).collect::<Vec<_>>(), [100_401]);
    assert_eq!(f.use_cases.list_stages(None, 1).await.unwrap().len(), 1);
}

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

#[tokio::test]
async fn the_grpc_edge_validates_input_and_maps_errors() {
    let infra = TestInfra::new(Some(&bm_activity::MIGRATOR)).await;
    let pool = infra.pool().await;
    sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&pool).await.unwrap();
    sqlx::raw_sql(EXTRA_ACTIVITIES).execute(&pool).await.unwrap();
    let process = ServiceProcess::spawn(env!("CARGO_BIN_EXE_activity"), &infra.service_env()).await;
    let client = ActivityServiceClient::new(process.channel().await);
    let put = |channel: &str, source: &str, activity_id: i64| {
        let request = PutActivityOnStageRequest { channel: channel.into(), source: source.into(), activity_id };
        let mut client = client.clone();
        async move { client.put_activity_on_stage(request).await.map(tonic::Response::into_inner) }
    };

    let shown = put("c02", "s01", 100_301).await.unwrap();
    assert_eq!((shown.changed, shown.replaced_activity_id, shown.strategy_id), (true, 0, 100_006));
    let stage = shown.stage.unwrap();
    assert_eq!((stage.channel.as_str(), stage.source.as_str(), stage.state.as_str()), ("c02", "s01", "active"));
    assert!(stage.created_at.is_some() && stage.updated_at.is_some());
    let replaced = put("c01", "s01", 100_301).await.unwrap();
    assert_eq!((replaced.changed, replaced.replaced_activity_id), (true, 100_401));

    for (channel, source, activity_id, field) in [
        ("", "s01", 100_301, "channel"),
        ("c012345678", "s01", 100_301, "channel"),
        ("c 1", "s01", 100_301, "channel"),
        ("c01", "", 100_301, "source"),
        ("c01", "来源", 100_301, "source"),
        ("c01", "s01", 0, "activity_id"),
        ("c01", "s01", -1, "activity_id"),
    ] {
        let status = put(channel, source, activity_id).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{channel:?} {source:?} {activity_id}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    assert_eq!(code(&put("c01", "s01", 999_999).await.unwrap_err()), (Code::NotFound, Some("BM_NOT_FOUND")));
    assert_eq!(code(&put("c01", "s01", 700_001).await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_003")));
    assert_eq!(code(&put("c01", "s01", 700_003).await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_004")));

    let get = |channel: &str, source: &str| {
        let request = GetStageActivityRequest { channel: channel.into(), source: source.into() };
        let mut client = client.clone();
        async move { client.get_stage_activity(request).await.map(|r| r.into_inner().activity_id) }
    };
    assert_eq!(get("c01", "s01").await.unwrap(), 100_301);
    assert_eq!(code(&get("c09", "s01").await.unwrap_err()), (Code::NotFound, Some("BM_NOT_FOUND")));
    assert_eq!(code(&get("c01", "s 1").await.unwrap_err()), (Code::InvalidArgument, Some("0002")));

    let list = |state: &str, limit: u32| {
        let request = ListActivityStagesRequest { state: state.into(), limit };
        let mut client = client.clone();
        async move { client.list_activity_stages(request).await.map(|r| r.into_inner().stages) }
    };
    let states: Vec<(i64, String)> = list("", 0).await.unwrap().into_iter().map(|s| (s.activity_id, s.state)).collect();
    assert_eq!(states, [(100_301, "active".into()), (100_301, "active".into()), (100_401, "expire".into())]);
    assert_eq!(list("expire", 0).await.unwrap().len(), 1);
    assert_eq!(list("", 1).await.unwrap().len(), 1);
    for (state, limit) in [("ACTIVE", 0), ("open", 0), ("", 1001)] {
        assert_eq!(code(&list(state, limit).await.unwrap_err()), (Code::InvalidArgument, Some("0002")), "{state}");
    }
}
