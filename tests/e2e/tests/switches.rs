//! Run-time switches through AdminService (issue #15): a switch set on one orchestrator
//! replica is obeyed by every replica, survives a restart, and is recorded with its author;
//! the per-user rate limit is shared by all replicas; bad input changes nothing.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use bm_api::{
    admin::{
        GetSwitchesRequest, ListSwitchChangesRequest, SetSwitchRequest, Switch,
        admin_service_client::AdminServiceClient,
    },
    raffle::{ArmoryActivityRequest, DrawRequest, RechargeSkuRequest, raffle_service_client::RaffleServiceClient},
};
use bm_e2e::{Cluster, start_raffle};
use bm_testkit::eventually;
use tonic::{Code, Status, transport::Channel};

const ACTIVITY: i64 = 100_301;

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

async fn draw(client: &RaffleServiceClient<Channel>, user: &str) -> Result<(), Status> {
    let request = DrawRequest { user_id: user.into(), activity_id: ACTIVITY, request_id: String::new() };
    client.clone().draw(request).await.map(drop)
}

async fn set(admin: &AdminServiceClient<Channel>, name: &str, value: &str) -> Result<Switch, Status> {
    let request = SetSwitchRequest { name: name.into(), value: value.into(), reason: format!("test sets {name}") };
    admin.clone().set_switch(request).await.map(|r| r.into_inner().current.unwrap())
}

async fn switches(admin: &AdminServiceClient<Channel>) -> Vec<Switch> {
    admin.clone().get_switches(GetSwitchesRequest {}).await.unwrap().into_inner().switches
}

#[tokio::test]
async fn a_switch_set_on_one_replica_is_obeyed_by_all_and_recorded() {
    let mut cluster = Cluster::start(&[]).await;
    let (raffle_b, client_b) = start_raffle(
        &cluster.strategy.process,
        &cluster.activity.process,
        &cluster.award.process,
        cluster.strategy.env(),
    )
    .await;
    let admin_a = AdminServiceClient::new(cluster.raffle.channel().await);
    let client_a = cluster.client.clone();
    client_a.clone().armory_activity(ArmoryActivityRequest { activity_id: ACTIVITY }).await.unwrap();
    for user in ["sw-1", "sw-2"] {
        let request = RechargeSkuRequest { user_id: user.into(), sku: 9011, out_business_no: user.into() };
        client_a.clone().recharge_sku(request).await.unwrap();
    }
    draw(&client_b, "sw-1").await.unwrap();

    // Degrade on A: A obeys at once (SetSwitch waits for it), B within the documented time.
    let degrade = set(&admin_a, "degrade", "true").await.unwrap();
    assert_eq!((degrade.value.as_str(), degrade.updated_by.as_str()), ("true", "anonymous"));
    assert_eq!(code(&draw(&client_a, "sw-1").await.unwrap_err()), (Code::Unavailable, Some("0004")));
    eventually("replica B is degraded", || async {
        draw(&client_b, "sw-1").await.err().is_some_and(|s| code(&s) == (Code::Unavailable, Some("0004")))
    })
    .await;

    // A restarted replica reads the switches before it serves: its first draw is refused.
    cluster.restart_raffle().await;
    let admin_a = AdminServiceClient::new(cluster.raffle.channel().await);
    let client_a = RaffleServiceClient::new(cluster.raffle.channel().await);
    assert_eq!(code(&draw(&client_a, "sw-1").await.unwrap_err()), (Code::Unavailable, Some("0004")));
    set(&admin_a, "degrade", "false").await.unwrap();
    eventually("replica B draws again", || async { draw(&client_b, "sw-1").await.is_ok() }).await;

    // The rate limit is one bucket per user across replicas: a burst of 2 is 2 draws in all.
    set(&admin_a, "rate_limit_burst", "2").await.unwrap();
    set(&admin_a, "rate_limit_per_second", "0.001").await.unwrap();
    eventually("replica B has the limit", || async {
        let listed = AdminServiceClient::new(raffle_b.channel().await);
        switches(&listed).await.iter().any(|s| s.name == "rate_limit_per_second" && s.value == "0.001")
    })
    .await;
    draw(&client_a, "sw-2").await.unwrap();
    draw(&client_b, "sw-2").await.unwrap();
    for client in [&client_a, &client_b] {
        assert_eq!(code(&draw(client, "sw-2").await.unwrap_err()), (Code::ResourceExhausted, Some("0005")));
    }
    // Another user has a bucket of its own.
    draw(&client_b, "sw-1").await.unwrap();
    // Repeated refusals block the user (the original's 24 h block), on every replica.
    set(&admin_a, "rate_limit_block_after", "1").await.unwrap();
    let blocked = draw(&client_a, "sw-2").await.unwrap_err();
    assert!(blocked.message().contains("blocked"), "{blocked:?}");
    assert_eq!(code(&blocked), (Code::ResourceExhausted, Some("0005")));
    set(&admin_a, "rate_limit_per_second", "0").await.unwrap();
    draw(&client_a, "sw-1").await.unwrap();

    // Every change is recorded, newest first, with who and why.
    let changes = admin_a
        .clone()
        .list_switch_changes(ListSwitchChangesRequest { name: String::new(), limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .changes;
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rate_limit_per_second",
            "rate_limit_block_after",
            "rate_limit_per_second",
            "rate_limit_burst",
            "degrade",
            "degrade"
        ]
    );
    assert!(changes.iter().all(|c| c.updated_by == "anonymous" && c.reason.starts_with("test sets")));
    assert!(changes.windows(2).all(|w| w[0].updated_at.unwrap().seconds >= w[1].updated_at.unwrap().seconds));
    let degrade_only = admin_a
        .clone()
        .list_switch_changes(ListSwitchChangesRequest { name: "degrade".into(), limit: 1 })
        .await
        .unwrap()
        .into_inner()
        .changes;
    assert_eq!(degrade_only.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(), ["false"]);
}

#[tokio::test]
async fn bad_switch_input_is_refused_and_changes_nothing() {
    let cluster = Cluster::start(&[]).await;
    let admin = AdminServiceClient::new(cluster.raffle.channel().await);
    let before = switches(&admin).await;
    assert_eq!(before.len(), 5);
    assert!(before.iter().all(|s| s.updated_by.is_empty() && s.updated_at.is_none() && !s.description.is_empty()));
    for (name, value, reason) in [
        ("degrad", "true", "typo"),
        ("degrade", "perhaps", "bad value"),
        ("rate_limit_per_second", "-1", "negative"),
        ("rate_limit_burst", "0", "zero burst"),
        ("rate_limit_block_seconds", "1e9", "not whole"),
        ("degrade", "true", ""),
        ("degrade", "true", "line\nbreak"),
    ] {
        let request = SetSwitchRequest { name: name.into(), value: value.into(), reason: reason.into() };
        let status = admin.clone().set_switch(request).await.unwrap_err();
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{name}={value} ({reason:?}): {status:?}");
    }
    let limit = ListSwitchChangesRequest { name: String::new(), limit: 501 };
    assert_eq!(code(&admin.clone().list_switch_changes(limit).await.unwrap_err()).0, Code::InvalidArgument);
    assert_eq!(switches(&admin).await, before, "nothing changed");
    let recorded = ListSwitchChangesRequest { name: String::new(), limit: 0 };
    assert!(admin.clone().list_switch_changes(recorded).await.unwrap().into_inner().changes.is_empty());
}
