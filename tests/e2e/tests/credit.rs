//! Issue #14 end to end, through the orchestrator's gRPC API with the four services on real
//! Postgres, Redis and NATS: the daily sign-in and its rebates (credit from award's
//! send_rebate consumer, quota from activity-quota's), credit exchange (debit, then the quota
//! on credit_adjust_success, exactly once, never overdrawn) and the app-authenticated Rebate.
#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use bm_api::{
    award::CreditTradeRequest,
    raffle::{
        ArmoryActivityRequest, CreditExchangeSkuRequest, CreditExchangeSkuResponse, IsSignedTodayRequest,
        ListSkuProductsRequest, ListSkusRequest, QueryUserActivityAccountRequest, QueryUserCreditRequest,
        RebateRequest, SignInRequest,
    },
};
use bm_e2e::Cluster;
use bm_testkit::eventually;
use tonic::{Code, Status};

/// The demo activity that stays open (sku 9014: 5 credits for 1 draw).
const OPEN_ACTIVITY: i64 = 100_301;
/// The sign-in's and openai_pay's sku rebates (9901) grant quota here; it ended in the demo.
const REBATE_ACTIVITY: i64 = 100_401;
const SKU_5: i64 = 9014;
const SKU_200: i64 = 9011;
/// The demo's rebate app (deploy/local/rebate-apps.yaml).
const APP_TOKEN: &str = "89iu7o8732ijd9114";

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

/// A cluster whose 100401 is open for another month, with the demo rebate app configured.
async fn cluster() -> Cluster {
    let apps = format!("{}/../../deploy/local/rebate-apps.yaml", env!("CARGO_MANIFEST_DIR"));
    let cluster = Cluster::start(&[("BM_REBATE__APPS_FILE", apps.as_str())]).await;
    sqlx::query("UPDATE raffle_activity SET end_date_time = now() + interval '30 days' WHERE activity_id = $1")
        .bind(REBATE_ACTIVITY)
        .execute(&cluster.activity.infra.pool().await)
        .await
        .unwrap();
    for activity_id in [OPEN_ACTIVITY, REBATE_ACTIVITY] {
        cluster.client.clone().armory_activity(ArmoryActivityRequest { activity_id }).await.unwrap();
    }
    cluster
}

async fn available(cluster: &Cluster, user: &str) -> String {
    let request = QueryUserCreditRequest { user_id: user.into() };
    cluster.client.clone().query_user_credit(request).await.unwrap().into_inner().available_amount
}

async fn total_count(cluster: &Cluster, user: &str, activity_id: i64) -> i32 {
    let request = QueryUserActivityAccountRequest { user_id: user.into(), activity_id };
    cluster.client.clone().query_user_activity_account(request).await.unwrap().into_inner().total_count
}

async fn wait_credit(cluster: &Cluster, user: &str, expected: &str) {
    eventually(&format!("{user}'s credit reaching {expected}"), || async {
        available(cluster, user).await == expected
    })
    .await;
}

async fn wait_quota(cluster: &Cluster, user: &str, activity_id: i64, expected: i32) {
    eventually(&format!("{user}'s quota on {activity_id} reaching {expected}"), || async {
        total_count(cluster, user, activity_id).await == expected
    })
    .await;
}

/// Gives `user` credit through award directly (a forward trade).
async fn grant(cluster: &Cluster, user: &str, amount: &str) {
    let request = CreditTradeRequest {
        user_id: user.into(),
        out_business_no: format!("test-grant-{user}"),
        trade_name: "test grant".into(),
        trade_type: "forward".into(),
        amount: amount.into(),
    };
    cluster.award_client().await.credit_trade(request).await.unwrap();
}

async fn exchange(cluster: &Cluster, user: &str, sku: i64) -> Result<CreditExchangeSkuResponse, Status> {
    let request = CreditExchangeSkuRequest { user_id: user.into(), sku };
    cluster.client.clone().credit_exchange_sku(request).await.map(tonic::Response::into_inner)
}

