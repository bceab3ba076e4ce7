//! Black-box tests of the activity side of credit exchange (spec §5.1 credit_pay_trade, §5.3;
//! docs/activity.md "Credit exchange") against real Postgres, Redis and NATS:
//! CreateCreditPayOrder (new wait_pay orders, the 30 s reuse lease, concurrency, refusals) and
//! the consumer of award's credit_adjust_success (paid once, replays and other trades ignored).

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::HashSet;

use async_nats::jetstream;
use bm_api::activity::{
    ArmoryActivityRequest, CreateCreditPayOrderRequest, CreateCreditPayOrderResponse, QueryAccountRequest,
    activity_service_client::ActivityServiceClient,
};
use bm_testkit::{ServiceProcess, TestInfra, eventually};
use deadpool_redis::redis;
use tonic::{Code, Status, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_activity");
/// Sku 9013 of the demo: 20.00 credits for 5 / 5 / 5 draws on activity 100301.
const SKU: i64 = 9013;

struct App {
    infra: TestInfra,
    _process: ServiceProcess,
    client: ActivityServiceClient<Channel>,
    pool: sqlx::PgPool,
}

impl App {
    async fn spawn() -> Self {
        let infra = TestInfra::new(Some(&bm_activity::MIGRATOR)).await;
        let pool = infra.pool().await;
        sqlx::raw_sql(bm_activity::DEMO_DATA).execute(&pool).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO raffle_activity (activity_id, activity_name, begin_date_time, end_date_time, strategy_id, state) VALUES
                 (700001, 'closed', '2024-01-01 00:00:00+08', '2034-01-01 00:00:00+08', 700001, 'close');
             INSERT INTO raffle_activity_count (activity_count_id, total_count, day_count, month_count) VALUES (70001, 1, 1, 1);
             INSERT INTO raffle_activity_sku (sku, activity_id, activity_count_id, stock_count, stock_count_surplus, stock_opening, product_amount) VALUES
                 (7101, 100301, 70001, 10, 10, 10, 0), (7102, 700001, 70001, 10, 10, 10, 5),
                 (7103, 100301, 70001, 1, 1, 1, 5);",
        )
        .execute(&pool)
        .await
        .unwrap();
        let process = ServiceProcess::spawn(BINARY, &infra.service_env()).await;
        let client = ActivityServiceClient::new(process.channel().await);
        client.clone().armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
        Self { infra, _process: process, client, pool }
    }

    async fn exchange(&self, user: &str, sku: i64) -> Result<CreateCreditPayOrderResponse, Status> {
        self.exchange_with_credit(user, sku, "").await
    }

    /// An exchange whose caller read the user's available credit as `available`.
    async fn exchange_with_credit(
        &self,
        user: &str,
        sku: i64,
        available: &str,
    ) -> Result<CreateCreditPayOrderResponse, Status> {
        let request = CreateCreditPayOrderRequest { user_id: user.into(), sku, available_credit: available.into() };
        self.client.clone().create_credit_pay_order(request).await.map(tonic::Response::into_inner)
    }

    /// (total_count, total_count_surplus) of the user on activity 100301.
    async fn quota(&self, user: &str) -> (i32, i32) {
        let request = QueryAccountRequest { user_id: user.into(), activity_id: 100_301 };
        let account = self.client.clone().query_account(request).await.unwrap().into_inner();
        (account.total_count, account.total_count_surplus)
    }

    async fn sku_counter(&self, sku: i64) -> i64 {
        let key = format!("{}activity:{{{sku}}}:stock", self.infra.redis_prefix);
        redis::cmd("GET").arg(key).query_async(&mut self.infra.redis().get().await.unwrap()).await.unwrap()
    }

    /// (state, pay_amount as text) of a recharge order.
    async fn order(&self, user: &str, order_id: &str) -> (String, String) {
        sqlx::query_as("SELECT state, pay_amount::TEXT FROM raffle_activity_order WHERE user_id = $1 AND order_id = $2")
            .bind(user)
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn orders_of(&self, user: &str) -> i64 {
        sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM raffle_activity_order WHERE user_id = $1")
            .bind(user)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .0
    }

    /// Moves the user's leases back by a minute: every exchange of them has given up.
    async fn expire_leases(&self, user: &str) {
        sqlx::query(
            "UPDATE raffle_activity_order SET claimed_at = claimed_at - INTERVAL '1 minute' WHERE user_id = $1",
        )
        .bind(user)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn parked(&self) -> Vec<String> {
        sqlx::query_as::<_, (String,)>("SELECT error FROM parked_message ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(error,)| error)
            .collect()
    }

    async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(bm_testkit::nats_url()).await.unwrap())
    }

    /// Award's stream, as award declares it at start (`bm_server::infra::ensure_stream`).
    async fn create_award_stream(&self) {
        let config = jetstream::stream::Config {
            name: format!("{}_AWARD", self.infra.stream_prefix),
            subjects: vec![format!("{}.award.>", self.infra.subject_prefix)],
            duplicate_window: std::time::Duration::from_mins(2),
            ..Default::default()
        };
        self.jetstream().await.get_or_create_stream(config).await.unwrap();
    }

    /// Publishes credit_adjust_success as award's outbox does (envelope, `Nats-Msg-Id` = its
    /// id) under a fresh message id; returns the stream sequence.
    async fn publish_trade(&self, user: &str, out_business_no: &str, trade_type: &str, amount: &str) -> u64 {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let envelope = serde_json::json!({
            "id": id,
            "timestamp": 1_764_000_000_000_i64,
            "data": {
                "user_id": user,
                "order_id": uuid::Uuid::new_v4().simple().to_string(),
                "out_business_no": out_business_no,
                "trade_type": trade_type,
                "amount": amount,
            },
        });
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        let subject = format!("{}.award.credit_adjust_success", self.infra.subject_prefix);
        let payload = serde_json::to_vec(&envelope).unwrap();
        let jetstream = self.jetstream().await;
        let ack = jetstream.publish_with_headers(subject, headers, payload.into()).await.unwrap();
        ack.await.unwrap().sequence
    }

    /// Waits until activity's consumer has acknowledged every message up to `sequence`.
    async fn handled(&self, sequence: u64) {
        let stream_name = format!("{}_AWARD", self.infra.stream_prefix);
        let durable = format!("{}_activity_credit_adjust_success", self.infra.stream_prefix);
        eventually("activity consumed credit_adjust_success", || async {
            let Ok(stream) = self.jetstream().await.get_stream(&stream_name).await else { return false };
            let Ok(mut consumer) = stream.get_consumer::<jetstream::consumer::pull::Config>(&durable).await else {
                return false;
            };
            consumer.info().await.is_ok_and(|info| info.ack_floor.stream_sequence >= sequence)
        })
        .await;
    }
}

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

#[tokio::test]
async fn a_new_order_waits_for_payment_and_a_second_exchange_within_the_lease_gets_its_own() {
    let app = App::spawn().await;
    let stock = app.sku_counter(SKU).await;
    let first = app.exchange("u", SKU).await.unwrap();
    assert!(!first.reused);
    assert_eq!(first.pay_amount, "20.00", "priced at the sku's product_amount");
    assert!(first.out_business_no.starts_with("credit_pay:"), "{}", first.out_business_no);
    assert_eq!(app.order("u", &first.order_id).await, ("wait_pay".to_owned(), "20.00".to_owned()));
    assert_eq!(app.quota("u").await, (0, 0), "no quota before it is paid");
    assert_eq!(app.sku_counter(SKU).await, stock - 1, "a new order takes a sku unit");

    let second = app.exchange("u", SKU).await.unwrap();
    assert!(!second.reused, "the first is held by its exchange for 30 s");
    assert_ne!(second.order_id, first.order_id);
    assert_ne!(second.out_business_no, first.out_business_no);
    assert_eq!(app.sku_counter(SKU).await, stock - 2);
}

#[tokio::test]
async fn after_the_lease_an_unpaid_order_younger_than_a_month_is_reused_without_stock() {
    let app = App::spawn().await;
    let first = app.exchange("u", SKU).await.unwrap();
    let second = app.exchange("u", SKU).await.unwrap();
    app.expire_leases("u").await;
    let stock = app.sku_counter(SKU).await;

    let reused = app.exchange("u", SKU).await.unwrap();
    assert!(reused.reused);
    assert_eq!(
        (reused.order_id.as_str(), reused.out_business_no.as_str(), reused.pay_amount.as_str()),
        (first.order_id.as_str(), first.out_business_no.as_str(), "20.00"),
        "the oldest unpaid order, as it was"
    );
    let next = app.exchange("u", SKU).await.unwrap();
    assert_eq!((next.order_id.as_str(), next.reused), (second.order_id.as_str(), true), "the first is claimed again");
    assert_eq!(app.sku_counter(SKU).await, stock, "reuse takes no stock");
    let third = app.exchange("u", SKU).await.unwrap();
    assert!(!third.reused, "both unpaid orders are held");
    assert_eq!(app.orders_of("u").await, 3);

    // Another user's or another sku's unpaid orders are never handed out.
    app.expire_leases("u").await;
    assert!(!app.exchange("v", SKU).await.unwrap().reused);
    assert!(!app.exchange("u", 9014).await.unwrap().reused);

    // An unpaid order older than a month is not reused.
    sqlx::query("UPDATE raffle_activity_order SET order_time = order_time - INTERVAL '2 months' WHERE user_id = 'u'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.expire_leases("u").await;
    let fresh = app.exchange("u", SKU).await.unwrap();
    assert!(!fresh.reused);
}

#[tokio::test]
async fn concurrent_exchanges_of_one_user_never_share_an_order() {
    let app = App::spawn().await;
    let stock = app.sku_counter(SKU).await;
    let results = futures_util::future::join_all((0..20).map(|_| app.exchange("racer", SKU))).await;
    let orders: HashSet<String> = results.iter().map(|r| r.as_ref().unwrap().order_id.clone()).collect();
    assert_eq!(orders.len(), 20);
    assert!(results.iter().all(|r| !r.as_ref().unwrap().reused));
    assert_eq!(app.sku_counter(SKU).await, stock - 20);

    // Every lease over: 20 concurrent exchanges claim the 20 unpaid orders, one each.
    app.expire_leases("racer").await;
    let results = futures_util::future::join_all((0..20).map(|_| app.exchange("racer", SKU))).await;
    let again: HashSet<String> = results.iter().map(|r| r.as_ref().unwrap().order_id.clone()).collect();
    assert_eq!(again, orders, "each unpaid order handed to exactly one exchange");
    assert!(results.iter().all(|r| r.as_ref().unwrap().reused));
    assert_eq!(app.orders_of("racer").await, 20);
    assert_eq!(app.sku_counter(SKU).await, stock - 20);
}

#[tokio::test]
async fn credit_adjust_success_pays_the_order_once() {
    // Activity starts before award has created its stream: the consumer waits for it.
    let app = App::spawn().await;
    let order = app.exchange("payer", SKU).await.unwrap();
    let other = app.exchange("payer", SKU).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    app.create_award_stream().await;

    // Trades that pay nothing: forward, unknown business number, another user's number.
    let forward = app.publish_trade("payer", &order.out_business_no, "forward", "20.00").await;
    let unknown = app.publish_trade("payer", "credit_pay:unknown", "reverse", "20.00").await;
    let stranger = app.publish_trade("stranger", &order.out_business_no, "reverse", "20.00").await;
    app.handled(forward.max(unknown).max(stranger)).await;
    assert_eq!(app.order("payer", &order.order_id).await.0, "wait_pay");
    assert_eq!(app.quota("payer").await, (0, 0));
    assert_eq!(app.quota("stranger").await, (0, 0));

    let paid = app.publish_trade("payer", &order.out_business_no, "reverse", "20.00").await;
    app.handled(paid).await;
    assert_eq!(app.order("payer", &order.order_id).await.0, "completed");
    assert_eq!(app.quota("payer").await, (5, 5), "sku 9013 grants 5");
    assert_eq!(app.order("payer", &other.order_id).await.0, "wait_pay", "only the paid order");

    // A redelivery (another message id, as a re-driven or re-published event) grants nothing.
    let replay = app.publish_trade("payer", &order.out_business_no, "reverse", "20.00").await;
    app.handled(replay).await;
    assert_eq!(app.quota("payer").await, (5, 5));
    assert!(app.parked().await.is_empty(), "{:?}", app.parked().await);

    // A paid order is never handed to another exchange.
    app.expire_leases("payer").await;
    let next = app.exchange("payer", SKU).await.unwrap();
    assert_eq!((next.order_id.as_str(), next.reused), (other.order_id.as_str(), true));
}

#[tokio::test]
async fn a_trade_of_another_amount_is_parked_and_pays_nothing() {
    let app = App::spawn().await;
    app.create_award_stream().await;
    let order = app.exchange("u", SKU).await.unwrap();
    app.publish_trade("u", &order.out_business_no, "reverse", "5.00").await;
    eventually("the mismatch is parked", || async { !app.parked().await.is_empty() }).await;
    let parked = app.parked().await;
    assert!(parked[0].contains("paid 5.00") && parked[0].contains(&order.order_id), "{parked:?}");
    assert_eq!(app.order("u", &order.order_id).await.0, "wait_pay");
    assert_eq!(app.quota("u").await, (0, 0));
}

#[tokio::test]
async fn refusals_and_bad_input() {
    let app = App::spawn().await;
    for status in [app.exchange("", SKU).await.unwrap_err(), app.exchange("u", 0).await.unwrap_err()] {
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{status:?}");
    }
    assert_eq!(code(&app.exchange("u", -3).await.unwrap_err()).1, Some("0002"));
    let unknown = app.exchange("u", 123_456).await.unwrap_err();
    assert_eq!(code(&unknown), (Code::NotFound, Some("BM_NOT_FOUND")));

    let free = app.exchange("u", 7101).await.unwrap_err();
    assert_eq!(code(&free), (Code::FailedPrecondition, Some("0002")), "{free:?}");
    assert!(free.message().contains("cannot be bought with credit"), "{}", free.message());
    let closed = app.exchange("u", 7102).await.unwrap_err();
    assert_eq!(code(&closed), (Code::FailedPrecondition, Some("ERR_BIZ_003")));
    // Activity 100401 of the demo ended on 2026-10-06.
    let ended = app.exchange("u", 9901).await.unwrap_err();
    assert_eq!(code(&ended), (Code::FailedPrecondition, Some("ERR_BIZ_004")));
    assert_eq!(app.orders_of("u").await, 0, "no order for a refusal");

    // The caller's credit reading: below the price (20.00) → ERR_CREDIT_001 and no order;
    // a malformed one is 0002; enough credit makes the order.
    let poor = app.exchange_with_credit("u", SKU, "19.99").await.unwrap_err();
    assert_eq!(code(&poor), (Code::FailedPrecondition, Some("ERR_CREDIT_001")), "{poor:?}");
    for bad in ["-1", "lots"] {
        let status = app.exchange_with_credit("u", SKU, bad).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{bad}: {status:?}");
    }
    assert_eq!(app.orders_of("u").await, 0, "no order without the credit");
    app.exchange_with_credit("rich", SKU, "20").await.unwrap();
    assert_eq!(app.orders_of("rich").await, 1);

    // Sku 7103 has one unit: the first exchange holds it, the second finds it sold out.
    app.exchange("u", 7103).await.unwrap();
    let sold_out = app.exchange("u", 7103).await.unwrap_err();
    assert_eq!(code(&sold_out), (Code::FailedPrecondition, Some("ERR_BIZ_005")));
    // Once its lease is over the unpaid order is reused even though the sku is sold out.
    app.expire_leases("u").await;
    assert!(app.exchange("u", 7103).await.unwrap().reused);
}
