//! Caller authentication (issue #15): the orchestrator knows its callers by token and what
//! each may call; the internal services accept only the orchestrator's internal token.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use bm_api::{
    raffle::{ArmoryActivityRequest, DrawRequest, GetActivityRequest, RechargeSkuRequest},
    strategy::QueryAwardListRequest,
};
use bm_e2e::{Backends, Cluster};
use bm_server::auth::token_sha256_hex;
use bm_testkit::{ServiceProcess, workspace_binary};
use tonic::{Code, Request, Status};

const INTERNAL: &str = "internal-secret-0123456789";

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn assert_refused(status: &Status, code: Code) {
    assert_eq!(
        (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str)),
        (code, Some("0008")),
        "{status:?}"
    );
}

#[tokio::test]
async fn callers_need_a_known_token_and_may_call_only_their_methods() {
    let dir = std::env::temp_dir().join(format!("bm-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let callers = dir.join("callers.yaml");
    std::fs::write(
        &callers,
        format!(
            "callers:\n  - name: shop\n    token_sha256: {}\n    methods: [\"bigmarket.raffle.v1.RaffleService/*\"]\n  - name: catalogue-reader\n    token_sha256: {}\n    methods: [\"bigmarket.raffle.v1.RaffleService/GetActivity\"]\n",
            token_sha256_hex("shop-token-1"),
            token_sha256_hex("reader-token-1"),
        ),
    )
    .unwrap();
    let backends = Backends { env: vec![("BM_AUTH__INTERNAL_TOKEN".into(), INTERNAL.into())], ..Backends::default() };
    let callers_file = callers.display().to_string();
    let cluster = Cluster::start_on(
        &backends,
        &[("BM_AUTH__INTERNAL_TOKEN", INTERNAL), ("BM_AUTH__CALLERS_FILE", callers_file.as_str())],
    )
    .await;
    let mut client = cluster.client.clone();

    // Without a token, or with a wrong one: UNAUTHENTICATED / 0008, nothing done.
    let draw = || DrawRequest { user_id: "auth-user".into(), activity_id: 100_301, request_id: String::new() };
    assert_refused(&client.draw(draw()).await.unwrap_err(), Code::Unauthenticated);
    assert_refused(&client.draw(with_token(draw(), "shop-token-2")).await.unwrap_err(), Code::Unauthenticated);
    // A known caller outside its methods: PERMISSION_DENIED / 0008.
    assert_refused(&client.draw(with_token(draw(), "reader-token-1")).await.unwrap_err(), Code::PermissionDenied);
    let activity = GetActivityRequest { activity_id: 100_301 };
    assert_eq!(
        client.get_activity(with_token(activity, "reader-token-1")).await.unwrap().into_inner().strategy_id,
        100_006
    );

    // The shop draws: the orchestrator's internal token opens the internal services.
    client.armory_activity(with_token(ArmoryActivityRequest { activity_id: 100_301 }, "shop-token-1")).await.unwrap();
    let recharge = RechargeSkuRequest { user_id: "auth-user".into(), sku: 9011, out_business_no: "auth-1".into() };
    client.recharge_sku(with_token(recharge, "shop-token-1")).await.unwrap();
    let drawn = client.draw(with_token(draw(), "shop-token-1")).await.unwrap().into_inner();
    assert!(drawn.award_id > 0 && !drawn.order_id.is_empty());
    // Health stays open (the harness waited on it; check explicitly too).
    assert_eq!(cluster.raffle.health().await, Some(tonic_health::pb::health_check_response::ServingStatus::Serving));

    // An internal service refuses everyone without the internal token.
    let mut strategy = cluster.strategy_client().await;
    let query = || QueryAwardListRequest { strategy_id: 100_006, user_day_partake_count: 0 };
    assert_refused(&strategy.query_award_list(query()).await.unwrap_err(), Code::Unauthenticated);
    assert_refused(
        &strategy.query_award_list(with_token(query(), "shop-token-1")).await.unwrap_err(),
        Code::Unauthenticated,
    );
    assert!(!strategy.query_award_list(with_token(query(), INTERNAL)).await.unwrap().into_inner().awards.is_empty());

    // An orchestrator holding the wrong internal token is a deployment fault: its callers
    // get UNAVAILABLE, not a 0008 that would blame their own (valid) token.
    let mut env: Vec<(String, String)> = vec![
        ("BM_DOWNSTREAM__STRATEGY_URL".into(), cluster.strategy.process.endpoint()),
        ("BM_DOWNSTREAM__ACTIVITY_URL".into(), cluster.activity.process.endpoint()),
        ("BM_DOWNSTREAM__AWARD_URL".into(), cluster.award.process.endpoint()),
        ("BM_AUTH__INTERNAL_TOKEN".into(), "not-the-internal-secret".into()),
        ("BM_AUTH__CALLERS_FILE".into(), callers_file.clone()),
    ];
    env.extend(bm_e2e::messaging_env(cluster.strategy.env()));
    let misconfigured = ServiceProcess::spawn(&workspace_binary("raffle"), &env).await;
    let mut other = bm_api::raffle::raffle_service_client::RaffleServiceClient::new(misconfigured.channel().await);
    let status = other.draw(with_token(draw(), "shop-token-1")).await.unwrap_err();
    assert_eq!(
        (status.code(), bm_status::code_of(&status).map(bm_status::ErrorCode::as_str)),
        (Code::Unavailable, Some("BM_UNAVAILABLE")),
        "{status:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_callers_file_stops_the_orchestrator_at_start() {
    let dir = std::env::temp_dir().join(format!("bm-auth-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let callers = dir.join("callers.yaml");
    std::fs::write(&callers, "callers:\n  - {name: x, token_sha256: nothex, methods: ['*']}\n").unwrap();
    bm_testkit::lifecycle::check_refuses_config(
        &workspace_binary("raffle"),
        &[("BM_AUTH__CALLERS_FILE".into(), callers.display().to_string())],
        "auth.callers_file",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
