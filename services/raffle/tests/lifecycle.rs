//! Black-box: the `raffle` binary starts, serves, and stops as every binary must.

use bm_testkit::lifecycle::{check_refuses_config, check_serves_and_stops};

const BINARY: &str = env!("CARGO_BIN_EXE_raffle");

fn env() -> Vec<(String, String)> {
    vec![("BM_SHUTDOWN__DRAIN_DELAY_MS".into(), "100".into())]
}

#[tokio::test]
async fn serves_contract_health_and_reflection_then_stops_on_sigterm() {
    check_serves_and_stops(BINARY, "bigmarket.raffle.v1.RaffleService", &env()).await;
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
