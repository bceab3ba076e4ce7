//! The parked-message console (issue #15): a send_award that failed is parked, listed with
//! its error and tries through AdminService, and — once the operator fixed its cause —
//! re-driven and delivered exactly once; discarding drops it; bad input changes nothing.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::Duration;

use bm_api::{
    admin::{
        DiscardParkedMessagesRequest, GetOutboxBacklogRequest, ListParkedMessagesRequest, ParkedMessage,
        RetryParkedMessagesRequest, admin_service_client::AdminServiceClient,
    },
    award::RecordAwardRequest,
    raffle::{ListUserAwardsRequest, QueryUserCreditRequest},
};
use bm_e2e::Cluster;
use bm_testkit::eventually;
use tonic::{Code, Status, transport::Channel};

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

/// Records an award of random credit with `config` for `order`, straight on the award
/// service (as the orchestrator would after a draw).
async fn record(cluster: &Cluster, order: &str, config: &str) {
    let request = RecordAwardRequest {
        user_id: "pk-user".into(),
        activity_id: 100_301,
        strategy_id: 100_006,
        order_id: order.into(),
        award_id: 101,
        award_key: "user_credit_random".into(),
        award_title: "随机积分".into(),
        award_config: config.into(),
    };
    cluster.award_client().await.record_award(request).await.unwrap();
}

async fn parked(admin: &AdminServiceClient<Channel>, service: &str) -> Vec<ParkedMessage> {
    let request = ListParkedMessagesRequest { service: service.into(), limit: 0 };
    admin.clone().list_parked_messages(request).await.unwrap().into_inner().messages
}

async fn wait_parked(admin: &AdminServiceClient<Channel>, count: usize) -> Vec<ParkedMessage> {
    eventually(&format!("{count} parked messages"), || async { parked(admin, "").await.len() == count }).await;
    parked(admin, "").await
}

async fn award_state(cluster: &Cluster, order: &str) -> String {
    let request = ListUserAwardsRequest { user_id: "pk-user".into(), activity_id: 100_301 };
    let records = cluster.client.clone().list_user_awards(request).await.unwrap().into_inner().records;
    records.into_iter().find(|r| r.order_id == order).map(|r| r.award_state).unwrap_or_default()
}

async fn fix_config(cluster: &Cluster, order: &str) {
    sqlx::query("UPDATE user_award_record SET award_config = '1,100' WHERE order_id = $1")
        .bind(order)
        .execute(&cluster.award.infra.pool().await)
        .await
        .unwrap();
}

