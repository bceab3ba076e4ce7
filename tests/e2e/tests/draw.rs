//! The draw flow across all four services (ARCHITECTURE.md §4, spec §17, seed ch.20).

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::HashSet;

use bm_api::{
    activity::{CompleteOrderRequest, PartakeRequest},
    award::RecordAwardRequest,
    raffle::{
        ArmoryActivityRequest, DrawRequest, DrawResponse, ListUserAwardsRequest, QueryAwardListRequest,
        QueryRuleWeightRequest, QueryUserActivityAccountRequest, QueryUserActivityAccountResponse,
        QueryUserCreditRequest, RechargeSkuRequest,
    },
    strategy::DrawRequest as StrategyDrawRequest,
};
use bm_e2e::Cluster;
use bm_testkit::eventually;
use tonic::{Code, Status};

const ACTIVITY: i64 = 100_301;

fn code(status: &Status) -> (Code, Option<&'static str>) {
    (status.code(), bm_status::code_of(status).map(bm_status::ErrorCode::as_str))
}

async fn ready(cluster: &Cluster) {
    cluster.client.clone().armory_activity(ArmoryActivityRequest { activity_id: ACTIVITY }).await.unwrap();
}

async fn recharge(cluster: &Cluster, user: &str, sku: i64, key: &str) {
    let request = RechargeSkuRequest { user_id: user.into(), sku, out_business_no: key.into() };
    cluster.client.clone().recharge_sku(request).await.unwrap();
}

async fn draw(cluster: &Cluster, user: &str, request_id: &str) -> Result<DrawResponse, Status> {
    let request = DrawRequest { user_id: user.into(), activity_id: ACTIVITY, request_id: request_id.into() };
    cluster.client.clone().draw(request).await.map(tonic::Response::into_inner)
}

async fn account(cluster: &Cluster, user: &str) -> QueryUserActivityAccountResponse {
    let request = QueryUserActivityAccountRequest { user_id: user.into(), activity_id: ACTIVITY };
    cluster.client.clone().query_user_activity_account(request).await.unwrap().into_inner()
}

async fn records(cluster: &Cluster, user: &str) -> Vec<bm_api::raffle::UserAwardRecord> {
    let request = ListUserAwardsRequest { user_id: user.into(), activity_id: ACTIVITY };
    cluster.client.clone().list_user_awards(request).await.unwrap().into_inner().records
}

async fn credit(cluster: &Cluster, user: &str) -> f64 {
    let request = QueryUserCreditRequest { user_id: user.into() };
    cluster.client.clone().query_user_credit(request).await.unwrap().into_inner().available_amount.parse().unwrap()
}

#[tokio::test]
async fn scenarios_1_to_3_armory_recharge_draw_and_award_delivery() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    recharge(&cluster, "xiaofuge", 9011, "xiaofuge_sku_20240503").await;
    let drawn = draw(&cluster, "xiaofuge", "").await.unwrap();
    assert!((101..=108).contains(&drawn.award_id), "{drawn:?}");
    assert_eq!(drawn.award_index, drawn.award_id - 100, "award_index is the award's sort");
    let quota = account(&cluster, "xiaofuge").await;
    assert_eq!(
        (quota.total_count_surplus, quota.month_count_surplus, quota.day_count_surplus),
        (149, 149, 149),
        "total, month and day deducted once"
    );
    let list = records(&cluster, "xiaofuge").await;
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].order_id.as_str(), list[0].award_id), (drawn.order_id.as_str(), drawn.award_id));
    // Every award is delivered: credit lands for 101, others end completed through the
    // external delivery step.
    eventually("the award is completed", || async {
        records(&cluster, "xiaofuge").await[0].award_state == "completed"
    })
    .await;
    if drawn.award_id == 101 {
        let amount = credit(&cluster, "xiaofuge").await;
        assert!((1.0..=100.0).contains(&amount), "{amount}");
    }
    // The award list shows today's unlocks after one draw.
    let awards = cluster
        .client
        .clone()
        .query_award_list(QueryAwardListRequest { user_id: "xiaofuge".into(), activity_id: ACTIVITY })
        .await
        .unwrap()
        .into_inner()
        .awards;
    let by_id = |id: i32| awards.iter().find(|a| a.award_id == id).unwrap();
    assert_eq!(
        (by_id(107).is_award_unlock, by_id(106).is_award_unlock, by_id(106).wait_unlock_count),
        (true, false, 1)
    );
    let weights = cluster
        .client
        .clone()
        .query_rule_weight(QueryRuleWeightRequest { user_id: "xiaofuge".into(), activity_id: ACTIVITY })
        .await
        .unwrap()
        .into_inner()
        .weights;
    assert_eq!(weights.iter().map(|w| w.rule_weight_count).collect::<Vec<_>>(), vec![10, 70, 1000]);
    assert!(weights.iter().all(|w| w.user_activity_account_total_use_count == 1));
}

