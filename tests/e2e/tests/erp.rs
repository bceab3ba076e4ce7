//! The operators' view of a user (issue #15, the original's ERP query): AdminService
//! ListUserOrders shows the raffle orders next to the award records.

use bm_api::{
    activity::PartakeRequest,
    admin::{ListUserOrdersRequest, admin_service_client::AdminServiceClient},
    raffle::{ArmoryActivityRequest, DrawRequest, RechargeSkuRequest},
};
use bm_e2e::Cluster;
use bm_testkit::eventually;
use tonic::Code;

#[tokio::test]
async fn a_users_orders_and_awards_side_by_side() {
    let cluster = Cluster::start(&[]).await;
    let mut client = cluster.client.clone();
    client.armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
    let recharge = RechargeSkuRequest { user_id: "erp-user".into(), sku: 9011, out_business_no: "erp-1".into() };
    client.recharge_sku(recharge).await.unwrap();
    let mut drawn = Vec::new();
    for _ in 0..2 {
        let draw = DrawRequest { user_id: "erp-user".into(), activity_id: 100_301, request_id: String::new() };
        drawn.push(client.draw(draw).await.unwrap().into_inner().order_id);
    }
    // An order taken but not drawn (the draw broke off after Partake).
    let partake = PartakeRequest { user_id: "erp-user".into(), activity_id: 100_301, request_id: String::new() };
    let pending = cluster.activity_client().await.partake(partake).await.unwrap().into_inner().order_id;

    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    let request = || ListUserOrdersRequest { user_id: "erp-user".into(), activity_id: 100_301, limit: 0 };
    eventually("the awards are distributed", || async {
        let listed = admin.clone().list_user_orders(request()).await.unwrap().into_inner();
        listed.records.iter().all(|r| r.award_state == "completed") && listed.records.len() == 2
    })
    .await;
    let listed = admin.clone().list_user_orders(request()).await.unwrap().into_inner();
    let mut used: Vec<&str> =
        listed.orders.iter().filter(|o| o.order_state == "used").map(|o| o.order_id.as_str()).collect();
    used.sort_unstable();
    let mut expected: Vec<&str> = drawn.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(used, expected);
    let open: Vec<&str> =
        listed.orders.iter().filter(|o| o.order_state == "create").map(|o| o.order_id.as_str()).collect();
    assert_eq!(open, [pending.as_str()]);
    assert!(listed.orders.iter().all(|o| o.strategy_id == 100_006 && o.order_time.is_some()));
    let mut recorded: Vec<&str> = listed.records.iter().map(|r| r.order_id.as_str()).collect();
    recorded.sort_unstable();
    assert_eq!(recorded, expected, "one award per drawn order, none for the open one");

    // Another user, or another activity, shows nothing of this one.
    let other = ListUserOrdersRequest { user_id: "nobody".into(), activity_id: 100_301, limit: 0 };
    let empty = admin.clone().list_user_orders(other).await.unwrap().into_inner();
    assert!(empty.orders.is_empty() && empty.records.is_empty());

    for (user, activity, code) in [
        ("", 100_301, Code::InvalidArgument),
        ("erp-user", 0, Code::InvalidArgument),
        ("erp-user", 999_999, Code::NotFound),
    ] {
        let bad = ListUserOrdersRequest { user_id: user.into(), activity_id: activity, limit: 0 };
        assert_eq!(admin.clone().list_user_orders(bad).await.unwrap_err().code(), code, "{user:?} {activity}");
    }
    let bad = ListUserOrdersRequest { user_id: "erp-user".into(), activity_id: 100_301, limit: 5000 };
    assert_eq!(admin.clone().list_user_orders(bad).await.unwrap_err().code(), Code::InvalidArgument);
}