/// Waits until every durable consumer of the cluster's streams has handled everything in
/// them (nothing pending, nothing awaiting an ack): after it, what did not happen will not.
async fn settled(cluster: &Cluster) {
    let prefix = cluster.award.setting("BM_NATS__STREAM_PREFIX").unwrap().to_owned();
    let jetstream = async_nats::jetstream::new(async_nats::connect(bm_testkit::nats_url()).await.unwrap());
    eventually("every consumer caught up", || async {
        for name in ["ACTIVITY", "AWARD"] {
            let Ok(stream) = jetstream.get_stream(format!("{prefix}_{name}")).await else { return false };
            let mut names = stream.consumer_names();
            while let Some(Ok(durable)) = futures_util::StreamExt::next(&mut names).await {
                let Ok(consumer) = stream.consumer_info(&durable).await else { return false };
                if consumer.num_pending > 0 || consumer.num_ack_pending > 0 {
                    return false;
                }
            }
        }
        true
    })
    .await;
}

/// (order_id, state, out_business_no) of the user's recharge orders of `sku`.
async fn orders(cluster: &Cluster, user: &str, sku: i64) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT order_id, state, out_business_no FROM raffle_activity_order WHERE user_id = $1 AND sku = $2")
        .bind(user)
        .bind(sku)
        .fetch_all(&cluster.activity.infra.pool().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_once_a_day_rebates_10_credits_and_a_draw_on_100401() {
    let cluster = cluster().await;
    let user = "signer";
    let before = cluster.client.clone().is_signed_today(IsSignedTodayRequest { user_id: user.into() }).await;
    let before = before.unwrap().into_inner();
    assert!(!before.signed);
    let signed = cluster.client.clone().sign_in(SignInRequest { user_id: user.into() }).await.unwrap().into_inner();
    assert_eq!(signed.sign_date, before.sign_date);
    let mut types: Vec<_> = signed.orders.iter().map(|o| (o.rebate_type.as_str(), o.rebate_config.as_str())).collect();
    types.sort_unstable();
    assert_eq!(types, [("integral", "10"), ("sku", "9901")]);
    let again = cluster.client.clone().sign_in(SignInRequest { user_id: user.into() }).await.unwrap_err();
    assert_eq!(code(&again), (Code::AlreadyExists, Some("0003")));
    let after = cluster.client.clone().is_signed_today(IsSignedTodayRequest { user_id: user.into() }).await;
    assert!(after.unwrap().into_inner().signed);

    wait_credit(&cluster, user, "10").await;
    wait_quota(&cluster, user, REBATE_ACTIVITY, 1).await;
    settled(&cluster).await;
    assert_eq!(available(&cluster, user).await, "10", "credited once");
    assert_eq!(total_count(&cluster, user, REBATE_ACTIVITY).await, 1, "one draw granted");
}

#[tokio::test]
async fn credit_exchange_debits_once_and_grants_the_quota_once() {
    let cluster = cluster().await;
    let user = "buyer";
    // What is on sale: the same items as ListSkus.
    let products = cluster
        .client
        .clone()
        .list_sku_products(ListSkuProductsRequest { activity_id: OPEN_ACTIVITY })
        .await
        .unwrap()
        .into_inner()
        .products;
    let skus = cluster.client.clone().list_skus(ListSkusRequest { activity_id: OPEN_ACTIVITY }).await.unwrap();
    assert_eq!(products, skus.into_inner().skus);
    assert!(products.iter().any(|p| p.sku == SKU_5));

    grant(&cluster, user, "12").await;
    let paid = exchange(&cluster, user, SKU_5).await.unwrap();
    assert!(!paid.reused);
    assert_eq!(paid.pay_amount.trim_end_matches('0').trim_end_matches('.'), "5");
    assert_eq!(available(&cluster, user).await, "7");
    wait_quota(&cluster, user, OPEN_ACTIVITY, 1).await;
    eventually("the order completed", || async {
        orders(&cluster, user, SKU_5).await.iter().any(|(id, state, _)| *id == paid.order_id && state == "completed")
    })
    .await;

    // Too little credit: ERR_CREDIT_001, nothing debited, and (the pre-check) no order made,
    // so no sku unit is tied up.
    let refused = exchange(&cluster, user, SKU_200).await.unwrap_err();
    assert_eq!(code(&refused), (Code::FailedPrecondition, Some("ERR_CREDIT_001")));
    assert_eq!(available(&cluster, user).await, "7");
    assert!(orders(&cluster, user, SKU_200).await.is_empty());

    // A redelivered credit_adjust_success (the stored event, under another message id)
    // grants nothing more.
    let out_business_no =
        orders(&cluster, user, SKU_5).await.into_iter().find(|(id, ..)| *id == paid.order_id).unwrap().2;
    let (payload,): (String,) = sqlx::query_as(
        "SELECT payload::text FROM outbox_task WHERE payload->'data'->>'out_business_no' = $1 AND user_id = $2",
    )
    .bind(&out_business_no)
    .bind(user)
    .fetch_one(&cluster.award.infra.pool().await)
    .await
    .unwrap();
    let subject = format!("{}.award.credit_adjust_success", cluster.award.setting("BM_NATS__SUBJECT_PREFIX").unwrap());
    let jetstream = async_nats::jetstream::new(async_nats::connect(bm_testkit::nats_url()).await.unwrap());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "credit-adjust-redelivered");
    jetstream.publish_with_headers(subject, headers, payload.into_bytes().into()).await.unwrap().await.unwrap();
    settled(&cluster).await;
    assert_eq!(total_count(&cluster, user, OPEN_ACTIVITY).await, 1, "the quota was granted once");
    assert_eq!(available(&cluster, user).await, "7");
}

