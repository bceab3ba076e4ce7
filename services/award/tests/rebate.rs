//! Award's consumer of activity-quota's `send_rebate` (issue #14), black-box: the test
//! publishes send_rebate envelopes on its own NATS subjects exactly as activity-quota's
//! outbox does, and reads the award database. An `integral` rebate is credited once (a
//! redelivery under another message id changes nothing); a `sku` rebate is not award's; a
//! rebate whose amount is not a positive decimal is parked at once.
#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::str::FromStr;

use bm_testkit::{ServiceProcess, TestInfra, eventually};
use rust_decimal::Decimal;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_award");

struct App {
    infra: TestInfra,
    process: ServiceProcess,
    pool: sqlx::PgPool,
    jetstream: async_nats::jetstream::Context,
    published: u64,
}

impl App {
    /// Award alone: no activity-quota ever ran on these prefixes, so award must cope with
    /// the ACTIVITY stream not being there before it.
    async fn spawn() -> Self {
        let infra = TestInfra::new(Some(&bm_award::MIGRATOR)).await;
        let pool = infra.pool().await;
        let process = ServiceProcess::spawn(BINARY, &infra.service_env()).await;
        let jetstream = async_nats::jetstream::new(async_nats::connect(bm_testkit::nats_url()).await.unwrap());
        Self { infra, process, pool, jetstream, published: 0 }
    }

