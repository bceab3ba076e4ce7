//! The invariant checker (`bm-check`, issue #10) against a live cluster: it passes after a
//! burst of draws and catches a corrupted book.

use bm_api::raffle::{ArmoryActivityRequest, DrawRequest, ListUserAwardsRequest, RechargeSkuRequest};
use bm_e2e::Cluster;
use bm_invariants::{Report, Sources, check};
use bm_testkit::eventually;
use deadpool_redis::redis;

fn sources(cluster: &Cluster) -> Sources {
    cluster.invariant_sources(bm_testkit::redis_url(), 60)
}

fn failing(report: &Report) -> Vec<&'static str> {
    report.checks.iter().filter(|c| !c.violations.is_empty()).map(|c| c.name).collect()
}

#[tokio::test]
async fn invariants_hold_after_a_burst_and_a_corrupted_book_is_caught() {
    let cluster = Cluster::start(&[]).await;
    let mut client = cluster.client.clone();
    client.armory_activity(ArmoryActivityRequest { activity_id: 100_301 }).await.unwrap();
    let users: Vec<String> = (0..8).map(|n| format!("burst{n}")).chain(["user001".to_owned()]).collect();
    for user in &users {
        let request = RechargeSkuRequest { user_id: user.clone(), sku: 9013, out_business_no: format!("{user}-5") };
        client.recharge_sku(request).await.unwrap();
    }
    // 9 users × 7 draws at once (concurrent draws of one user may share an order).
    let draws = users.iter().flat_map(|user| (0..7).map(move |_| user.clone())).map(|user| {
        let mut client = cluster.client.clone();
        async move { client.draw(DrawRequest { user_id: user, activity_id: 100_301, request_id: String::new() }).await }
    });
    let results = futures_util::future::join_all(draws).await;
    assert!(results.iter().filter(|r| r.is_ok()).count() >= users.len());
    // Let every award be delivered and the stock sync run.
    eventually("every award delivered", || {
        let mut client = cluster.client.clone();
        let users = users.clone();
        async move {
            for user in users {
                let records = client
                    .list_user_awards(ListUserAwardsRequest { user_id: user, activity_id: 100_301 })
                    .await
                    .unwrap()
                    .into_inner()
                    .records;
                if records.is_empty() || records.iter().any(|r| r.award_state != "completed") {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let sources = sources(&cluster);
    eventually("the invariants hold (stock sync done)", || async { check(&sources).await.unwrap().holds() }).await;

    // Corrupt the books: one unit of quota appears from nowhere; a stock counter drifts.
    let activity = cluster.activity.infra.pool().await;
    sqlx::query(
        "UPDATE raffle_activity_account SET total_count_surplus = total_count_surplus + 1 WHERE user_id = 'burst0'",
    )
    .execute(&activity)
    .await
    .unwrap();
    let key = format!("{}strategy:{{100006}}:stock:101", cluster.strategy.infra.redis_prefix);
    redis::cmd("INCRBY")
        .arg(&key)
        .arg(5)
        .query_async::<i64>(&mut cluster.strategy.infra.redis().get().await.unwrap())
        .await
        .unwrap();
    let report = check(&sources).await.unwrap();
    assert!(!report.holds());
    let broken = failing(&report);
    assert!(broken.iter().any(|name| name.starts_with("quota")), "{}", report.render());
    assert!(broken.iter().any(|name| name.starts_with("award stock")), "{}", report.render());
}