#[tokio::test]
async fn twenty_concurrent_exchanges_on_credit_for_three_pay_exactly_three() {
    let cluster = cluster().await;
    let user = "rush";
    grant(&cluster, user, "15").await;
    let attempts = futures_util::future::join_all((0..20).map(|_| exchange(&cluster, user, SKU_5))).await;
    let paid: Vec<_> = attempts.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(paid.len(), 3, "{attempts:?}");
    for refused in attempts.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(code(refused), (Code::FailedPrecondition, Some("ERR_CREDIT_001")), "{refused:?}");
    }
    let mut ids: Vec<_> = paid.iter().map(|p| p.order_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct orders");
    assert_eq!(available(&cluster, user).await, "0", "15 - 3 x 5, never below zero");
    wait_quota(&cluster, user, OPEN_ACTIVITY, 3).await;
    settled(&cluster).await;
    let completed =
        orders(&cluster, user, SKU_5).await.into_iter().filter(|(_, state, _)| state == "completed").count();
    assert_eq!(completed, 3);
    assert_eq!(total_count(&cluster, user, OPEN_ACTIVITY).await, 3);
    let (negative,): (i64,) = sqlx::query_as("SELECT count(*) FROM user_credit_account WHERE available_amount < 0")
        .fetch_one(&cluster.award.infra.pool().await)
        .await
        .unwrap();
    assert_eq!(negative, 0);
}

#[tokio::test]
async fn rebate_needs_the_apps_token_and_happens_once() {
    let cluster = cluster().await;
    let user = "payer";
    let request = |token: &str| RebateRequest {
        app_id: "chatgpt-data".into(),
        app_token: token.into(),
        user_id: user.into(),
        behavior_type: "openai_pay".into(),
        out_business_no: "pay-20261130-0001".into(),
    };
    let refused = cluster.client.clone().rebate(request("not-the-token")).await.unwrap_err();
    assert_eq!(code(&refused), (Code::PermissionDenied, Some("0008")));
    let (written,): (i64,) = sqlx::query_as("SELECT count(*) FROM user_behavior_rebate_order WHERE user_id = $1")
        .bind(user)
        .fetch_one(&cluster.activity.infra.pool().await)
        .await
        .unwrap();
    assert_eq!(written, 0, "a refused app writes nothing");

    let rebated = cluster.client.clone().rebate(request(APP_TOKEN)).await.unwrap().into_inner();
    assert_eq!(rebated.orders.len(), 2);
    wait_credit(&cluster, user, "10").await;
    wait_quota(&cluster, user, REBATE_ACTIVITY, 1).await;
    let again = cluster.client.clone().rebate(request(APP_TOKEN)).await.unwrap_err();
    assert_eq!(code(&again), (Code::AlreadyExists, Some("0003")));
    settled(&cluster).await;
    assert_eq!(available(&cluster, user).await, "10");
    assert_eq!(total_count(&cluster, user, REBATE_ACTIVITY).await, 1);
}
