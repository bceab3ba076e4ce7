//! Black-box gRPC tests of behaviour rebates (spec §7.1, issue #14) against real Postgres,
//! Redis and NATS: CreateRebate writes the configured orders and one send_rebate event each
//! (through the outbox), a repeat is 0003, bad input, the daily sign-in, the sku rebate
//! arriving as quota once, and a refused sku rebate parked.

#![expect(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use bm_api::{
    activity::{
        CreateRebateRequest, CreateRebateResponse, IsSignedTodayRequest, IsSignedTodayResponse, QueryAccountRequest,
        SignInRequest, SignInResponse, activity_service_client::ActivityServiceClient,
    },
    ops::{GetOutboxBacklogRequest, ops_service_client::OpsServiceClient},
};
use bm_testkit::{NatsServer, ServiceProcess, TestInfra, eventually, lifecycle::with_env};
use tonic::{Code, Status, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_activity");

const EXTEND_100401: &str =
    "UPDATE raffle_activity SET end_date_time = '2036-10-06 12:09:34+08' WHERE activity_id = 100401";

struct App {
    infra: TestInfra,
    _process: ServiceProcess,
    client: ActivityServiceClient<Channel>,
    ops: OpsServiceClient<Channel>,
    pool: sqlx::PgPool,
    nats_url: String,
}

impl App {
    /// The demo data with activity 100401 still running (it ended 2026-10-06 in the seed),
    /// so the sign-in's sku rebate (sku 9901) can be recharged.
    async fn spawn() -> Self {
        Self::spawn_with(EXTEND_100401, None).await
    }

    /// The demo data, then `setup`; on `nats` when given (else the shared broker).
    async fn spawn_with(setup: &'static str, nats: Option<&NatsServer>) -> Self {
        let infra = TestInfra::new(Some(&bm_activity::MIGRATOR)).await;
        let pool = infra.pool().await;
        sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&pool).await.unwrap();
        sqlx::raw_sql(setup).execute(&pool).await.unwrap();
        let mut env = infra.service_env();
        for (key, value) in [
            ("BM_SERVICE__OUTBOX__RELAY_INTERVAL_MS", "100"),
            ("BM_SERVICE__OUTBOX__RELAY_AFTER_MS", "500"),
            ("BM_SERVICE__OUTBOX__RETRY_BASE_MS", "200"),
            ("BM_SERVICE__OUTBOX__RETRY_MAX_MS", "1000"),
        ] {
            env = with_env(&env, key, value);
        }
        let nats_url = nats.map_or_else(bm_testkit::nats_url, NatsServer::url);
        env = with_env(&env, "BM_NATS__URL", &nats_url);
        let process = ServiceProcess::spawn(BINARY, &env).await;
        let channel = process.channel().await;
        Self {
            infra,
            _process: process,
            client: ActivityServiceClient::new(channel.clone()),
            ops: OpsServiceClient::new(channel),
            pool,
            nats_url,
        }
    }

    async fn rebate(&self, user: &str, behavior: &str, out_business_no: &str) -> Result<CreateRebateResponse, Status> {
        let request = CreateRebateRequest {
            user_id: user.into(),
            behavior_type: behavior.into(),
            out_business_no: out_business_no.into(),
        };
        self.client.clone().create_rebate(request).await.map(tonic::Response::into_inner)
    }

    async fn sign_in(&self, user: &str) -> Result<SignInResponse, Status> {
        self.client.clone().sign_in(SignInRequest { user_id: user.into() }).await.map(tonic::Response::into_inner)
    }

    async fn is_signed_today(&self, user: &str) -> Result<IsSignedTodayResponse, Status> {
        let request = IsSignedTodayRequest { user_id: user.into() };
        self.client.clone().is_signed_today(request).await.map(tonic::Response::into_inner)
    }

    /// The user's lifetime quota on 100401.
    async fn quota_100401(&self, user: &str) -> i32 {
        let request = QueryAccountRequest { user_id: user.into(), activity_id: 100_401 };
        self.client.clone().query_account(request).await.unwrap().into_inner().total_count
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool).await.unwrap().0
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }

    fn stream(&self) -> String {
        format!("{}_ACTIVITY", self.infra.stream_prefix)
    }

    fn subject(&self) -> String {
        format!("{}.activity.send_rebate", self.infra.subject_prefix)
    }

    /// Every send_rebate in the stream: (stream sequence, Nats-Msg-Id, envelope).
    async fn events(&self) -> Vec<(u64, String, serde_json::Value)> {
        let mut stream = self.jetstream().await.get_stream(self.stream()).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut events = Vec::new();
        for sequence in 1..=last {
            let Ok(message) = stream.get_raw_message(sequence).await else { continue };
            if message.subject.as_str() == self.subject() {
                let id = message.headers.get("Nats-Msg-Id").map(async_nats::HeaderValue::as_str).unwrap().to_owned();
                events.push((sequence, id, serde_json::from_slice(&message.payload).unwrap()));
            }
        }
        events
    }

    /// Waits until the activity's send_rebate consumer has acknowledged everything up to
    /// stream sequence `sequence`.
    async fn wait_consumed(&self, sequence: u64) {
        let jetstream = self.jetstream().await;
        let durable = format!("{}_activity_send_rebate", self.infra.stream_prefix);
        eventually("the send_rebate consumer acknowledging every message", || async {
            let stream = jetstream.get_stream(self.stream()).await.unwrap();
            let Ok(info) = stream.consumer_info(&durable).await else { return false };
            info.ack_floor.stream_sequence >= sequence && info.num_ack_pending == 0 && info.num_pending == 0
        })
        .await;
    }
}

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

