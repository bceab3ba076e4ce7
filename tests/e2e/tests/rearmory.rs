//! Cache invalidation after a data change (spec §14 bug 12, issue #15): AdminService
//! ArmoryActivity re-reads the activity and its strategy from the databases, and every
//! strategy-draw replica follows within its refresh interval — no restart, no manual Redis
//! clean-up.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use bm_api::{
    admin::{ArmoryActivityRequest as AdminArmory, admin_service_client::AdminServiceClient},
    raffle::{ArmoryActivityRequest, QueryAwardListRequest, raffle_service_client::RaffleServiceClient},
};
use bm_e2e::{Cluster, start_raffle};
use bm_testkit::eventually;
use tonic::{Code, transport::Channel};

async fn title_of_101(client: &RaffleServiceClient<Channel>) -> String {
    let request = QueryAwardListRequest { user_id: "cache-user".into(), activity_id: 100_301 };
    let awards = client.clone().query_award_list(request).await.unwrap().into_inner().awards;
    awards.into_iter().find(|a| a.award_id == 101).unwrap().award_title
}

#[tokio::test]
async fn a_re_armory_after_a_data_change_reaches_every_replica() {
    let cluster = Cluster::start(&[]).await;
    let strategy_b = cluster.strategy.replica().await;
    let (_raffle_b, client_b) =
        start_raffle(&strategy_b, &cluster.activity.process, &cluster.award.process, cluster.strategy.env()).await;
    let client_a = cluster.client.clone();
    client_a.clone().armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
    assert_eq!(title_of_101(&client_b).await, "随机积分", "replica B loads the armoried strategy");

    // An operator edits the award in the database: the armoried copies still show the old title.
    sqlx::query(
        "UPDATE strategy_award SET award_title = '随机积分 plus' WHERE strategy_id = 100006 AND award_id = 101",
    )
    .execute(&cluster.strategy.infra.pool().await)
    .await
    .unwrap();
    assert_eq!(title_of_101(&client_b).await, "随机积分");

    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    let armoried = admin.clone().armory_activity(AdminArmory { activity_id: 100_301 }).await.unwrap().into_inner();
    assert_eq!((armoried.activity_id, armoried.strategy_id), (100_301, 100_006));
    assert_eq!(title_of_101(&client_a).await, "随机积分 plus", "the replica that re-armoried, at once");
    eventually("replica B follows the re-armory", || async { title_of_101(&client_b).await == "随机积分 plus" }).await;

    for (id, code) in [(0, Code::InvalidArgument), (-5, Code::InvalidArgument), (999_999, Code::NotFound)] {
        let status = admin.clone().armory_activity(AdminArmory { activity_id: id }).await.unwrap_err();
        assert_eq!(status.code(), code, "{id}: {status:?}");
    }
}