async fn ledger_rows(cluster: &Cluster) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM user_credit_order WHERE user_id = 'pk-user'")
        .fetch_one(&cluster.award.infra.pool().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_parked_award_is_listed_retried_once_after_the_fix_or_discarded() {
    let cluster = Cluster::start(&[]).await;
    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    assert!(parked(&admin, "").await.is_empty());

    // A malformed config cannot be distributed: the message is parked with the reason.
    record(&cluster, "pk-order-1", "abc").await;
    let listed = wait_parked(&admin, 1).await;
    let message = &listed[0];
    assert_eq!((message.service.as_str(), message.deliveries >= 1), ("award", true));
    assert!(message.error.contains("ERR_CONFIG_001"), "{}", message.error);
    assert!(message.subject.ends_with(".award.send_award") && message.payload.contains("pk-order-1"));
    assert_eq!(award_state(&cluster, "pk-order-1").await, "parked");
    assert_eq!(parked(&admin, "award").await.len(), 1);
    assert!(parked(&admin, "strategy").await.is_empty());

    // Retrying before the fix parks it again (and nothing is credited)...
    let one = |id| RetryParkedMessagesRequest { service: "award".into(), id, all: false };
    assert_eq!(admin.clone().retry_parked_messages(one(message.id)).await.unwrap().into_inner().retried, 1);
    let again = wait_parked(&admin, 1).await;
    assert_ne!(again[0].id, message.id, "a new parking");
    assert_eq!(ledger_rows(&cluster).await, 0);
    // ...the re-driven id is gone: retrying it is NOT_FOUND.
    let gone = admin.clone().retry_parked_messages(one(message.id)).await.unwrap_err();
    assert_eq!(code(&gone), (Code::NotFound, Some("BM_NOT_FOUND")));

    // The operator fixes the record; the retry delivers it, once.
    fix_config(&cluster, "pk-order-1").await;
    assert_eq!(admin.clone().retry_parked_messages(one(again[0].id)).await.unwrap().into_inner().retried, 1);
    eventually("the award is completed", || async { award_state(&cluster, "pk-order-1").await == "completed" }).await;
    let credit = cluster
        .client
        .clone()
        .query_user_credit(QueryUserCreditRequest { user_id: "pk-user".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(credit.available_amount.parse::<f64>().unwrap() >= 1.0, "{credit:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ledger_rows(&cluster).await, 1, "credited once");
    assert!(parked(&admin, "").await.is_empty());

    // Discard: dropped for good, the record stays parked for a person to handle.
    record(&cluster, "pk-order-2", "abc").await;
    let listed = wait_parked(&admin, 1).await;
    let discard = DiscardParkedMessagesRequest { service: "award".into(), id: listed[0].id, all: false };
    assert_eq!(admin.clone().discard_parked_messages(discard.clone()).await.unwrap().into_inner().discarded, 1);
    assert_eq!(code(&admin.clone().discard_parked_messages(discard).await.unwrap_err()).0, Code::NotFound);
    assert!(parked(&admin, "").await.is_empty());
    assert_eq!(award_state(&cluster, "pk-order-2").await, "parked");

    // Retry all, across every service.
    record(&cluster, "pk-order-3", "abc").await;
    wait_parked(&admin, 1).await;
    fix_config(&cluster, "pk-order-3").await;
    let all = RetryParkedMessagesRequest { service: String::new(), id: 0, all: true };
    assert_eq!(admin.clone().retry_parked_messages(all).await.unwrap().into_inner().retried, 1);
    eventually("the third award is completed", || async { award_state(&cluster, "pk-order-3").await == "completed" })
        .await;
    assert_eq!(ledger_rows(&cluster).await, 2);

    // The outbox backlog is reported for the services that have one (activity: send_rebate).
    let backlogs = admin.clone().get_outbox_backlog(GetOutboxBacklogRequest {}).await.unwrap().into_inner().backlogs;
    assert_eq!(backlogs.iter().map(|b| b.service.as_str()).collect::<Vec<_>>(), ["activity", "award"]);
    assert!(backlogs.iter().all(|b| b.pending >= 0 && b.oldest_pending_seconds >= 0.0));
}

#[tokio::test]
async fn bad_console_input_is_refused() {
    let cluster = Cluster::start(&[]).await;
    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    for (service, id, all) in
        [("", 5, false), ("bogus", 1, false), ("award", 0, false), ("award", 3, true), ("award", -2, false)]
    {
        let retry = RetryParkedMessagesRequest { service: service.into(), id, all };
        let status = admin.clone().retry_parked_messages(retry).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "retry {service:?} {id} {all}");
        let discard = DiscardParkedMessagesRequest { service: service.into(), id, all };
        let status = admin.clone().discard_parked_messages(discard).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "discard {service:?} {id} {all}");
    }
    let list = ListParkedMessagesRequest { service: "nope".into(), limit: 0 };
    assert_eq!(code(&admin.clone().list_parked_messages(list).await.unwrap_err()).0, Code::InvalidArgument);
    let list = ListParkedMessagesRequest { service: String::new(), limit: 5000 };
    assert_eq!(code(&admin.clone().list_parked_messages(list).await.unwrap_err()).0, Code::InvalidArgument);
    let missing = RetryParkedMessagesRequest { service: "strategy".into(), id: 424_242, all: false };
    assert_eq!(code(&admin.clone().retry_parked_messages(missing).await.unwrap_err()).0, Code::NotFound);
}
