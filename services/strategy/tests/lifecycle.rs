//! Black-box: the `strategy` binary starts, serves, and stops as every binary must.

use bm_testkit::{
    TestInfra,
    lifecycle::{check_refuses_config, check_serves_all_and_stops, with_env},
};

const BINARY: &str = env!("CARGO_BIN_EXE_strategy");

#[tokio::test]
async fn serves_contract_health_and_reflection_then_stops_on_sigterm() {
    let infra = TestInfra::new(None).await;
    check_serves_all_and_stops(
        BINARY,
        &["bigmarket.strategy.v1.StrategyService", "bigmarket.ops.v1.OpsService"],
        &infra.service_env(),
    )
    .await;
}

#[tokio::test]
async fn malformed_port_is_refused_naming_the_setting() {
    let infra = TestInfra::new(None).await;
    check_refuses_config(BINARY, &with_env(&infra.service_env(), "BM_GRPC__PORT", "fifty"), "grpc.port");
}

#[tokio::test]
async fn unreachable_database_is_refused_naming_the_setting() {
    let infra = TestInfra::new(None).await;
    let env = with_env(&infra.service_env(), "BM_DATABASE__URL", "postgres://bigmarket:secret@127.0.0.1:1/nowhere");
    let env = with_env(&env, "BM_DATABASE__CONNECT_ATTEMPTS", "1");
    check_refuses_config(BINARY, &env, "database.url");
}

#[tokio::test]
async fn group_commit_settings_are_checked() {
    let infra = TestInfra::new(None).await;
    let zero = with_env(&infra.service_env(), "BM_SERVICE__RECORD_BATCH_MAX", "0");
    check_refuses_config(BINARY, &zero, "service.record_batch_max");
    let env = with_env(&infra.service_env(), "BM_DATABASE__MAX_CONNECTIONS", "4");
    let env = with_env(&env, "BM_SERVICE__RECORD_BATCH_IN_FLIGHT", "4");
    check_refuses_config(BINARY, &env, "service.record_batch_in_flight");
}
