//! Black-box tests of the orchestrator's issue-#14 methods that need no downstream service:
//! bad input is `0002`, and Rebate checks its app (app_id + app_token of `rebate.apps_file`,
//! and the behaviours the app may rebate) before it calls anything. The downstream URLs point
//! at a port nobody listens on, so any call that got past the checks answers UNAVAILABLE.
#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::PathBuf;

use bm_api::raffle::{self as pb, raffle_service_client::RaffleServiceClient};
use bm_server::auth::token_sha256_hex;
use bm_status::ErrorCode;
use bm_testkit::{ServiceProcess, TestInfra, free_port, lifecycle::check_refuses_config};
use tonic::{Code, transport::Channel};

const BINARY: &str = env!("CARGO_BIN_EXE_raffle");
const TOKEN: &str = "89iu7o8732ijd9114";

/// Writes `text` to a file of this test's own.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("bm-raffle-{}-{name}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn apps_file(name: &str) -> PathBuf {
    file(
        name,
        &format!(
            "apps:\n  - app_id: chatgpt-data\n    token_sha256: {}\n    behaviors: [openai_pay]\n",
            token_sha256_hex(TOKEN)
        ),
    )
}

/// The orchestrator with `extra` settings and every downstream unreachable.
async fn spawn(extra: &[(&str, String)]) -> (ServiceProcess, RaffleServiceClient<Channel>) {
    let infra = TestInfra::new(None).await;
    let mut env = infra.messaging_env();
    for key in ["STRATEGY_URL", "ACTIVITY_URL", "AWARD_URL"] {
        env.push((format!("BM_DOWNSTREAM__{key}"), format!("http://127.0.0.1:{}", free_port())));
    }
    env.push(("BM_DOWNSTREAM__TIMEOUT_MS".into(), "500".into()));
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let process = ServiceProcess::spawn(BINARY, &env).await;
    let client = RaffleServiceClient::new(process.channel().await);
    (process, client)
}

fn rebate(
    app_id: &str,
    app_token: &str,
    user_id: &str,
    behavior_type: &str,
    out_business_no: &str,
) -> pb::RebateRequest {
    pb::RebateRequest {
        app_id: app_id.into(),
        app_token: app_token.into(),
        user_id: user_id.into(),
        behavior_type: behavior_type.into(),
        out_business_no: out_business_no.into(),
    }
}

#[track_caller]
fn assert_code(result: Result<impl std::fmt::Debug, tonic::Status>, grpc: Code, code: ErrorCode) {
    let status = result.unwrap_err();
    assert_eq!((status.code(), bm_status::code_of(&status)), (grpc, Some(code)), "{status:?}");
}

#[tokio::test]
async fn rebate_checks_fields_then_the_app_before_calling_anything() {
    let apps = apps_file("apps");
    let (_process, client) = spawn(&[("BM_REBATE__APPS_FILE", apps.display().to_string())]).await;
    let call = |request: pb::RebateRequest| {
        let mut client = client.clone();
        async move { client.rebate(request).await }
    };
    // Blank fields: 0002, whatever the app.
    for request in [
        rebate("", TOKEN, "u1", "openai_pay", "pay-1"),
        rebate("chatgpt-data", "", "u1", "openai_pay", "pay-1"),
        rebate("chatgpt-data", TOKEN, " ", "openai_pay", "pay-1"),
        rebate("chatgpt-data", TOKEN, "u1", "", "pay-1"),
        rebate("chatgpt-data", TOKEN, "u1", "openai_pay", ""),
        rebate("chatgpt-data", TOKEN, "u1", "openai_pay", &"x".repeat(65)),
    ] {
        assert_code(call(request).await, Code::InvalidArgument, ErrorCode::IllegalParameter);
    }
    // A wrong token, an unknown app, a behaviour the app may not rebate: 0008 at once (with
    // every downstream down, any call made would have answered UNAVAILABLE instead).
    for request in [
        rebate("chatgpt-data", "89iu7o8732ijd9115", "u1", "openai_pay", "pay-1"),
        rebate("other-app", TOKEN, "u1", "openai_pay", "pay-1"),
        rebate("chatgpt-data", TOKEN, "u1", "sign", "pay-1"),
    ] {
        assert_code(call(request).await, Code::PermissionDenied, ErrorCode::AppTokenError);
    }
    // The right app: past the checks, on to activity-quota (down here).
    assert_code(
        call(rebate("chatgpt-data", TOKEN, "u1", "OpenAI_Pay", "pay-1")).await,
        Code::Unavailable,
        ErrorCode::Unavailable,
    );
}

