//! Prometheus metrics (ARCHITECTURE.md §8.11): every service serves /metrics with per-RPC
//! counts by gRPC and big-market code, latency histograms and business figures.

use bm_api::raffle::{ArmoryActivityRequest, DrawRequest, RechargeSkuRequest};
use bm_e2e::Cluster;
use bm_testkit::eventually;

#[tokio::test]
async fn services_expose_rpc_and_business_metrics() {
    let cluster = Cluster::start(&[]).await;
    let mut client = cluster.client.clone();
    client.armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
    let recharge = RechargeSkuRequest { user_id: "metered".into(), sku: 9013, out_business_no: "m".into() };
    client.recharge_sku(recharge).await.unwrap();
    client
        .draw(DrawRequest { user_id: "metered".into(), activity_id: 100_301, request_id: String::new() })
        .await
        .unwrap();
    let refused =
        client.draw(DrawRequest { user_id: "nobody".into(), activity_id: 100_301, request_id: String::new() }).await;
    assert!(refused.is_err());

    let raffle = cluster.raffle.metrics().await;
    for expected in [
        r#"bm_grpc_requests_total{method="/bigmarket.raffle.v1.RaffleService/Draw",code="0",bm_code=""} 1"#,
        r#"bm_grpc_requests_total{method="/bigmarket.raffle.v1.RaffleService/Draw",code="9",bm_code="ERR_BIZ_006"} 1"#,
        r#"bm_grpc_request_duration_seconds_bucket{method="/bigmarket.raffle.v1.RaffleService/Draw","#,
    ] {
        assert!(raffle.contains(expected), "raffle /metrics lacks {expected}:\n{raffle}");
    }
    assert!(!raffle.contains("grpc.health"), "health and reflection calls are not counted");
    let strategy = cluster.strategy.process.metrics().await;
    assert!(strategy.contains(r#"bm_draws_total{strategy_id="100006""#), "{strategy}");
    let activity = cluster.activity.process.metrics().await;
    assert!(activity.contains(r#"bm_quota_rejections_total{quota="total"} 1"#), "{activity}");
    assert!(activity.contains(r#"bm_partakes_total{reused="false"} 1"#), "{activity}");
    // Pool gauges come with the health checks (every 3 s); stock gauges with the batch sync.
    eventually("pool and stock gauges", || async {
        let strategy = cluster.strategy.process.metrics().await;
        strategy.contains("bm_db_pool_connections") && strategy.contains("bm_award_stock_remaining")
    })
    .await;
}
