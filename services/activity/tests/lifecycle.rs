//! Black-box: the `activity` binary starts, serves, and stops as every binary must.

use bm_testkit::{
    TestInfra,
    lifecycle::{check_refuses_config, check_serves_all_and_stops, with_env},
};

const BINARY: &str = env!("CARGO_BIN_EXE_activity");

#[tokio::test]
async fn serves_contract_health_and_reflection_then_stops_on_sigterm() {
    let infra = TestInfra::new(None).await;
    check_serves_all_and_stops(
        BINARY,
        &["bigmarket.activity.v1.ActivityService", "bigmarket.ops.v1.OpsService"],
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
async fn an_outbox_lease_shorter_than_a_publish_is_refused_naming_the_setting() {
    let infra = TestInfra::new(None).await;
    let env = with_env(&infra.service_env(), "BM_SERVICE__OUTBOX__RELAY_LEASE_MS", "1000");
    check_refuses_config(BINARY, &env, "service.outbox.relay_lease_ms");
}