    /// Publishes one send_rebate under `message_id` and waits until award's durable consumer
    /// has acknowledged (or terminated) it.
    async fn publish(&mut self, message_id: &str, data: serde_json::Value) {
        let envelope = json!({"id": message_id, "timestamp": 1_764_460_800_000_i64, "data": data});
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id);
        let subject = format!("{}.activity.send_rebate", self.infra.subject_prefix);
        self.jetstream
            .publish_with_headers(subject, headers, serde_json::to_vec(&envelope).unwrap().into())
            .await
            .unwrap()
            .await
            .unwrap();
        self.published += 1;
        let stream = format!("{}_ACTIVITY", self.infra.stream_prefix);
        let durable = format!("{}_award_send_rebate", self.infra.stream_prefix);
        let published = self.published;
        let jetstream = &self.jetstream;
        eventually(&format!("send_rebate {message_id} handled"), || async {
            let Ok(stream) = jetstream.get_stream(&stream).await else { return false };
            let Ok(info) = stream.consumer_info(&durable).await else { return false };
            info.ack_floor.stream_sequence >= published && info.num_ack_pending == 0 && info.num_pending == 0
        })
        .await;
    }

    /// The user's ledger: (out_business_no, trade_name, trade_type, trade_amount).
    async fn ledger(&self, user_id: &str) -> Vec<(String, String, String, Decimal)> {
        sqlx::query_as(
            "SELECT out_business_no, trade_name, trade_type, trade_amount FROM user_credit_order WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    async fn available(&self, user_id: &str) -> Option<Decimal> {
        sqlx::query_as::<_, (Decimal,)>("SELECT available_amount FROM user_credit_account WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
            .map(|(a,)| a)
    }

    /// The parked messages: (id, subject, error).
    async fn parked_rows(&self) -> Vec<(i64, String, String)> {
        sqlx::query_as("SELECT id, subject, error FROM parked_message ORDER BY id").fetch_all(&self.pool).await.unwrap()
    }

    /// The parked messages: (subject, error).
    async fn parked(&self) -> Vec<(String, String)> {
        sqlx::query_as("SELECT subject, error FROM parked_message ORDER BY id").fetch_all(&self.pool).await.unwrap()
    }
}

fn rebate(user_id: &str, rebate_type: &str, rebate_config: &str, out_business_no: &str) -> serde_json::Value {
    json!({
        "user_id": user_id,
        "order_id": format!("r-{user_id}-{rebate_type}-{out_business_no}"),
        "behavior_type": "sign",
        "rebate_type": rebate_type,
        "rebate_config": rebate_config,
        "rebate_desc": "签到返利",
        "biz_id": format!("{user_id}_{rebate_type}_{out_business_no}"),
        "out_business_no": out_business_no,
    })
}

#[tokio::test]
async fn an_integral_rebate_is_credited_once_even_when_redelivered() {
    let mut app = App::spawn().await;
    app.publish("rebate-1", rebate("u1", "integral", "10", "20261130")).await;
    let expected =
        vec![("u1_integral_20261130".to_owned(), "行为返利".to_owned(), "forward".to_owned(), Decimal::from(10))];
    assert_eq!(app.ledger("u1").await, expected);
    assert_eq!(app.available("u1").await, Some(Decimal::from(10)));
    // The same rebate again past the broker's de-duplication (a re-driven copy, an outbox
    // relay racing the first publish): a duplicate trade, nothing changes.
    app.publish("rebate-1-again", rebate("u1", "integral", "10", "20261130")).await;
    assert_eq!(app.ledger("u1").await, expected);
    assert_eq!(app.available("u1").await, Some(Decimal::from(10)));
    // The next day's rebate is a new credit.
    app.publish("rebate-2", rebate("u1", "integral", "10.5", "20261201")).await;
    assert_eq!(app.available("u1").await, Some(Decimal::from_str("20.5").unwrap()));
    assert!(app.parked().await.is_empty());
}

#[tokio::test]
async fn a_sku_rebate_is_not_awards_and_a_bad_amount_is_parked() {
    let mut app = App::spawn().await;
    app.publish("sku", rebate("u2", "sku", "9901", "20261130")).await;
    assert!(app.ledger("u2").await.is_empty());
    assert_eq!(app.available("u2").await, None);
    assert!(app.parked().await.is_empty(), "a sku rebate is acknowledged, not parked");

    for (id, amount) in [("zero", "0"), ("negative", "-5"), ("words", "ten")] {
        app.publish(id, rebate("u2", "integral", amount, id)).await;
    }
    assert!(app.ledger("u2").await.is_empty(), "no bad amount was credited");
    let parked = app.parked().await;
    assert_eq!(parked.len(), 3, "{parked:?}");
    for (subject, error) in &parked {
        assert_eq!(subject, &format!("{}.activity.send_rebate", app.infra.subject_prefix));
        assert!(error.contains("is not a credit amount"), "{error}");
    }
}

#[tokio::test]
async fn a_biz_id_booked_as_another_trade_is_parked() {
    let mut app = App::spawn().await;
    app.publish("first", rebate("u3", "integral", "10", "x")).await;
    // Another amount under the same biz_id: a conflict (0003) that no retry can fix.
    app.publish("conflict", rebate("u3", "integral", "20", "x")).await;
    assert_eq!(app.available("u3").await, Some(Decimal::from(10)));
    let parked = app.parked().await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert!(parked[0].1.contains("booked already"), "{}", parked[0].1);
}

#[tokio::test]
async fn a_parked_rebate_re_driven_reaches_the_consumer_again() {
    let mut app = App::spawn().await;
    app.publish("bad", rebate("u4", "integral", "lots", "x")).await;
    let first = app.parked_rows().await;
    assert_eq!(first.len(), 1);
    let mut ops = bm_api::ops::ops_service_client::OpsServiceClient::new(app.process.channel().await);
    let retried = ops
        .retry_parked_messages(bm_api::ops::RetryParkedMessagesRequest { id: first[0].0, all: false })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.retried, 1);
    // Through award's outbox, on the send_rebate subject, to the consumer: parked again
    // (the amount is still bad) under a new id; nothing credited.
    eventually("the re-driven rebate parked again", || async {
        let rows = app.parked_rows().await;
        rows.len() == 1 && rows[0].0 != first[0].0
    })
    .await;
    let again = app.parked_rows().await;
    assert_eq!(again[0].1, first[0].1, "re-driven on its own subject");
    assert!(again[0].2.contains("is not a credit amount"));
    assert!(app.ledger("u4").await.is_empty());
}