#[tokio::test]
async fn create_rebate_writes_the_configured_orders_and_one_send_rebate_event_each() {
    let app = App::spawn().await;
    let created = app.rebate("u1", "OPENAI_PAY", "pay-1").await.unwrap();
    let orders: Vec<(&str, &str, &str, &str)> = created
        .orders
        .iter()
        .map(|o| (o.rebate_type.as_str(), o.rebate_config.as_str(), o.rebate_desc.as_str(), o.biz_id.as_str()))
        .collect();
    assert_eq!(
        orders,
        [("sku", "9901", "支付返利-sku额度", "u1_sku_pay-1"), ("integral", "10", "支付返利-积分", "u1_integral_pay-1")],
        "spec §2 rows 4 and 5, descriptions matching their types (spec §14 bug 13)"
    );
    assert!(created.orders.iter().all(|o| o.behavior_type == "openai_pay" && o.out_business_no == "pay-1"));
    assert_eq!(app.count("SELECT count(*) FROM user_behavior_rebate_order WHERE user_id = 'u1'").await, 2);

    eventually("both outbox tasks completing", || async {
        app.count("SELECT count(*) FROM outbox_task WHERE state = 'completed'").await == 2
    })
    .await;
    let events = app.events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    for order in &created.orders {
        let (_, message_id, envelope) =
            events.iter().find(|(_, _, e)| e["data"]["order_id"].as_str() == Some(order.order_id.as_str())).unwrap();
        assert_eq!(envelope["id"].as_str(), Some(message_id.as_str()), "Nats-Msg-Id = envelope id = task id");
        assert!(envelope["timestamp"].as_i64().unwrap() > 0);
        assert_eq!(
            envelope["data"],
            serde_json::json!({
                "user_id": "u1",
                "order_id": order.order_id,
                "behavior_type": "openai_pay",
                "rebate_type": order.rebate_type,
                "rebate_config": order.rebate_config,
                "rebate_desc": order.rebate_desc,
                "biz_id": order.biz_id,
                "out_business_no": "pay-1",
            })
        );
        let task = format!("SELECT count(*) FROM outbox_task WHERE id = '{message_id}'");
        assert_eq!(app.count(&task).await, 1);
    }

    // A repeat: 0003, nothing written, nothing published.
    let repeat = app.rebate("u1", "openai_pay", "pay-1").await.unwrap_err();
    assert_eq!(code(&repeat), (Code::AlreadyExists, Some("0003")));
    assert_eq!(app.count("SELECT count(*) FROM user_behavior_rebate_order").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 2, "no task, so no event");
    assert_eq!(app.events().await.len(), 2);

    // The sku rebate arrived as 9901's quota; the backlog is empty.
    eventually("the sku rebate's quota", || async { app.quota_100401("u1").await == 1 }).await;
    let backlog = app.ops.clone().get_outbox_backlog(GetOutboxBacklogRequest {}).await.unwrap().into_inner();
    assert!(backlog.has_outbox);
    assert_eq!(backlog.pending, 0);
}

