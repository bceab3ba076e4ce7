//! Replica safety (issue #13): several instances of a service on the same database, Redis
//! key prefix and NATS prefixes at once, as Kubernetes runs them (replicas: 2+). What makes
//! each background worker safe, and what these tests show:
//!
//! - award's **outbox relay** claims due tasks with `UPDATE … FROM (SELECT … FOR UPDATE SKIP
//!   LOCKED)` and a lease (`next_attempt_at`), so two relays never take the same task at the
//!   same time, and a dead relay's tasks come back when the lease ends; a publish carries
//!   `Nats-Msg-Id = task id`, so a task published twice is stored once by JetStream.
//! - award's **send_award distributor** and the **stock-zero consumers** of strategy and
//!   activity are durable JetStream pull consumers shared *by name*: the replicas pull from
//!   one consumer, each message goes to one of them at a time and is redelivered only if not
//!   acknowledged; the handlers are idempotent (the credit ledger is unique per order).
//! - the **stock sync** of strategy and activity copies the Redis counter into the
//!   database's surplus column only when it is lower (`only downwards`); two replicas writing
//!   the same counter converge to the same value, and a stale one never raises it.
//! - the **armory** is shared through Redis: a replica that did not armory a strategy loads
//!   it from there on its first draw.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use bm_api::{
    award::{RecordAwardRequest, award_service_client::AwardServiceClient},
    raffle::{ArmoryActivityRequest, DrawRequest, RechargeSkuRequest, raffle_service_client::RaffleServiceClient},
};
use bm_e2e::{Cluster, Node, start_raffle};
use bm_testkit::NatsServer;
use futures_util::StreamExt;
use tonic::transport::Channel;
use tonic_health_shim::serving;

const ACTIVITY: i64 = 100_301;
const STRATEGY: i64 = 100_006;
/// Users of the whole-system test, and draws per user.
const USERS: usize = 12;
const DRAWS: usize = 3;

/// Health through the testkit (the e2e crate has no tonic-health dependency of its own).
mod tonic_health_shim {
    pub async fn serving(process: &bm_testkit::ServiceProcess) -> bool {
        process.health().await.is_some_and(|s| format!("{s:?}") == "Serving")
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // A bound for background work to happen at all, not a performance assertion.
    let started = Instant::now();
    while started.elapsed() < Duration::from_mins(1) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen within 60 s");
}

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await.unwrap().0
}

fn credit(n: usize) -> RecordAwardRequest {
    RecordAwardRequest {
        user_id: format!("replica-user-{}", n % 20),
        activity_id: ACTIVITY,
        strategy_id: STRATEGY,
        order_id: format!("replica-order-{n:04}"),
        award_id: 101,
        award_key: "user_credit_random".into(),
        award_title: "随机积分".into(),
        award_config: "1,100".into(),
    }
}

