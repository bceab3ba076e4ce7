//! What a caller reads before drawing (issue #15's RaffleService additions): the activity's
//! details with the commitment of its active seed epoch (issue #16), and its skus.

use bm_api::raffle::{
    ArmoryActivityRequest, GetActivityRequest, GetFairnessRequest, ListSkusRequest, RechargeSkuRequest,
};
use bm_e2e::Cluster;
use bm_testkit::eventually;
use tonic::Code;

#[tokio::test]
async fn activity_details_carry_the_commitment_and_skus_their_quota_and_stock() {
    let cluster = Cluster::start(&[]).await;
    let mut client = cluster.client.clone();
    client.armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();

    let activity = client.get_activity(GetActivityRequest { activity_id: 100_301 }).await.unwrap().into_inner();
    assert_eq!(
        (activity.activity_name.as_str(), activity.strategy_id, activity.state.as_str()),
        ("测试活动", 100_006, "open")
    );
    assert!(activity.begin_time.unwrap().seconds < activity.end_time.unwrap().seconds);
    let fairness = client.get_fairness(GetFairnessRequest { activity_id: 100_301 }).await.unwrap().into_inner();
    let active = fairness.epochs.iter().find(|e| e.state == "active").unwrap();
    assert_eq!((activity.epoch, activity.commitment.as_str()), (active.epoch, active.commitment.as_str()));
    assert_eq!(activity.commitment.len(), 64);

    let skus = client.list_skus(ListSkusRequest { activity_id: 100_301 }).await.unwrap().into_inner().skus;
    let ids: Vec<i64> = skus.iter().map(|s| s.sku).collect();
    assert_eq!(ids, [9011, 9012, 9013, 9014]);
    let first = &skus[0];
    assert_eq!((first.total_count, first.month_count, first.day_count), (150, 150, 150));
    assert_eq!((first.product_amount.as_str(), first.stock_count, first.stock_left), ("200.00", 100_000, 99_887));

    // A recharge takes a unit; the listing follows within the batch sync.
    let recharge = RechargeSkuRequest { user_id: "cat".into(), sku: 9011, out_business_no: "cat-1".into() };
    client.recharge_sku(recharge).await.unwrap();
    eventually("the stock left follows the recharge", || {
        let mut client = cluster.client.clone();
        async move {
            let skus = client.list_skus(ListSkusRequest { activity_id: 100_301 }).await.unwrap().into_inner().skus;
            skus[0].stock_left == 99_886
        }
    })
    .await;

    let unknown = client.get_activity(GetActivityRequest { activity_id: 999_999 }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    for bad in [
        client.get_activity(GetActivityRequest { activity_id: 0 }).await.unwrap_err(),
        client.list_skus(ListSkusRequest { activity_id: -1 }).await.unwrap_err(),
    ] {
        assert_eq!(
            (bad.code(), bm_status::code_of(&bad).map(bm_status::ErrorCode::as_str)),
            (Code::InvalidArgument, Some("0002"))
        );
    }
}
