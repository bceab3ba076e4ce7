//! Black-box: the `raffle` binary starts, serves, and stops as every binary must.

use bm_testkit::{
    TestInfra,
    lifecycle::{check_refuses_config, check_serves_all_and_stops},
};

const BINARY: &str = env!("CARGO_BIN_EXE_raffle");

#[tokio::test]
async fn serves_contract_health_and_reflection_then_stops_on_sigterm() {
    let infra = TestInfra::new(None).await;
    check_serves_all_and_stops(
        BINARY,
        &["bigmarket.raffle.v1.RaffleService", "bigmarket.admin.v1.AdminService"],
        &infra.messaging_env(),
    )
    .await;
}

#[tokio::test]
async fn a_bad_switch_default_is_refused_naming_the_setting() {
    check_refuses_config(BINARY, &[("BM_SERVICE__RATE_LIMIT_BURST".into(), "0".into())], "service.rate_limit_burst");
}

#[tokio::test]
async fn malformed_port_is_refused_naming_the_setting() {
    check_refuses_config(BINARY, &[("BM_GRPC__PORT".into(), "99999".into())], "grpc.port");
}

#[tokio::test]
async fn malformed_downstream_url_is_refused_naming_the_setting() {
    check_refuses_config(
        BINARY,
        &[("BM_DOWNSTREAM__STRATEGY_URL".into(), "strategy:50051".into())],
        "downstream.strategy_url",
    );
}