/// RecordAward for `orders`, alternately through each instance, 16 calls in flight.
async fn record_burst(clients: &[AwardServiceClient<Channel>; 2], orders: std::ops::Range<usize>) {
    let results: Vec<_> = futures_util::stream::iter(orders)
        .map(|n| {
            let mut client = clients[n % 2].clone();
            async move { client.record_award(credit(n)).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for result in results {
        assert!(!result.unwrap().into_inner().duplicate, "every order is recorded once");
    }
}

#[tokio::test]
async fn two_award_replicas_relay_and_deliver_every_award_exactly_once() {
    let mut nats = NatsServer::start().await;
    let nats_url = nats.url();
    let node = Node::start_service(
        "award",
        &[
            ("BM_NATS__URL", nats_url.as_str()),
            ("BM_SERVICE__RELAY_INTERVAL_MS", "100"),
            ("BM_SERVICE__RELAY_AFTER_MS", "300"),
            ("BM_SERVICE__RELAY_BATCH_SIZE", "10"),
            ("BM_SERVICE__RETRY_BASE_MS", "200"),
            ("BM_SERVICE__RETRY_MAX_MS", "1000"),
            ("BM_SERVICE__PUBLISH_TIMEOUT_MS", "500"),
            ("BM_SERVICE__RELAY_LEASE_MS", "5000"),
        ],
    )
    .await;
    let second = node.replica().await;
    let clients =
        [AwardServiceClient::new(node.process.channel().await), AwardServiceClient::new(second.channel().await)];
    let pool = node.infra.pool().await;

    // NATS up: each RecordAward publishes after its commit; the two distributors share the
    // durable consumer.
    record_burst(&clients, 0..100).await;
    // NATS down: 100 more are recorded, their publishes fail, the tasks wait for a relay.
    nats.stop();
    record_burst(&clients, 100..200).await;
    let waiting = count(&pool, "SELECT count(*) FROM outbox_task WHERE state <> 'completed'").await;
    assert!(waiting >= 50, "most tasks of the outage wait for the relays: {waiting}");
    // NATS back: both relays claim the waiting tasks side by side (SKIP LOCKED, batches of 10).
    nats.resume().await;

    eventually("all 200 awards completed", || async {
        count(&pool, "SELECT count(*) FROM user_award_record WHERE award_state = 'completed'").await == 200
    })
    .await;
    eventually("all 200 outbox tasks completed", || async {
        count(&pool, "SELECT count(*) FROM outbox_task WHERE state = 'completed'").await == 200
    })
    .await;
    assert_eq!(count(&pool, "SELECT count(*) FROM user_award_record").await, 200);
    assert_eq!(count(&pool, "SELECT count(*) FROM user_credit_order").await, 200, "one ledger row per award");
    assert_eq!(
        count(&pool, "SELECT count(DISTINCT order_id) FROM user_credit_order").await,
        200,
        "no order credited twice"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM user_credit_account a WHERE a.total_amount <> \
             (SELECT sum(trade_amount) FROM user_credit_order o WHERE o.user_id = a.user_id)"
        )
        .await,
        0,
        "every account equals the sum of its ledger"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM user_credit_account").await, 20);
    eventually("both replicas SERVING", || async { serving(&node.process).await && serving(&second).await }).await;
}

async fn draw(client: &RaffleServiceClient<Channel>, user: usize, attempt: usize) -> String {
    let request = DrawRequest {
        user_id: format!("rep-{user}"),
        activity_id: ACTIVITY,
        request_id: format!("rep-{user}-{attempt}"),
    };
    client.clone().draw(request).await.unwrap().into_inner().order_id
}

#[tokio::test]
async fn two_replicas_of_every_service_draw_without_overselling_and_sync_stock_to_one_value() {
    let cluster = Cluster::start(&[]).await;
    let (strategy_b, activity_b, award_b) =
        tokio::join!(cluster.strategy.replica(), cluster.activity.replica(), cluster.award.replica());
    let (_raffle_b, client_b) = start_raffle(&strategy_b, &activity_b, &award_b, cluster.strategy.env()).await;
    let clients = [cluster.client.clone(), client_b];

    // Armory through instance A only: the B replicas find the activity and the strategy in Redis.
    clients[0].clone().armory_activity(ArmoryActivityRequest { activity_id: ACTIVITY }).await.unwrap();

    let recharges: Vec<_> = futures_util::future::join_all((0..USERS).map(|u| {
        let mut client = clients[u % 2].clone();
        async move {
            let request =
                RechargeSkuRequest { user_id: format!("rep-{u}"), sku: 9011, out_business_no: format!("rep-{u}") };
            client.recharge_sku(request).await
        }
    }))
    .await;
    for recharge in recharges {
        recharge.unwrap();
    }
    // Every user draws DRAWS times, alternately through A and B, everything at once.
    let orders: Vec<String> = futures_util::stream::iter((0..USERS).flat_map(|u| (0..DRAWS).map(move |k| (u, k))))
        .map(|(u, k)| {
            let client = clients[(u + k) % 2].clone();
            async move { draw(&client, u, k).await }
        })
        .buffer_unordered(12)
        .collect()
        .await;
    let distinct: HashSet<&String> = orders.iter().collect();
    let orders_drawn = i64::try_from(distinct.len()).unwrap();
    assert!(orders_drawn >= i64::try_from(USERS).unwrap(), "{orders_drawn} orders");

    let strategy = cluster.strategy.infra.pool().await;
    let activity = cluster.activity.infra.pool().await;
    let award = cluster.award.infra.pool().await;

    // One draw result, one award record and one used raffle order per order, whichever
    // replicas handled it.
    assert_eq!(count(&strategy, "SELECT count(*) FROM strategy_draw_result").await, orders_drawn);
    assert_eq!(count(&activity, "SELECT count(*) FROM user_raffle_order").await, orders_drawn);
    eventually("every award record delivered", || async {
        count(&award, "SELECT count(*) FROM user_award_record WHERE award_state = 'completed'").await == orders_drawn
    })
    .await;
    assert_eq!(count(&award, "SELECT count(*) FROM user_award_record").await, orders_drawn);
    assert_eq!(
        count(&award, "SELECT count(*) FROM user_credit_order").await,
        count(&award, "SELECT count(*) FROM user_award_record WHERE award_key = 'user_credit_random'").await,
        "one ledger row per credit award"
    );
    // Quota: what each account spent is exactly its raffle orders.
    assert_eq!(
        count(
            &activity,
            "SELECT count(*) FROM raffle_activity_account a WHERE a.total_count - a.total_count_surplus <> \
             (SELECT count(*) FROM user_raffle_order o WHERE o.user_id = a.user_id AND o.activity_id = a.activity_id)"
        )
        .await,
        0
    );
    // Stock: both replicas' syncs settle the database on the counters' one value,
    // opening stock minus the units recorded, for every award and the sku.
    eventually("award stock synced by the two strategy replicas", || async {
        count(
            &strategy,
            "SELECT count(*) FROM strategy_award s WHERE s.strategy_id = 100006 AND s.award_count_surplus <> \
             s.stock_opening - (SELECT count(*) FROM strategy_draw_result r \
                                WHERE r.strategy_id = s.strategy_id AND r.stock_award_id = s.award_id)",
        )
        .await
            == 0
    })
    .await;
    eventually("sku stock synced by the two activity replicas", || async {
        count(
            &activity,
            "SELECT count(*) FROM raffle_activity_sku s WHERE s.sku = 9011 AND s.stock_count_surplus <> \
             s.stock_opening - (SELECT count(*) FROM raffle_activity_order o WHERE o.sku = s.sku)",
        )
        .await
            == 0
    })
    .await;
    assert!(
        count(&strategy, "SELECT count(*) FROM strategy_draw_result WHERE stock_award_id IS NOT NULL").await > 0,
        "some draws consumed award stock, so the stock check above is not vacuous"
    );
    for process in [&strategy_b, &activity_b, &award_b] {
        eventually(&format!("the replica on port {} SERVING", process.port), || serving(process)).await;
    }
}