#[tokio::test]
async fn scenario_4_a_blacklisted_user_gets_a_small_credit() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    recharge(&cluster, "user001", 9013, "bl").await;
    let drawn = draw(&cluster, "user001", "").await.unwrap();
    assert_eq!(drawn.award_id, 101);
    eventually("the credit lands", || async { credit(&cluster, "user001").await > 0.0 }).await;
    let amount = credit(&cluster, "user001").await;
    assert!((0.01..=1.0).contains(&amount), "{amount}");
}

#[tokio::test]
async fn scenario_5_the_tenth_draw_comes_from_the_first_weight_tier() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    recharge(&cluster, "tenth", 9012, "w").await; // 50 draws
    for n in 1..=10 {
        let drawn = draw(&cluster, "tenth", "").await.unwrap();
        if n == 10 {
            assert!([102, 103].contains(&drawn.award_id), "the 10th draw: {drawn:?}");
        }
    }
}

#[tokio::test]
async fn quota_codes_pass_through_and_bad_input_is_refused() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    assert_eq!(code(&draw(&cluster, "nobody", "").await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_006")));
    recharge(&cluster, "once", 9014, "one").await; // 1 draw
    draw(&cluster, "once", "").await.unwrap();
    assert_eq!(code(&draw(&cluster, "once", "").await.unwrap_err()), (Code::FailedPrecondition, Some("ERR_BIZ_006")));
    let repeat = cluster
        .client
        .clone()
        .recharge_sku(RechargeSkuRequest { user_id: "once".into(), sku: 9014, out_business_no: "one".into() })
        .await
        .unwrap_err();
    assert_eq!(code(&repeat), (Code::AlreadyExists, Some("0003")));
    for status in [
        draw(&cluster, "", "").await.unwrap_err(),
        draw(&cluster, &"x".repeat(65), "").await.unwrap_err(),
        draw(&cluster, "u", &"r".repeat(65)).await.unwrap_err(),
        cluster
            .client
            .clone()
            .draw(DrawRequest { user_id: "u".into(), activity_id: 0, request_id: String::new() })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(code(&status), (Code::InvalidArgument, Some("0002")), "{status:?}");
    }
    let unknown =
        cluster.client.clone().armory_activity(ArmoryActivityRequest { activity_id: 424_242 }).await.unwrap_err();
    assert_eq!(code(&unknown), (Code::NotFound, Some("BM_NOT_FOUND")));
}

#[tokio::test]
async fn fifty_concurrent_drawers_with_quota_thirty_get_exactly_thirty_awards() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    for n in 0..6 {
        recharge(&cluster, "crowd", 9013, &format!("five-{n}")).await; // 6 × 5 = 30 draws
    }
    // Callers draw until the quota is gone; concurrent callers may share an unused order
    // (ARCHITECTURE.md §8.4), so count distinct orders and records, not responses.
    let caller = || async {
        let mut orders = Vec::new();
        loop {
            match draw(&cluster, "crowd", "").await {
                Ok(drawn) => orders.push(drawn.order_id),
                Err(status) => {
                    assert_eq!(code(&status), (Code::FailedPrecondition, Some("ERR_BIZ_006")), "{status:?}");
                    return orders;
                }
            }
        }
    };
    let orders: HashSet<String> =
        futures_util::future::join_all((0..50).map(|_| caller())).await.into_iter().flatten().collect();
    assert_eq!(orders.len(), 30);
    let list = records(&cluster, "crowd").await;
    assert_eq!(list.len(), 30, "one record per order");
    assert_eq!(list.iter().map(|r| r.order_id.clone()).collect::<HashSet<_>>(), orders);
    assert_eq!(account(&cluster, "crowd").await.total_count_surplus, 0);
}

