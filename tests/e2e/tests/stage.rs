//! The activity stage through the orchestrator (issue #15; spec §5 `raffle_activity_stage`,
//! §8 #1, #23, #24): an operator puts an activity on a channel and source with AdminService,
//! callers find it with RaffleService/GetStageActivity and can draw on it at once (the put
//! armories its sku stock and its strategy); a replacement expires the previous stage; bad
//! input is refused at the edge.

use bm_api::{
    admin::{
        ActivityStage, ListActivityStagesRequest, PutActivityOnStageRequest, PutActivityOnStageResponse,
        admin_service_client::AdminServiceClient,
    },
    raffle::{DrawRequest, GetStageActivityRequest, RechargeSkuRequest},
};
use bm_e2e::Cluster;
use tonic::{Code, Status, transport::Channel};

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

async fn put(
    admin: &AdminServiceClient<Channel>,
    channel: &str,
    source: &str,
    activity_id: i64,
) -> Result<PutActivityOnStageResponse, Status> {
    let request = PutActivityOnStageRequest { channel: channel.into(), source: source.into(), activity_id };
    admin.clone().put_activity_on_stage(request).await.map(tonic::Response::into_inner)
}

async fn list(admin: &AdminServiceClient<Channel>, state: &str, limit: u32) -> Result<Vec<ActivityStage>, Status> {
    let request = ListActivityStagesRequest { state: state.into(), limit };
    admin.clone().list_activity_stages(request).await.map(|r| r.into_inner().stages)
}

async fn on_stage(cluster: &Cluster, channel: &str, source: &str) -> Result<i64, Status> {
    let request = GetStageActivityRequest { channel: channel.into(), source: source.into() };
    cluster.client.clone().get_stage_activity(request).await.map(|r| r.into_inner().activity_id)
}

/// (channel, source, activity_id, state), newest first.
fn summary(stages: &[ActivityStage]) -> Vec<(&str, &str, i64, &str)> {
    stages.iter().map(|s| (s.channel.as_str(), s.source.as_str(), s.activity_id, s.state.as_str())).collect()
}

#[tokio::test]
async fn an_activity_put_on_stage_is_found_and_drawn_at_once_and_a_replacement_expires_it() {
    let cluster = Cluster::start(&[]).await;
    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    // The demo seed (spec §5): c01/s01 shows 100401.
    assert_eq!(on_stage(&cluster, "c01", "s01").await.unwrap(), 100_401);
    assert_eq!(summary(&list(&admin, "", 0).await.unwrap()), [("c01", "s01", 100_401, "active")]);

    // Nothing armoried 100301 in this cluster: the put does it (sku stock and strategy).
    let shown = put(&admin, "c02", "s01", 100_301).await.unwrap();
    assert_eq!((shown.changed, shown.replaced_activity_id, shown.strategy_id), (true, 0, 100_006));
    let stage = shown.stage.unwrap();
    assert_eq!((stage.channel.as_str(), stage.activity_id, stage.state.as_str()), ("c02", 100_301, "active"));
    assert!(stage.created_at.is_some() && stage.updated_at.is_some());
    let activity_id = on_stage(&cluster, "c02", "s01").await.unwrap();
    assert_eq!(activity_id, 100_301);
    let recharge = RechargeSkuRequest { user_id: "stage-1".into(), sku: 9011, out_business_no: "stage-1".into() };
    cluster.client.clone().recharge_sku(recharge).await.unwrap();
    let draw = DrawRequest { user_id: "stage-1".into(), activity_id, request_id: String::new() };
    let drawn = cluster.client.clone().draw(draw).await.unwrap().into_inner();
    assert!((101..=108).contains(&drawn.award_id), "{drawn:?}");

    // A repeat changes nothing.
    let again = put(&admin, "c02", "s01", 100_301).await.unwrap();
    assert_eq!((again.changed, again.replaced_activity_id), (false, 0));
    assert_eq!(again.stage.unwrap().id, stage.id);

    // 100401 ended on 2026-10-06 (spec §2): it cannot go on a stage, and c02/s01 keeps 100301.
    let ended = put(&admin, "c02", "s01", 100_401).await.unwrap_err();
    assert_eq!(code(&ended), (Code::FailedPrecondition, Some("ERR_BIZ_004")), "{ended:?}");
    assert_eq!(on_stage(&cluster, "c02", "s01").await.unwrap(), 100_301);

    // Replacing the seed's stage expires it; callers of c01/s01 now get 100301.
    let replaced = put(&admin, "c01", "s01", 100_301).await.unwrap();
    assert_eq!((replaced.changed, replaced.replaced_activity_id), (true, 100_401));
    assert_eq!(on_stage(&cluster, "c01", "s01").await.unwrap(), 100_301);
    assert_eq!(
        summary(&list(&admin, "", 0).await.unwrap()),
        [("c01", "s01", 100_301, "active"), ("c02", "s01", 100_301, "active"), ("c01", "s01", 100_401, "expire")]
    );
    assert_eq!(summary(&list(&admin, "expire", 0).await.unwrap()), [("c01", "s01", 100_401, "expire")]);
    assert_eq!(list(&admin, "active", 0).await.unwrap().len(), 2);
    assert_eq!(list(&admin, "", 1).await.unwrap().len(), 1);
    let draw = DrawRequest { user_id: "stage-1".into(), activity_id: 100_301, request_id: String::new() };
    cluster.client.clone().draw(draw).await.unwrap();
}

#[tokio::test]
async fn bad_stage_input_is_refused_at_the_edge_and_changes_nothing() {
    let cluster = Cluster::start(&[]).await;
    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    for (channel, source, activity_id, field) in [
        ("", "s01", 100_301, "channel"),
        ("c01234567", "s01", 100_301, "channel"),
        ("c/1", "s01", 100_301, "channel"),
        ("c01", "", 100_301, "source"),
        ("c01", "s 1", 100_301, "source"),
        ("c01", "渠道", 100_301, "source"),
        ("c01", "s01", 0, "activity_id"),
        ("c01", "s01", -100_301, "activity_id"),
    ] {
        let status = put(&admin, channel, source, activity_id).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{channel:?} {source:?} {activity_id}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    let unknown = put(&admin, "c01", "s01", 999_999).await.unwrap_err();
    assert_eq!(code(&unknown), (Code::NotFound, Some("BM_NOT_FOUND")));
    for (state, limit) in [("ACTIVE", 0), ("opened", 0), ("", 1001)] {
        let status = list(&admin, state, limit).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{state:?} {limit}");
    }
    for (channel, source) in [("", "s01"), ("c01", "s01\n"), ("c0123456789", "s01")] {
        let status = on_stage(&cluster, channel, source).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{channel:?} {source:?}");
    }
    let nothing = on_stage(&cluster, "c09", "s09").await.unwrap_err();
    assert_eq!(code(&nothing), (Code::NotFound, Some("BM_NOT_FOUND")));
    assert_eq!(summary(&list(&admin, "", 0).await.unwrap()), [("c01", "s01", 100_401, "active")], "nothing changed");
}