#[tokio::test]
async fn unknown_or_closed_behaviours_are_not_found_and_blank_fields_0002() {
    let app = App::spawn().await;
    let unknown = app.rebate("u1", "walk", "w-1").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    for (user, behavior, out_business_no, field) in [
        ("", "sign", "b-1", "user_id"),
        ("   ", "sign", "b-1", "user_id"),
        ("u1", "", "b-1", "behavior_type"),
        ("u1", "sign", "", "out_business_no"),
        ("u1", "sign", "  ", "out_business_no"),
    ] {
        let status = app.rebate(user, behavior, out_business_no).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    let too_long = app.rebate(&"u".repeat(40), "sign", &"9".repeat(15)).await.unwrap_err();
    assert_eq!(code(&too_long), (Code::InvalidArgument, Some("0002")), "a biz_id over 64 characters");
    assert_eq!(code(&app.sign_in("").await.unwrap_err()), (Code::InvalidArgument, Some("0002")));
    assert_eq!(code(&app.is_signed_today(" ").await.unwrap_err()), (Code::InvalidArgument, Some("0002")));

    sqlx::query("UPDATE daily_behavior_rebate SET state = 'close' WHERE behavior_type = 'openai_pay'")
        .execute(&app.pool)
        .await
        .unwrap();
    let closed = app.rebate("u1", "openai_pay", "pay-1").await.unwrap_err();
    assert_eq!(closed.code(), Code::NotFound, "no open rebate: {closed:?}");
    assert_eq!(app.count("SELECT count(*) FROM user_behavior_rebate_order").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM outbox_task").await, 0);
}

#[tokio::test]
async fn signing_in_twice_a_day_is_0003_and_its_sku_rebate_grants_quota_once() {
    let app = App::spawn().await;
    let before = app.is_signed_today("xiaofuge").await.unwrap();
    assert!(!before.signed);
    assert!(before.sign_date.len() == 8 && before.sign_date.chars().all(|c| c.is_ascii_digit()), "{before:?}");

    let signed = app.sign_in("xiaofuge").await.unwrap();
    assert_eq!(signed.sign_date, before.sign_date);
    let mut kinds: Vec<(&str, &str, &str)> =
        signed.orders.iter().map(|o| (o.rebate_type.as_str(), o.rebate_config.as_str(), o.biz_id.as_str())).collect();
    kinds.sort_unstable();
    let (sku_biz, integral_biz) =
        (format!("xiaofuge_sku_{}", signed.sign_date), format!("xiaofuge_integral_{}", signed.sign_date));
    assert_eq!(kinds, [("integral", "10", integral_biz.as_str()), ("sku", "9901", sku_biz.as_str())]);
    assert!(signed.orders.iter().all(|o| o.behavior_type == "sign" && o.out_business_no == signed.sign_date));

    let again = app.sign_in("xiaofuge").await.unwrap_err();
    assert_eq!(code(&again), (Code::AlreadyExists, Some("0003")));
    let after = app.is_signed_today("xiaofuge").await.unwrap();
    assert!(after.signed);
    assert_eq!(after.sign_date, signed.sign_date);
    assert!(!app.is_signed_today("someone-else").await.unwrap().signed);

    // sku 9901 grants 1 quota on 100401, through a no-pay recharge keyed by the biz_id.
    eventually("the sign-in's sku rebate", || async { app.quota_100401("xiaofuge").await == 1 }).await;
    let recharge = format!(
        "SELECT count(*) FROM raffle_activity_order WHERE user_id = 'xiaofuge' AND out_business_no = '{sku_biz}' \
         AND state = 'completed' AND pay_amount = 0"
    );
    assert_eq!(app.count(&recharge).await, 1);

    // The sku send_rebate delivered again (past the broker's de-duplication): granted once.
    let events = app.events().await;
    let (_, _, sku_event) = events.iter().find(|(_, _, e)| e["data"]["rebate_type"] == "sku").unwrap();
    let jetstream = app.jetstream().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "redelivered-sign-in");
    let ack = jetstream
        .publish_with_headers(app.subject(), headers, serde_json::to_vec(sku_event).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    app.wait_consumed(ack.sequence).await;
    assert_eq!(app.quota_100401("xiaofuge").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM raffle_activity_order").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM parked_message").await, 0, "integral ignored, repeat acknowledged");
}

#[tokio::test]
async fn a_sku_rebate_on_an_ended_activity_is_parked_not_lost() {
    // 100401 as seeded: ended 2026-10-06.
    let app = App::spawn_with(
        "UPDATE raffle_activity SET end_date_time = '2026-10-06 12:09:34+08' WHERE activity_id = 100401",
        None,
    )
    .await;
    let signed = app.sign_in("late").await.unwrap();
    assert_eq!(signed.orders.len(), 2, "the sign-in itself succeeds");
    eventually("the sku rebate parked", || async { app.count("SELECT count(*) FROM parked_message").await == 1 }).await;
    let (subject, payload, error): (String, String, String) =
        sqlx::query_as("SELECT subject, payload, error FROM parked_message").fetch_one(&app.pool).await.unwrap();
    assert_eq!(subject, app.subject());
    assert!(error.contains("ERR_BIZ_004"), "{error}");
    let envelope: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(envelope["data"]["rebate_type"], "sku");
    assert_eq!(app.count("SELECT count(*) FROM raffle_activity_order").await, 0);
    // The integral one is the award service's: acknowledged, not parked.
    let last = app.events().await.iter().map(|(sequence, _, _)| *sequence).max().unwrap();
    app.wait_consumed(last).await;
    assert_eq!(app.count("SELECT count(*) FROM parked_message").await, 1);
}

#[tokio::test]
async fn a_committed_task_that_was_never_published_is_relayed_and_consumed() {
    let app = App::spawn().await;
    // What a crash between commit and publish leaves: the order and its pending task.
    let payload = serde_json::json!({
        "id": "crashed-task",
        "timestamp": 1,
        "data": {
            "user_id": "crash", "order_id": "r1", "behavior_type": "openai_pay", "rebate_type": "sku",
            "rebate_config": "9901", "rebate_desc": "支付返利-sku额度", "biz_id": "crash_sku_pay-9",
            "out_business_no": "pay-9"
        }
    });
    sqlx::query("INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at) VALUES ('crashed-task', 'crash', $1, $2::json, now())")
        .bind(app.subject())
        .bind(payload.to_string())
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("the relay publishing the task", || async {
        app.count("SELECT count(*) FROM outbox_task WHERE id = 'crashed-task' AND state = 'completed'").await == 1
    })
    .await;
    eventually("its quota", || async { app.quota_100401("crash").await == 1 }).await;
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, "crashed-task", "Nats-Msg-Id = task id");
}

#[tokio::test]
async fn nats_down_during_a_rebate_commits_it_and_the_relay_publishes_it_once_nats_is_back() {
    let mut nats = NatsServer::start().await;
    let app = App::spawn_with(EXTEND_100401, Some(&nats)).await;
    nats.stop();
    let created = app.rebate("down", "openai_pay", "pay-down").await.unwrap();
    assert_eq!(created.orders.len(), 2, "the rebate commits although NATS is down");
    let unpublished = "SELECT count(*) FROM outbox_task WHERE state <> 'completed' AND attempts >= 1 \
                       AND last_error IS NOT NULL";
    assert_eq!(app.count(unpublished).await, 2, "each failed publish is noted on its task");

    nats.resume().await;
    eventually("both tasks completing", || async {
        app.count("SELECT count(*) FROM outbox_task WHERE state = 'completed'").await == 2
    })
    .await;
    let events = app.events().await;
    assert_eq!(events.len(), 2, "published once each: {events:?}");
    eventually("the sku rebate's quota", || async { app.quota_100401("down").await == 1 }).await;
}
