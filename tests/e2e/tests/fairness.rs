//! Verifiable draws through the orchestrator (issue #16): receipts of the user's draws, the
//! commitment while the activity runs, the seed revealed once it has ended, and every
//! receipt checked by the verifier.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::Duration;

use bm_api::raffle::{
    ArmoryActivityRequest, DrawRequest, GetDrawReceiptRequest, GetDrawReceiptResponse, GetFairnessRequest,
    GetFairnessResponse, RechargeSkuRequest,
};
use bm_e2e::Cluster;
use bm_strategy::fairness::{Receipt, RevealedEpoch, Seed, StockOutcome, verify};
use tonic::Code;

/// An activity on demo strategy 100001 that ends a few seconds after the test starts.
const ACTIVITY: i64 = 900_100;
const SKU: i64 = 990_100;
const ENDS_IN: Duration = Duration::from_secs(8);

async fn fairness(cluster: &Cluster) -> GetFairnessResponse {
    cluster.client.clone().get_fairness(GetFairnessRequest { activity_id: ACTIVITY }).await.unwrap().into_inner()
}

async fn receipt(cluster: &Cluster, user: &str, order: &str) -> Result<GetDrawReceiptResponse, tonic::Status> {
    let request = GetDrawReceiptRequest { user_id: user.into(), activity_id: ACTIVITY, order_id: order.into() };
    cluster.client.clone().get_draw_receipt(request).await.map(tonic::Response::into_inner)
}

fn to_receipt(pb: &GetDrawReceiptResponse) -> Receipt {
    Receipt {
        strategy_id: pb.strategy_id,
        order_id: pb.order_id.clone(),
        user_id: pb.user_id.clone(),
        epoch: pb.epoch,
        total_partake_count: pb.user_total_partake_count,
        day_partake_count: pb.user_day_partake_count,
        chain_model: pb.chain_model.clone(),
        chain_award_id: pb.chain_award_id,
        stock_outcome: StockOutcome::parse(&pb.stock_outcome).unwrap(),
        award_id: pb.award_id,
        award_config: pb.award_config.clone(),
        rule_model: pb.rule_model.clone(),
    }
}

#[tokio::test]
async fn receipts_verify_once_the_ended_activity_reveals_its_seed() {
    let cluster = Cluster::start(&[]).await;
    let ends = std::time::Instant::now() + ENDS_IN;
    let sql = format!(
        "INSERT INTO raffle_activity (activity_id, activity_name, begin_date_time, end_date_time, strategy_id, state)
             VALUES ({ACTIVITY}, 'short', now() - interval '1 day', now() + interval '{} seconds', 100001, 'open');
         INSERT INTO raffle_activity_sku (sku, activity_id, activity_count_id, stock_count, stock_count_surplus, stock_opening)
             VALUES ({SKU}, {ACTIVITY}, 11102, 100, 100, 100);",
        ENDS_IN.as_secs()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&cluster.activity.infra.pool().await).await.unwrap();
    let mut client = cluster.client.clone();
    client.armory_activity(ArmoryActivityRequest { activity_id: ACTIVITY }).await.unwrap();
    for user in ["fair-a", "fair-b"] {
        let request = RechargeSkuRequest { user_id: user.into(), sku: SKU, out_business_no: format!("{user}-1") };
        client.recharge_sku(request).await.unwrap();
    }
    let mut drawn = Vec::new();
    for i in 0..6 {
        let user = if i % 2 == 0 { "fair-a" } else { "fair-b" };
        let request = DrawRequest { user_id: user.into(), activity_id: ACTIVITY, request_id: String::new() };
        let response = client.draw(request).await.unwrap().into_inner();
        drawn.push((user, response.order_id, response.award_id));
    }

    // While the activity runs: a commitment, no seed.
    let running = fairness(&cluster).await;
    assert_eq!(running.strategy_id, 100_001);
    let active = running.epochs.last().unwrap();
    assert_eq!((active.state.as_str(), active.seed.as_str()), ("active", ""));
    assert_eq!(active.commitment.len(), 64);

    // Receipts: the user's own draws only.
    let mut receipts = Vec::new();
    for (user, order, award) in &drawn {
        let pb = receipt(&cluster, user, order).await.unwrap();
        assert_eq!((pb.award_id, pb.epoch, pb.user_id.as_str()), (*award, active.epoch, *user));
        receipts.push(pb);
    }
    let other = receipt(&cluster, "fair-b", &drawn[0].1).await.unwrap_err();
    assert_eq!(other.code(), Code::NotFound, "another user's order");
    assert_eq!(receipt(&cluster, "fair-a", "").await.unwrap_err().code(), Code::InvalidArgument);

    // Once the activity has ended, GetFairness retires the epoch: its seed shows.
    tokio::time::sleep_until((ends + Duration::from_secs(1)).into()).await;
    let ended = fairness(&cluster).await;
    let revealed = ended.epochs.iter().find(|e| e.epoch == active.epoch).unwrap();
    assert_eq!(revealed.state, "revealed");
    assert_eq!(revealed.commitment, active.commitment, "the commitment never changes");
    let seed = Seed::from_hex(&revealed.seed).unwrap();
    assert_eq!(seed.commitment(), revealed.commitment);
    assert!(ended.epochs.iter().all(|e| e.state == "revealed"), "no new epoch after the end");
    let epoch = RevealedEpoch {
        epoch: revealed.epoch,
        seed: &seed,
        commitment: &revealed.commitment,
        sheet: &revealed.sheet,
        sheet_sha256: &revealed.sheet_sha256,
    };
    for pb in &receipts {
        verify(&epoch, &to_receipt(pb)).unwrap_or_else(|e| panic!("{pb:?}: {e}"));
    }
    let mut forged = to_receipt(&receipts[0]);
    forged.day_partake_count += 10;
    forged.chain_award_id = if forged.chain_award_id == 101 { 102 } else { 101 };
    assert!(verify(&epoch, &forged).is_err());
}