#[tokio::test]
async fn without_an_apps_file_no_app_may_rebate() {
    let (_process, mut client) = spawn(&[]).await;
    assert_code(
        client.rebate(rebate("chatgpt-data", TOKEN, "u1", "openai_pay", "pay-1")).await,
        Code::PermissionDenied,
        ErrorCode::AppTokenError,
    );
}

#[tokio::test]
async fn with_caller_authentication_on_rebate_needs_only_its_app_token() {
    let apps = apps_file("apps-callers");
    let callers = file(
        "callers",
        &format!(
            "callers:\n  - name: shop\n    token_sha256: {}\n    methods: [\"bigmarket.raffle.v1.RaffleService/*\"]\n",
            token_sha256_hex("shop-token")
        ),
    );
    let (_process, mut client) = spawn(&[
        ("BM_REBATE__APPS_FILE", apps.display().to_string()),
        ("BM_AUTH__CALLERS_FILE", callers.display().to_string()),
    ])
    .await;
    // No bearer token: other methods are UNAUTHENTICATED ...
    assert_code(
        client.sign_in(pb::SignInRequest { user_id: "u1".into() }).await,
        Code::Unauthenticated,
        ErrorCode::AppTokenError,
    );
    // ... Rebate is judged by its app alone.
    assert_code(
        client.rebate(rebate("chatgpt-data", "wrong", "u1", "openai_pay", "pay-1")).await,
        Code::PermissionDenied,
        ErrorCode::AppTokenError,
    );
    assert_code(
        client.rebate(rebate("chatgpt-data", TOKEN, "u1", "openai_pay", "pay-1")).await,
        Code::Unavailable,
        ErrorCode::Unavailable,
    );
}

#[tokio::test]
async fn bad_input_of_sign_in_exchange_and_products_is_0002() {
    let (_process, client) = spawn(&[]).await;
    let bad = (Code::InvalidArgument, ErrorCode::IllegalParameter);
    let long_user = "u".repeat(65);
    for user_id in ["", long_user.as_str(), "a\u{7}b"] {
        let mut c = client.clone();
        assert_code(c.sign_in(pb::SignInRequest { user_id: user_id.into() }).await, bad.0, bad.1);
        assert_code(c.is_signed_today(pb::IsSignedTodayRequest { user_id: user_id.into() }).await, bad.0, bad.1);
        assert_code(
            c.credit_exchange_sku(pb::CreditExchangeSkuRequest { user_id: user_id.into(), sku: 9011 }).await,
            bad.0,
            bad.1,
        );
    }
    let mut c = client.clone();
    for sku in [0, -1] {
        assert_code(
            c.credit_exchange_sku(pb::CreditExchangeSkuRequest { user_id: "u1".into(), sku }).await,
            bad.0,
            bad.1,
        );
    }
    for activity_id in [0, -5] {
        assert_code(c.list_sku_products(pb::ListSkuProductsRequest { activity_id }).await, bad.0, bad.1);
    }
    // Valid input reaches the (unreachable) downstream.
    assert_code(
        c.credit_exchange_sku(pb::CreditExchangeSkuRequest { user_id: "u1".into(), sku: 9011 }).await,
        Code::Unavailable,
        ErrorCode::Unavailable,
    );
}

#[test]
fn a_bad_apps_file_is_refused_naming_the_setting() {
    let bad = file("bad-apps", "apps:\n  - {app_id: a, token_sha256: nothex, behaviors: [sign]}\n");
    check_refuses_config(BINARY, &[("BM_REBATE__APPS_FILE".into(), bad.display().to_string())], "rebate.apps_file");
    check_refuses_config(
        BINARY,
        &[("BM_REBATE__APPS_FILE".into(), "/nonexistent/rebate-apps.yaml".into())],
        "rebate.apps_file",
    );
}
