//! Black-box gRPC tests of the award service against real Postgres, Redis and NATS: the
//! record → send_award → distribution path, idempotency, bad input, parking, the faults of
//! issue #6 (NATS down, a message delivered twice, a crash between commit and publish) and
//! the ledger invariant after a burst of 500 awards; and credit trades (issue #14): forward and
//! reverse, ERR_CREDIT_001, idempotency, bad input, concurrent reverse trades, the
//! credit_adjust_success event and NATS down during a trade.
#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use bm_api::award::{
    CreditTradeRequest, CreditTradeResponse, ListUserAwardsRequest, QueryUserCreditRequest, RecordAwardRequest,
    RecordAwardResponse, award_service_client::AwardServiceClient,
};
use bm_testkit::{NatsServer, ServiceProcess, TestInfra, lifecycle::with_env};
use futures_util::StreamExt;
use rust_decimal::Decimal;
use tonic::{Code, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_award");

struct App {
    infra: TestInfra,
    process: ServiceProcess,
    client: AwardServiceClient<Channel>,
    pool: sqlx::PgPool,
    nats_url: String,
}

/// Small relay timings, so retries happen within a test.
fn fast_env(infra: &TestInfra, nats_url: Option<&str>) -> Vec<(String, String)> {
    let mut env = infra.service_env();
    for (key, value) in [
        ("BM_SERVICE__RELAY_INTERVAL_MS", "100"),
        ("BM_SERVICE__RELAY_AFTER_MS", "500"),
        ("BM_SERVICE__RETRY_BASE_MS", "200"),
        ("BM_SERVICE__RETRY_MAX_MS", "1000"),
        ("BM_SERVICE__PUBLISH_TIMEOUT_MS", "1000"),
        ("BM_SERVICE__RELAY_LEASE_MS", "5000"),
    ] {
        env = with_env(&env, key, value);
    }
    if let Some(url) = nats_url {
        env = with_env(&env, "BM_NATS__URL", url);
    }
    env
}

impl App {
    async fn spawn() -> Self {
        let infra = TestInfra::new(Some(&bm_award::MIGRATOR)).await;
        Self::spawn_on(infra, None).await
    }

    async fn spawn_on(infra: TestInfra, nats: Option<&NatsServer>) -> Self {
        let pool = infra.pool().await;
        let nats_url = nats.map_or_else(bm_testkit::nats_url, NatsServer::url);
        let process = ServiceProcess::spawn(BINARY, &fast_env(&infra, Some(&nats_url))).await;
        let client = AwardServiceClient::new(process.channel().await);
        Self { infra, process, client, pool, nats_url }
    }

    async fn record(&self, request: RecordAwardRequest) -> Result<RecordAwardResponse, tonic::Status> {
        self.client.clone().record_award(request).await.map(tonic::Response::into_inner)
    }

    async fn state(&self, order_id: &str) -> Option<String> {
        sqlx::query_as::<_, (String,)>("SELECT award_state FROM user_award_record WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
            .map(|(s,)| s)
    }

    async fn parked_reason(&self, order_id: &str) -> Option<String> {
        sqlx::query_as::<_, (Option<String>,)>("SELECT parked_reason FROM user_award_record WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .0
    }

    async fn wait_state(&self, order_id: &str, state: &str) {
        eventually(&format!("order {order_id} reaching {state}"), Duration::from_secs(30), || async {
            self.state(order_id).await.as_deref() == Some(state)
        })
        .await;
    }

    /// (state, attempts, last_error) of an order's outbox task.
    async fn task(&self, order_id: &str) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT state, attempts, last_error FROM outbox_task WHERE payload->'data'->>'order_id' = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The ledger rows of a user: (out_business_no, trade_amount).
    async fn ledger(&self, user_id: &str) -> Vec<(String, Decimal)> {
        sqlx::query_as("SELECT out_business_no, trade_amount FROM user_credit_order WHERE user_id = $1 ORDER BY 1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    async fn account(&self, user_id: &str) -> Option<(Decimal, Decimal)> {
        sqlx::query_as("SELECT total_amount, available_amount FROM user_credit_account WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_as::<_, (i64,)>(sql).fetch_one(&self.pool).await.unwrap().0
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }

    fn stream(&self) -> String {
        format!("{}_AWARD", self.infra.stream_prefix)
    }

    fn subject(&self, event: &str) -> String {
        format!("{}.award.{event}", self.infra.subject_prefix)
    }

    async fn trade(&self, request: CreditTradeRequest) -> Result<CreditTradeResponse, tonic::Status> {
        self.client.clone().credit_trade(request).await.map(tonic::Response::into_inner)
    }

    /// The credit_adjust_success messages in the stream, oldest first: (Nats-Msg-Id, envelope).
    async fn credit_events(&self) -> Vec<(String, serde_json::Value)> {
        let mut stream = self.jetstream().await.get_stream(self.stream()).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let subject = self.subject("credit_adjust_success");
        let mut events = Vec::new();
        for sequence in 1..=last {
            let Ok(message) = stream.get_raw_message(sequence).await else { continue };
            if message.subject.as_str() == subject {
                let id = message.headers.get("Nats-Msg-Id").map(async_nats::HeaderValue::as_str).unwrap().to_owned();
                events.push((id, serde_json::from_slice(&message.payload).unwrap()));
            }
        }
        events
    }

    /// The ledger rows of a user with their direction: (out_business_no, trade_type, trade_amount).
    async fn trades(&self, user_id: &str) -> Vec<(String, String, Decimal)> {
        sqlx::query_as(
            "SELECT out_business_no, trade_type, trade_amount FROM user_credit_order WHERE user_id = $1 \
             ORDER BY created_at, out_business_no",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    async fn stream_messages(&self) -> u64 {
        let mut stream = self.jetstream().await.get_stream(self.stream()).await.unwrap();
        stream.info().await.unwrap().state.messages
    }
}

fn award(user_id: &str, order_id: &str, award_key: &str, award_config: &str) -> RecordAwardRequest {
    RecordAwardRequest {
        user_id: user_id.into(),
        activity_id: 100_301,
        strategy_id: 100_006,
        order_id: order_id.into(),
        award_id: 101,
        award_key: award_key.into(),
        award_title: "随机积分".into(),
        award_config: award_config.into(),
    }
}

fn credit(user_id: &str, order_id: &str) -> RecordAwardRequest {
    award(user_id, order_id, "user_credit_random", "1,100")
}

fn trade(user_id: &str, out_business_no: &str, trade_type: &str, amount: &str) -> CreditTradeRequest {
    CreditTradeRequest {
        user_id: user_id.into(),
        out_business_no: out_business_no.into(),
        trade_name: "rebate".into(),
        trade_type: trade_type.into(),
        amount: amount.into(),
    }
}

fn bm_code(status: &tonic::Status) -> Option<&'static str> {
    bm_status::code_of(status).map(bm_status::ErrorCode::as_str)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn has_three_significant_digits(amount: Decimal) -> bool {
    amount.round_sf(3).unwrap() == amount
}

/// The value of an unlabelled gauge in Prometheus text (`-1` when absent).
fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(-1.0)
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // A bound for background work to happen at all, not a performance assertion.
    let started = Instant::now();
    while started.elapsed() < within {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test]
async fn recorded_award_is_credited_once_in_its_range_with_a_ledger_row() {
    let app = App::spawn().await;
    let response = app.record(credit("u1", "order-1")).await.unwrap();
    assert!(!response.duplicate);
    app.wait_state("order-1", "completed").await;

    let (total, available) = app.account("u1").await.unwrap();
    assert_eq!(total, available);
    assert!(total >= dec("1") && total <= dec("100"), "{total}");
    assert!(has_three_significant_digits(total), "{total}");
    assert_eq!(app.ledger("u1").await, vec![("award:order-1".to_owned(), total)]);
    // Published after the answer, in the background; marked completed once acknowledged.
    eventually("the task completing", Duration::from_secs(30), || async { app.task("order-1").await.0 == "completed" })
        .await;

    let credit = app.client.clone().query_user_credit(QueryUserCreditRequest { user_id: "u1".into() }).await;
    let credit = credit.unwrap().into_inner();
    assert_eq!((dec(&credit.total_amount), dec(&credit.available_amount)), (total, total));
    let records = app
        .client
        .clone()
        .list_user_awards(ListUserAwardsRequest { user_id: "u1".into(), activity_id: 100_301 })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].order_id.as_str(), records[0].award_state.as_str()), ("order-1", "completed"));
    assert_eq!((records[0].award_id, records[0].award_title.as_str()), (101, "随机积分"));
    assert!(records[0].award_time.is_some());
}

#[tokio::test]
async fn the_blacklist_range_credits_small_amounts_with_three_significant_digits() {
    let app = App::spawn().await;
    for n in 0..5 {
        app.record(award("user001", &format!("bl-{n}"), "user_credit_random", "0.01,1")).await.unwrap();
    }
    for n in 0..5 {
        app.wait_state(&format!("bl-{n}"), "completed").await;
    }
    let ledger = app.ledger("user001").await;
    assert_eq!(ledger.len(), 5);
    for (_, amount) in &ledger {
        assert!(*amount >= dec("0.01") && *amount <= dec("1"), "{amount}");
        assert!(has_three_significant_digits(*amount), "{amount}");
    }
    let sum: Decimal = ledger.iter().map(|(_, a)| *a).sum();
    assert_eq!(app.account("user001").await, Some((sum, sum)));
}

#[tokio::test]
async fn a_repeated_record_is_a_duplicate_and_credits_once() {
    let app = App::spawn().await;
    assert!(!app.record(credit("u1", "order-dup")).await.unwrap().duplicate);
    let repeats = futures_util::future::join_all((0..5).map(|_| app.record(credit("u1", "order-dup")))).await;
    assert!(repeats.into_iter().all(|r| r.unwrap().duplicate));
    app.wait_state("order-dup", "completed").await;
    assert_eq!(app.count("SELECT count(*) FROM user_award_record").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 1);
    assert_eq!(app.ledger("u1").await.len(), 1);
    // A repeat after distribution writes nothing either.
    assert!(app.record(credit("u1", "order-dup")).await.unwrap().duplicate);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 1);
}

#[tokio::test]
async fn an_order_of_another_user_is_refused_with_0003() {
    let app = App::spawn().await;
    app.record(credit("u1", "order-x")).await.unwrap();
    let status = app.record(credit("u2", "order-x")).await.unwrap_err();
    assert_eq!((status.code(), bm_code(&status)), (Code::AlreadyExists, Some("0003")));
    assert_eq!(app.count("SELECT count(*) FROM user_award_record").await, 1);
}

#[tokio::test]
async fn invalid_fields_are_refused_with_0002() {
    let app = App::spawn().await;
    let cases: Vec<(&str, RecordAwardRequest)> = vec![
        ("empty user_id", RecordAwardRequest { user_id: String::new(), ..credit("u", "o") }),
        ("long user_id", RecordAwardRequest { user_id: "u".repeat(65), ..credit("u", "o") }),
        ("control user_id", RecordAwardRequest { user_id: "a\nb".into(), ..credit("u", "o") }),
        ("empty order_id", credit("u", "")),
        ("long order_id", credit("u", &"o".repeat(65))),
        ("activity_id 0", RecordAwardRequest { activity_id: 0, ..credit("u", "o") }),
        ("strategy_id -1", RecordAwardRequest { strategy_id: -1, ..credit("u", "o") }),
        ("award_id 0", RecordAwardRequest { award_id: 0, ..credit("u", "o") }),
        ("empty award_key", award("u", "o", "", "1,100")),
        ("blank award_title", RecordAwardRequest { award_title: "  ".into(), ..credit("u", "o") }),
    ];
    for (what, request) in cases {
        let status = app.record(request).await.unwrap_err();
        assert_eq!((status.code(), bm_code(&status)), (Code::InvalidArgument, Some("0002")), "{what}");
    }
    let list = app.client.clone().list_user_awards(ListUserAwardsRequest { user_id: "u".into(), activity_id: 0 }).await;
    assert_eq!(bm_code(&list.unwrap_err()), Some("0002"));
    let query = app.client.clone().query_user_credit(QueryUserCreditRequest { user_id: String::new() }).await;
    assert_eq!(bm_code(&query.unwrap_err()), Some("0002"));
    assert_eq!(app.count("SELECT count(*) FROM user_award_record").await, 0);
}

#[tokio::test]
async fn lists_newest_first_per_activity_and_reports_zero_credit_without_account() {
    let app = App::spawn().await;
    let credit_of = |user: &str| {
        let mut client = app.client.clone();
        let user_id = user.to_owned();
        async move { client.query_user_credit(QueryUserCreditRequest { user_id }).await.unwrap().into_inner() }
    };
    let none = credit_of("nobody").await;
    assert_eq!((none.total_amount.as_str(), none.available_amount.as_str()), ("0", "0"));

    for order in ["l-1", "l-2", "l-3"] {
        app.record(award("u1", order, "openai_use_count", "5")).await.unwrap();
    }
    app.record(RecordAwardRequest { activity_id: 100_401, ..award("u1", "other", "openai_use_count", "5") })
        .await
        .unwrap();
    let records = app
        .client
        .clone()
        .list_user_awards(ListUserAwardsRequest { user_id: "u1".into(), activity_id: 100_301 })
        .await
        .unwrap()
        .into_inner()
        .records;
    let orders: Vec<&str> = records.iter().map(|r| r.order_id.as_str()).collect();
    assert_eq!(orders, ["l-3", "l-2", "l-1"]);
    let empty = app
        .client
        .clone()
        .list_user_awards(ListUserAwardsRequest { user_id: "u2".into(), activity_id: 100_301 })
        .await
        .unwrap()
        .into_inner();
    assert!(empty.records.is_empty());
}

#[tokio::test]
async fn an_external_award_is_handed_to_the_delivery_step_and_completed() {
    let app = App::spawn().await;
    app.record(award("u1", "ext-1", "openai_use_count", "5")).await.unwrap();
    app.wait_state("ext-1", "completed").await;
    let message = app
        .jetstream()
        .await
        .get_stream(app.stream())
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&app.subject("deliver_external"))
        .await
        .unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(envelope["data"]["order_id"], "ext-1");
    assert_eq!(envelope["data"]["award_key"], "openai_use_count");
    assert_eq!(envelope["data"]["award_config"], "5");
    assert_eq!(message.headers.get("Nats-Msg-Id").map(async_nats::HeaderValue::as_str), Some("deliver_external:ext-1"));
    assert_eq!(app.account("u1").await, None, "no credit for an external award");
}

#[tokio::test]
async fn an_award_key_without_delivery_is_parked_and_listed_with_its_reason() {
    let app = App::spawn().await;
    app.record(award("u1", "unknown-1", "user_credit_blacklist", "1")).await.unwrap();
    app.wait_state("unknown-1", "parked").await;
    let reason = app.parked_reason("unknown-1").await.unwrap();
    assert!(reason.contains("user_credit_blacklist") && reason.contains("no delivery"), "{reason}");
    let parked: (String, String) =
        sqlx::query_as("SELECT order_id, error FROM parked_message").fetch_one(&app.pool).await.unwrap();
    assert_eq!(parked, ("unknown-1".to_owned(), reason.clone()));
    eventually("the parked counter", Duration::from_secs(10), || async {
        app.process.metrics().await.lines().any(|l| l.starts_with("bm_events_parked_total{") && l.ends_with(" 1"))
    })
    .await;
    let records = app
        .client
        .clone()
        .list_user_awards(ListUserAwardsRequest { user_id: "u1".into(), activity_id: 100_301 })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!((records[0].award_state.as_str(), records[0].parked_reason.as_str()), ("parked", reason.as_str()));
    assert_eq!(app.account("u1").await, None);
}

#[tokio::test]
async fn a_malformed_award_config_is_parked_with_err_config_001() {
    let app = App::spawn().await;
    let configs = ["abc", "100,1", "", "1,2,3"];
    for (n, config) in configs.iter().enumerate() {
        app.record(award("u1", &format!("bad-{n}"), "user_credit_random", config)).await.unwrap();
    }
    // A good award behind them still goes through: the bad ones do not block the consumer.
    app.record(credit("u1", "good")).await.unwrap();
    app.wait_state("good", "completed").await;
    for n in 0..configs.len() {
        let order = format!("bad-{n}");
        app.wait_state(&order, "parked").await;
        let reason = app.parked_reason(&order).await.unwrap();
        assert!(reason.contains("ERR_CONFIG_001"), "{reason}");
    }
    assert_eq!(app.count("SELECT count(*) FROM parked_message").await, 4);
    assert_eq!(app.ledger("u1").await.len(), 1, "only the good award is credited");
}

#[tokio::test]
async fn nats_down_during_record_award_keeps_the_task_and_delivers_it_once_nats_is_back() {
    let mut nats = NatsServer::start().await;
    let infra = TestInfra::new(Some(&bm_award::MIGRATOR)).await;
    let app = App::spawn_on(infra, Some(&nats)).await;

    nats.stop();
    let response = app.record(credit("u1", "down-1")).await.unwrap();
    assert!(!response.duplicate, "the record is saved although NATS is down");
    assert_eq!(app.state("down-1").await.as_deref(), Some("create"));
    // The publish after the answer fails (in the background) and says so on the task.
    eventually("the failed publish noted on the task", Duration::from_secs(30), || async {
        let (state, attempts, last_error) = app.task("down-1").await;
        assert_ne!(state, "completed");
        attempts >= 1 && last_error.is_some()
    })
    .await;
    // The relay keeps trying while NATS is down; the task is never dropped.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ne!(app.task("down-1").await.0, "completed");
    // … and the backlog shows in the metrics.
    let metrics = app.process.metrics().await;
    assert!(gauge(&metrics, "bm_outbox_pending_tasks") >= 1.0, "{metrics}");
    assert!(gauge(&metrics, "bm_outbox_oldest_pending_seconds") >= 1.0, "{metrics}");

    nats.resume().await;
    app.wait_state("down-1", "completed").await;
    eventually("the task completing", Duration::from_secs(30), || async { app.task("down-1").await.0 == "completed" })
        .await;
    assert_eq!(app.ledger("u1").await.len(), 1);
    assert_eq!(app.stream_messages().await, 1, "published once (Nats-Msg-Id de-duplicates the retries)");
    eventually("the backlog gauge back to zero", Duration::from_secs(30), || async {
        gauge(&app.process.metrics().await, "bm_outbox_pending_tasks") == 0.0
    })
    .await;
    let (total, _) = app.account("u1").await.unwrap();
    assert!(total >= dec("1") && total <= dec("100"), "{total}");
}

#[tokio::test]
async fn a_message_delivered_twice_credits_once() {
    let app = App::spawn().await;
    app.record(credit("u1", "twice")).await.unwrap();
    app.wait_state("twice", "completed").await;
    let (payload,): (String,) =
        sqlx::query_as("SELECT payload::text FROM outbox_task").fetch_one(&app.pool).await.unwrap();
    // The same message again, past the broker's de-duplication (another Nats-Msg-Id).
    let jetstream = app.jetstream().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "redelivered-twice");
    jetstream
        .publish_with_headers(app.subject("send_award"), headers, payload.into_bytes().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let durable = format!("{}_award_send_award", app.infra.stream_prefix);
    eventually("both deliveries acknowledged", Duration::from_secs(30), || async {
        let stream = jetstream.get_stream(app.stream()).await.unwrap();
        let info = stream.consumer_info(&durable).await.unwrap();
        info.ack_floor.stream_sequence >= 2 && info.num_ack_pending == 0
    })
    .await;
    let ledger = app.ledger("u1").await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(app.account("u1").await, Some((ledger[0].1, ledger[0].1)));
    assert_eq!(app.count("SELECT count(*) FROM parked_message").await, 0);
}

#[tokio::test]
async fn a_crash_between_commit_and_publish_is_repaired_by_the_relay() {
    let infra = TestInfra::new(Some(&bm_award::MIGRATOR)).await;
    let pool = infra.pool().await;
    // What a process killed right after commit leaves: the record and a pending task.
    let subject = format!("{}.award.send_award", infra.subject_prefix);
    let payload = serde_json::json!({
        "id": "crashed-task",
        "timestamp": 1_729_320_315_608_i64,
        "data": {"user_id": "u1", "order_id": "crash-1", "award_id": 101, "award_key": "user_credit_random",
                 "award_title": "随机积分", "award_config": "1,100"}
    });
    sqlx::query(
        "INSERT INTO user_award_record (user_id, order_id, activity_id, strategy_id, award_id, award_key, award_title, award_config, award_time) \
         VALUES ('u1', 'crash-1', 100301, 100006, 101, 'user_credit_random', '随机积分', '1,100', now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at) VALUES ('crashed-task', 'u1', $1, $2::json, now())",
    )
    .bind(&subject)
    .bind(payload.to_string())
    .execute(&pool)
    .await
    .unwrap();

    let app = App::spawn_on(infra, None).await;
    app.wait_state("crash-1", "completed").await;
    eventually("the task completing", Duration::from_secs(30), || async { app.task("crash-1").await.0 == "completed" })
        .await;
    assert_eq!(app.task("crash-1").await.1, 1, "one relay attempt");
    assert_eq!(app.ledger("u1").await.len(), 1);
}

#[tokio::test]
async fn after_a_burst_of_500_awards_each_completes_once_and_credit_equals_the_ledger() {
    let app = App::spawn().await;
    let requests: Vec<RecordAwardRequest> = (0..500)
        .map(|n| {
            let config = if n % 5 == 0 { "0.01,1" } else { "1,100" };
            award(&format!("burst-user-{}", n % 25), &format!("burst-{n}"), "user_credit_random", config)
        })
        // 50 replays of orders already in the burst.
        .chain((0..50).map(|n| credit(&format!("burst-user-{}", (n * 7) % 25), &format!("burst-{}", n * 7))))
        .collect();
    let results: Vec<_> =
        futures_util::stream::iter(requests).map(|request| app.record(request)).buffer_unordered(64).collect().await;
    let new = results.iter().filter(|r| !r.as_ref().unwrap().duplicate).count();
    assert_eq!(new, 500, "one record per order, the replays are duplicates");

    eventually("all 500 awards completing", Duration::from_mins(3), || async {
        app.count("SELECT count(*) FROM user_award_record WHERE award_state = 'completed'").await == 500
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM user_award_record").await, 500);
    assert_eq!(app.count("SELECT count(*) FROM user_credit_order").await, 500);
    let once = app
        .count(
            "SELECT count(*) FROM user_award_record r \
             WHERE (SELECT count(*) FROM user_credit_order c \
                    WHERE c.user_id = r.user_id AND c.out_business_no = 'award:' || r.order_id) = 1",
        )
        .await;
    assert_eq!(once, 500, "every record has exactly one ledger row");
    let mismatched = app
        .count(
            "SELECT count(*) FROM user_credit_account a \
             WHERE a.total_amount <> (SELECT sum(trade_amount) FROM user_credit_order c WHERE c.user_id = a.user_id) \
                OR a.available_amount <> a.total_amount",
        )
        .await;
    assert_eq!(mismatched, 0, "each balance equals the sum of its ledger");
    assert_eq!(app.count("SELECT count(*) FROM user_credit_account").await, 25);
    eventually("every outbox task completing", Duration::from_mins(1), || async {
        app.count("SELECT count(*) FROM outbox_task WHERE state <> 'completed'").await == 0
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM parked_message").await, 0);
}

// ---- credit trades (issue #14) ----

#[tokio::test]
async fn forward_then_reverse_trades_change_the_balances_and_the_ledger() {
    let app = App::spawn().await;
    let credited = app.trade(trade("u1", "rebate-1", "forward", "50")).await.unwrap();
    assert!(!credited.duplicate);
    assert_eq!((credited.available_amount.as_str(), credited.total_amount.as_str()), ("50", "50"));
    let debited = app.trade(trade("u1", "exchange-1", "reverse", "20.5")).await.unwrap();
    assert!(!debited.duplicate);
    assert_ne!(debited.order_id, credited.order_id);
    assert_eq!((debited.available_amount.as_str(), debited.total_amount.as_str()), ("29.5", "50"));

    assert_eq!(app.account("u1").await, Some((dec("50"), dec("29.5"))));
    assert_eq!(
        app.trades("u1").await,
        vec![
            ("rebate-1".to_owned(), "forward".to_owned(), dec("50")),
            ("exchange-1".to_owned(), "reverse".to_owned(), dec("-20.5")),
        ]
    );
    let (order_id, name, total_after, available_after): (String, String, Decimal, Decimal) = sqlx::query_as(
        "SELECT order_id, trade_name, total_after, available_after FROM user_credit_order WHERE out_business_no = 'exchange-1'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((order_id, name), (debited.order_id, "rebate".to_owned()));
    assert_eq!((total_after, available_after), (dec("50"), dec("29.5")), "the ledger row keeps the running balance");
    let credit = app.client.clone().query_user_credit(QueryUserCreditRequest { user_id: "u1".into() }).await;
    let credit = credit.unwrap().into_inner();
    assert_eq!((credit.total_amount.as_str(), credit.available_amount.as_str()), ("50", "29.5"));
}

#[tokio::test]
async fn a_reverse_trade_above_the_balance_is_err_credit_001_and_writes_and_publishes_nothing() {
    let app = App::spawn().await;
    app.trade(trade("u1", "rebate-1", "forward", "10")).await.unwrap();
    let refused = [
        trade("u1", "exchange-1", "reverse", "10.000001"),
        trade("u1", "exchange-2", "reverse", "11"),
        // A user without an account has nothing available, and gets no account.
        trade("nobody", "exchange-3", "reverse", "1"),
    ];
    for request in refused {
        let status = app.trade(request.clone()).await.unwrap_err();
        assert_eq!(
            (status.code(), bm_code(&status)),
            (Code::FailedPrecondition, Some("ERR_CREDIT_001")),
            "{request:?}: {status:?}"
        );
    }
    assert_eq!(app.account("u1").await, Some((dec("10"), dec("10"))));
    assert_eq!(app.account("nobody").await, None);
    assert_eq!(app.count("SELECT count(*) FROM user_credit_order").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 1, "a failed trade queues no event");
    // Spec §14 bug 5: a failed trade published credit_adjust_success anyway. Here the one
    // event is the forward trade's; let the relay run a few rounds to be sure nothing follows.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = app.credit_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["data"]["out_business_no"], "rebate-1");
    // The exact balance can still be spent: reverse 10 of 10 leaves 0.
    let spent = app.trade(trade("u1", "exchange-4", "reverse", "10")).await.unwrap();
    assert_eq!((spent.available_amount.as_str(), spent.total_amount.as_str()), ("0", "10"));
    // A failed out_business_no stays free: the same trade succeeds once the credit is there.
    app.trade(trade("u1", "rebate-2", "forward", "11")).await.unwrap();
    let retried = app.trade(trade("u1", "exchange-2", "reverse", "11")).await.unwrap();
    assert!(!retried.duplicate);
    assert_eq!(retried.available_amount, "0");
}

#[tokio::test]
async fn a_repeated_trade_returns_the_first_result_and_books_and_publishes_once() {
    let app = App::spawn().await;
    let first = app.trade(trade("u1", "rebate-1", "forward", "10")).await.unwrap();
    app.trade(trade("u1", "rebate-2", "forward", "5")).await.unwrap();
    let repeat = app.trade(trade("u1", "rebate-1", "forward", "10.000")).await.unwrap();
    assert!(repeat.duplicate);
    assert_eq!(repeat.order_id, first.order_id);
    assert_eq!(
        (repeat.available_amount.as_str(), repeat.total_amount.as_str()),
        ("10", "10"),
        "the first result, not the balance of now"
    );
    // Concurrent repeats of a new trade: one booking, one order id for all.
    let results =
        futures_util::future::join_all((0..8).map(|_| app.trade(trade("u1", "exchange-1", "reverse", "3")))).await;
    let responses: Vec<CreditTradeResponse> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(responses.iter().filter(|r| !r.duplicate).count(), 1, "{responses:?}");
    assert!(responses.iter().all(|r| r.order_id == responses[0].order_id && r.available_amount == "12"));

    assert_eq!(app.account("u1").await, Some((dec("15"), dec("12"))));
    assert_eq!(app.count("SELECT count(*) FROM user_credit_order").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 3);
    eventually("three events", Duration::from_secs(30), || async { app.credit_events().await.len() == 3 }).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.credit_events().await.len(), 3, "one event per trade, none for the repeats");
}

#[tokio::test]
async fn the_same_out_business_no_with_other_fields_is_refused_with_0003() {
    let app = App::spawn().await;
    app.trade(trade("u1", "biz-1", "forward", "10")).await.unwrap();
    let conflicting = [
        trade("u1", "biz-1", "forward", "11"),
        trade("u1", "biz-1", "reverse", "10"),
        CreditTradeRequest { trade_name: "convert_sku".into(), ..trade("u1", "biz-1", "forward", "10") },
    ];
    for request in conflicting {
        let status = app.trade(request.clone()).await.unwrap_err();
        assert_eq!((status.code(), bm_code(&status)), (Code::AlreadyExists, Some("0003")), "{request:?}");
    }
    assert_eq!(app.account("u1").await, Some((dec("10"), dec("10"))));
    assert_eq!(app.count("SELECT count(*) FROM user_credit_order").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 1);
    // Another user may use the same out_business_no.
    assert!(!app.trade(trade("u2", "biz-1", "forward", "11")).await.unwrap().duplicate);
}

#[tokio::test]
async fn invalid_trades_are_refused_with_0002_and_write_nothing() {
    let app = App::spawn().await;
    let ok = || trade("u1", "biz-1", "forward", "10");
    let cases: Vec<(&str, CreditTradeRequest)> = vec![
        ("empty user_id", CreditTradeRequest { user_id: String::new(), ..ok() }),
        ("long user_id", CreditTradeRequest { user_id: "u".repeat(65), ..ok() }),
        ("control user_id", CreditTradeRequest { user_id: "a\tb".into(), ..ok() }),
        ("empty out_business_no", CreditTradeRequest { out_business_no: String::new(), ..ok() }),
        ("long out_business_no", CreditTradeRequest { out_business_no: "b".repeat(65), ..ok() }),
        ("award out_business_no", CreditTradeRequest { out_business_no: "award:order-1".into(), ..ok() }),
        ("empty trade_name", CreditTradeRequest { trade_name: String::new(), ..ok() }),
        ("blank trade_name", CreditTradeRequest { trade_name: "   ".into(), ..ok() }),
        ("long trade_name", CreditTradeRequest { trade_name: "n".repeat(33), ..ok() }),
        ("empty trade_type", CreditTradeRequest { trade_type: String::new(), ..ok() }),
        ("bad trade_type", CreditTradeRequest { trade_type: "sideways".into(), ..ok() }),
        ("upper-case trade_type", CreditTradeRequest { trade_type: "FORWARD".into(), ..ok() }),
        ("amount 0", CreditTradeRequest { amount: "0".into(), ..ok() }),
        ("amount -1", CreditTradeRequest { amount: "-1".into(), ..ok() }),
        ("reverse -1", trade("u1", "biz-1", "reverse", "-1")),
        ("amount abc", CreditTradeRequest { amount: "abc".into(), ..ok() }),
        ("amount 7 decimals", CreditTradeRequest { amount: "1.1234567".into(), ..ok() }),
        ("empty amount", CreditTradeRequest { amount: String::new(), ..ok() }),
        ("amount with exponent", CreditTradeRequest { amount: "1e3".into(), ..ok() }),
        ("amount too large", CreditTradeRequest { amount: "1000000001".into(), ..ok() }),
    ];
    for (what, request) in cases {
        let status = app.trade(request).await.unwrap_err();
        assert_eq!((status.code(), bm_code(&status)), (Code::InvalidArgument, Some("0002")), "{what}: {status:?}");
    }
    assert_eq!(app.count("SELECT count(*) FROM user_credit_order").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM user_credit_account").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 0);
    // Six decimal places are fine.
    let fine = app.trade(CreditTradeRequest { amount: "1.123456".into(), ..ok() }).await.unwrap();
    assert_eq!(fine.available_amount, "1.123456");
}

#[tokio::test]
async fn twenty_concurrent_reverse_trades_of_10_on_30_never_overdraw() {
    let app = App::spawn().await;
    app.trade(trade("u1", "rebate-1", "forward", "30")).await.unwrap();
    let results = futures_util::future::join_all(
        (0..20).map(|n| app.trade(trade("u1", &format!("exchange-{n}"), "reverse", "10"))),
    )
    .await;
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, 3, "exactly 30 / 10 trades succeed");
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!((status.code(), bm_code(status)), (Code::FailedPrecondition, Some("ERR_CREDIT_001")), "{status:?}");
    }
    let mut balances: Vec<String> =
        results.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.available_amount.clone()).collect();
    balances.sort();
    assert_eq!(balances, ["0", "10", "20"], "each success saw the balance its predecessor left");
    assert_eq!(app.account("u1").await, Some((dec("30"), dec("0"))));
    let (rows, sum, lowest): (i64, Decimal, Decimal) = sqlx::query_as(
        "SELECT count(*), sum(trade_amount), min(available_after) FROM user_credit_order WHERE user_id = 'u1'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((rows, sum), (4, Decimal::ZERO), "the balance equals the sum of the ledger");
    assert!(lowest >= Decimal::ZERO, "never negative at any step: {lowest}");
    eventually("four events", Duration::from_secs(30), || async { app.credit_events().await.len() == 4 }).await;
    // A retry of a debit that succeeded is a duplicate even now that the balance is gone.
    for (n, result) in results.iter().enumerate() {
        if let Ok(first) = result {
            let repeat = app.trade(trade("u1", &format!("exchange-{n}"), "reverse", "10")).await.unwrap();
            assert!(repeat.duplicate && repeat.order_id == first.order_id, "{repeat:?}");
            assert_eq!(repeat.available_amount, first.available_amount, "the first result");
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM user_credit_order").await, 4);
}

#[tokio::test]
async fn each_trade_publishes_one_credit_adjust_success_with_its_outbox_id() {
    let app = App::spawn().await;
    let credited = app.trade(trade("u1", "rebate-1", "forward", "12.5")).await.unwrap();
    let debited = app.trade(trade("u1", "exchange-1", "reverse", "2.25")).await.unwrap();
    app.trade(trade("u1", "exchange-1", "reverse", "2.25")).await.unwrap();
    eventually("both tasks completing", Duration::from_secs(30), || async {
        app.count("SELECT count(*) FROM outbox_task WHERE state = 'completed'").await == 2
    })
    .await;
    let events = app.credit_events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    let expected = [(&credited, "rebate-1", "forward", "12.5"), (&debited, "exchange-1", "reverse", "2.25")];
    for ((message_id, envelope), (response, business_no, trade_type, amount)) in events.iter().zip(expected) {
        assert_eq!(envelope["id"].as_str(), Some(message_id.as_str()), "Nats-Msg-Id = envelope id");
        assert!(envelope["timestamp"].as_i64().unwrap() > 0);
        let data = &envelope["data"];
        assert_eq!(data["user_id"], "u1");
        assert_eq!(data["order_id"].as_str(), Some(response.order_id.as_str()));
        assert_eq!(data["out_business_no"], business_no);
        assert_eq!(data["trade_type"], trade_type);
        assert_eq!(data["amount"], amount, "a positive decimal string; the direction is trade_type");
        let (task_subject,): (String,) = sqlx::query_as("SELECT subject FROM outbox_task WHERE id = $1")
            .bind(message_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(task_subject, app.subject("credit_adjust_success"), "the outbox task id is the message id");
    }
}

#[tokio::test]
async fn an_award_credit_and_credit_trades_share_one_account_and_ledger() {
    let app = App::spawn().await;
    app.record(award("u1", "order-1", "user_credit_random", "5,5")).await.unwrap();
    app.wait_state("order-1", "completed").await;
    assert_eq!(app.account("u1").await, Some((dec("5"), dec("5"))));
    let spent = app.trade(trade("u1", "exchange-1", "reverse", "5")).await.unwrap();
    assert_eq!((spent.available_amount.as_str(), spent.total_amount.as_str()), ("0", "5"));
    let (after,): (Option<Decimal>,) =
        sqlx::query_as("SELECT available_after FROM user_credit_order WHERE out_business_no = 'award:order-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(after, Some(dec("5")), "award credits keep the running balance too");
    let status = app.trade(trade("u1", "exchange-2", "reverse", "0.000001")).await.unwrap_err();
    assert_eq!(bm_code(&status), Some("ERR_CREDIT_001"));
    assert_eq!(app.trades("u1").await.iter().map(|t| t.2).sum::<Decimal>(), Decimal::ZERO);
}

#[tokio::test]
async fn nats_down_during_a_credit_trade_commits_it_and_the_relay_publishes_it_once_nats_is_back() {
    let mut nats = NatsServer::start().await;
    let infra = TestInfra::new(Some(&bm_award::MIGRATOR)).await;
    let app = App::spawn_on(infra, Some(&nats)).await;

    nats.stop();
    let response = app.trade(trade("u1", "rebate-down", "forward", "7")).await.unwrap();
    assert!(!response.duplicate, "the trade commits although NATS is down");
    assert_eq!(app.account("u1").await, Some((dec("7"), dec("7"))));
    let task = || async {
        sqlx::query_as::<_, (String, String, i32, Option<String>)>(
            "SELECT id, state, attempts, last_error FROM outbox_task WHERE payload->'data'->>'out_business_no' = 'rebate-down'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let (task_id, state, attempts, last_error) = task().await;
    assert_ne!(state, "completed");
    assert!(attempts >= 1 && last_error.is_some(), "the failed publish is on the task: {attempts} {last_error:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ne!(task().await.1, "completed", "kept while NATS is down");

    nats.resume().await;
    eventually("the task completing", Duration::from_secs(30), || async { task().await.1 == "completed" }).await;
    let events = app.credit_events().await;
    assert_eq!(events.len(), 1, "published once (Nats-Msg-Id de-duplicates the retries)");
    assert_eq!(events[0].0, task_id);
    assert_eq!(events[0].1["data"]["order_id"].as_str(), Some(response.order_id.as_str()));
    assert_eq!(app.account("u1").await, Some((dec("7"), dec("7"))), "the trade is booked once");
}