#[tokio::test]
async fn a_retry_after_a_crash_between_steps_converges_to_one_award() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    recharge(&cluster, "crash", 9013, "c").await; // 5 draws
    // The orchestrator "crashed" after Partake and strategy Draw, and again after RecordAward.
    let order = cluster
        .activity_client()
        .await
        .partake(PartakeRequest { user_id: "crash".into(), activity_id: ACTIVITY, request_id: String::new() })
        .await
        .unwrap()
        .into_inner();
    let first = cluster
        .strategy_client()
        .await
        .draw(StrategyDrawRequest {
            user_id: "crash".into(),
            strategy_id: order.strategy_id,
            order_id: order.order_id.clone(),
            user_total_partake_count: order.total_partake_count,
            user_day_partake_count: order.day_partake_count,
            first_attempt: true,
        })
        .await
        .unwrap()
        .into_inner();
    let retried = draw(&cluster, "crash", "").await.unwrap();
    assert_eq!((retried.order_id.as_str(), retried.award_id), (order.order_id.as_str(), first.award_id));
    assert_eq!(account(&cluster, "crash").await.total_count_surplus, 4, "one unit of quota");

    let second = cluster
        .activity_client()
        .await
        .partake(PartakeRequest { user_id: "crash".into(), activity_id: ACTIVITY, request_id: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert!(!second.reused, "a used order is never handed out again");
    let drawn = cluster
        .strategy_client()
        .await
        .draw(StrategyDrawRequest {
            user_id: "crash".into(),
            strategy_id: second.strategy_id,
            order_id: second.order_id.clone(),
            user_total_partake_count: second.total_partake_count,
            user_day_partake_count: second.day_partake_count,
            first_attempt: true,
        })
        .await
        .unwrap()
        .into_inner();
    cluster
        .award_client()
        .await
        .record_award(RecordAwardRequest {
            user_id: "crash".into(),
            activity_id: ACTIVITY,
            strategy_id: second.strategy_id,
            order_id: second.order_id.clone(),
            award_id: drawn.award_id,
            award_key: drawn.award_key.clone(),
            award_title: drawn.award_title.clone(),
            award_config: drawn.award_config.clone(),
        })
        .await
        .unwrap();
    let retried = draw(&cluster, "crash", "").await.unwrap();
    assert_eq!((retried.order_id.as_str(), retried.award_id), (second.order_id.as_str(), drawn.award_id));
    assert_eq!(records(&cluster, "crash").await.len(), 2, "no second record for a replayed order");
    // CompleteOrder already ran for both: a further complete changes nothing.
    let changed = cluster
        .activity_client()
        .await
        .complete_order(CompleteOrderRequest { user_id: "crash".into(), order_id: second.order_id })
        .await
        .unwrap()
        .into_inner()
        .changed;
    assert!(!changed);
}

#[tokio::test]
async fn a_request_id_retry_returns_the_same_order_and_award() {
    let cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    recharge(&cluster, "retry", 9013, "r").await;
    let first = draw(&cluster, "retry", "req-42").await.unwrap();
    let again = draw(&cluster, "retry", "req-42").await.unwrap();
    assert_eq!(first, again);
    assert_eq!(account(&cluster, "retry").await.total_count_surplus, 4);
    assert_eq!(records(&cluster, "retry").await.len(), 1);
    let other = draw(&cluster, "retry", "req-43").await.unwrap();
    assert_ne!(other.order_id, first.order_id);
}

#[tokio::test]
async fn a_stopped_downstream_is_unavailable_and_everything_recovers_when_it_returns() {
    let mut cluster = Cluster::start(&[]).await;
    ready(&cluster).await;
    recharge(&cluster, "outage", 9013, "o").await;
    cluster.strategy.kill();
    let down = draw(&cluster, "outage", "").await.unwrap_err();
    assert_eq!(code(&down), (Code::Unavailable, Some("BM_UNAVAILABLE")));
    assert!(down.message().contains("strategy-draw"), "{}", down.message());
    cluster.strategy.restart().await;
    // The order created before the outage is reused: one unit of quota for one award.
    let drawn = draw(&cluster, "outage", "").await.unwrap();
    assert_eq!(account(&cluster, "outage").await.total_count_surplus, 4);
    assert_eq!(records(&cluster, "outage").await[0].order_id, drawn.order_id);
}
